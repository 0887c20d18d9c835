"""Asset uploads, once for the REST routes and the dashboard alike: the hosted service's init / PUT /
complete flow with the server's own disk where S3 would be (no HTTP here but the bytes' stream, which the
route reads). `Service` mixes this in.

    start_upload(principal, filename, size, tags, base)  -> {"id", "upload_url", "complete_url", ...}
    upload_file(upload_id)                                where the PUT writes (`<id>.part`)
    complete_upload(principal, upload_id, base)           -> the upload with its library asset
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..config import Settings
from ..engine.events import iso
from ..errors import FentaError, ServeError
from .access import Principal

__all__ = ["Uploads", "UPLOAD_TTL"]

#: Seconds an upload URL stays usable.
UPLOAD_TTL = 3600


def _view(
    row: dict[str, Any], base: str, secret: str | None = None, asset: dict[str, Any] | None = None
) -> dict[str, Any]:
    link = f"{base}/v1/assets/uploads/{row['id']}"
    return {
        "id": row["id"],
        "state": row["state"],
        "filename": row["filename"],
        "size": row["size"],
        "upload_url": f"{link}/bytes?secret={secret}" if secret else None,
        "complete_url": f"{link}/complete",
        "expires_at": iso(row["expires_at"]),
        "asset": asset,
    }


class Uploads:
    """Uploads into the asset library (needs `settings`, `stores` and `asset_view`)."""

    settings: Settings
    stores: Any
    asset_view: Callable[[Any, str], dict[str, Any]]  # Catalog's

    def upload_file(self, upload_id: str) -> Path:
        """Where the bytes of an upload are written until it completes."""
        folder = self.settings.home / "serve" / "uploads"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{upload_id}.part"

    def start_upload(
        self, principal: Principal, filename: str, size: int, tags: list[str], base: str
    ) -> dict[str, Any]:
        """Announce a file; the answer's `upload_url` takes its bytes once (PUT, no token needed).

        Raises:
            ServeError: 422 for a name that is not a plain file name or a bad tag, 413 over the limit.
        """
        from ..library import clean_tag

        name = filename.strip()
        if not name or name in (".", "..") or any(c in name for c in "/\\\0") or not name.isprintable():
            raise ServeError(
                "filename must be a plain file name (no folders)",
                status=422,
                title="Invalid request",
                extra={"field": "filename"},
            )
        limit = int(self.settings.max_upload_mb * 1024 * 1024)
        if size > limit:
            raise ServeError(
                f"{size} bytes is more than this server takes ({limit} bytes, FENTA_MAX_UPLOAD_MB)",
                status=413,
                title="Content Too Large",
            )
        try:
            clean = [clean_tag(t) for t in tags]
        except FentaError as e:
            raise ServeError(str(e), status=422, title="Invalid request", extra={"field": "tags"}) from None
        secret = secrets.token_urlsafe(32)
        now = time.time()
        row = {
            "id": "up_" + secrets.token_hex(8),
            "token_id": principal.token_id,
            "secret_hash": hashlib.sha256(secret.encode()).hexdigest(),
            "filename": name,
            "size": size,
            "tags": json.dumps(clean),
            "state": "pending",
            "created_at": now,
            "expires_at": now + UPLOAD_TTL,
        }
        self.stores.get().add_upload(row)
        return _view(row, base, secret)

    def received(self, row: dict[str, Any], base: str) -> dict[str, Any]:
        """The view of an upload whose bytes just arrived."""
        return _view(row, base)

    def complete_upload(self, principal: Principal, upload_id: str, base: str) -> dict[str, Any]:
        """Probe the uploaded file and add it to the library (thumbnail, facts, tags).

        Raises:
            ServeError: 404 (not this token's upload, unless admin or owner), 409 (bytes not sent yet),
                422 (not media: the bytes are dropped and the URL works again).
        """
        from .. import library

        store = self.stores.get()
        row = store.upload(upload_id)
        if row is None or (
            row["token_id"] != principal.token_id and principal.role not in ("admin", "owner")
        ):
            raise ServeError(f"no upload '{upload_id}'", status=404, title="Not Found")
        if row["state"] == "completed":
            return _view(row, base, asset=self.asset_or_none(row["asset_id"], base))
        if row["state"] != "uploaded":
            raise ServeError(
                f"upload '{upload_id}' is {row['state']}: PUT its bytes first", status=409, title="Conflict"
            )
        part = self.upload_file(upload_id)
        try:
            asset = library.add_file(
                part,
                tags=json.loads(row["tags"]),
                origin="upload",
                source=row["filename"],
                how="move",
                shown=row["filename"],
                name=row["filename"],
                provenance={"upload": upload_id, "token": principal.prefix},
                settings=self.settings,
            )
        except FentaError as e:
            part.unlink(missing_ok=True)
            store.move_upload(upload_id, "uploaded", "pending")
            raise ServeError(str(e), status=422, title="Not media", extra={"type": "not-media"}) from None
        store.move_upload(upload_id, "uploaded", "completed", asset_id=asset.id)
        row.update(state="completed")
        return _view(row, base, asset=self.asset_view(asset, base))

    def upload_view(self, upload_id: str, base: str) -> dict[str, Any]:
        row = self.stores.get().upload(upload_id)
        if row is None:
            raise ServeError(f"no upload '{upload_id}'", status=404, title="Not Found")
        asset = self.asset_or_none(row["asset_id"], base) if row.get("asset_id") else None
        return _view(row, base, asset=asset)

    def asset_or_none(self, asset_id: str, base: str) -> dict[str, Any] | None:
        from .. import library

        try:
            return self.asset_view(library.get(asset_id, settings=self.settings), base)
        except FentaError:
            return None

    def asset(self, asset_id: str, base: str) -> dict[str, Any]:
        """One library asset by its whole id.

        Raises:
            ServeError: 404.
        """
        found = self.asset_or_none(asset_id, base)
        if found is None or found["id"] != asset_id:
            raise ServeError(f"no asset '{asset_id}'", status=404, title="Not Found")
        return found

    def thumbnail_path(self, asset_id: str) -> Path:
        """The thumbnail file of an asset (its whole id).

        Raises:
            ServeError: 404 when there is no such asset or it has no thumbnail.
        """
        from .. import library

        try:
            asset = library.get(asset_id, settings=self.settings)
        except FentaError:
            asset = None
        if (
            asset is None
            or asset.id != asset_id
            or not asset.thumbnail
            or not Path(asset.thumbnail).is_file()
        ):
            raise ServeError(f"no thumbnail for asset '{asset_id}'", status=404, title="Not Found")
        return Path(asset.thumbnail)
