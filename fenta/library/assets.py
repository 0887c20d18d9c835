"""The asset library's storage: media files kept content-addressed under FENTA_HOME, probed once,
tagged; adding, finding, listing, tagging and removing them.

Files live in `FENTA_HOME/library/files/<sha[:2]>/<sha><ext>`, thumbnails in
`FENTA_HOME/library/thumbs/<id>.jpg`, and one row per file in the `assets` table of `fenta.db`
(tags in `asset_tags`). An asset's id is the start of its content hash, so adding a file twice gives
the same asset (its tags are merged). What an asset is: `model`; files nodes made: `recording`.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..config import Settings
from ..database import PREFIX_MATCH, prefix_pattern
from ..errors import AssetError, MediaError
from ..hashing import file_sha256
from ..policy import TRUSTED, Policy
from ._db import open_db
from .facts import make_thumbnail, read_facts
from .fetch import DEFAULT_MAX_BYTES, check_url, download, is_url, url_key
from .model import KINDS, Asset, clean_tag

__all__ = [
    "add",
    "add_file",
    "add_url",
    "list_assets",
    "get",
    "remove",
    "tag",
    "untag",
    "tagged",
]

_ID_LEN = 12


def _settings(settings: Settings | None) -> Settings:
    return settings or Settings.from_env()


def _root(settings: Settings) -> Path:
    return settings.home / "library"


def _asset(db, row: dict[str, Any]) -> Asset:
    tags = [
        r["tag"] for r in db.query("SELECT tag FROM asset_tags WHERE asset_id = ? ORDER BY tag", [row["id"]])
    ]
    values = dict(row)
    values["provenance"] = json.loads(values.get("provenance") or "{}")
    values["has_audio"] = bool(values["has_audio"])
    return Asset(**values, tags=tags)


@contextmanager
def _transaction(db) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on any error)."""
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.conn.execute("ROLLBACK")
        raise
    db.conn.execute("COMMIT")


def _row(db, where: str, args: list[Any]) -> dict[str, Any] | None:
    rows = list(db.query(f"SELECT * FROM assets WHERE {where}", args))
    return rows[0] if rows else None


def _add_tags(db, asset_id: str, tags: Iterable[str]) -> None:
    for t in tags:
        db.conn.execute("INSERT OR IGNORE INTO asset_tags (asset_id, tag) VALUES (?, ?)", (asset_id, t))


def _place(src: Path, dest: Path, *, how: str) -> None:
    """Put `src`'s bytes at `dest` whole (a temporary name, then a rename): copy, link or move."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{uuid.uuid4().hex}.part")
    try:
        if how == "move":
            shutil.move(str(src), tmp)
        elif how == "link":
            try:
                os.link(src, tmp)  # files of the node cache never change in place: sharing them costs nothing
            except OSError:
                shutil.copyfile(src, tmp)
        else:
            shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def add_file(
    path: str | os.PathLike,
    *,
    tags: Iterable[str] = (),
    origin: str = "file",
    source: str | None = None,
    provenance: dict[str, Any] | None = None,
    how: str = "copy",
    shown: str | None = None,
    name: str | None = None,
    settings: Settings | None = None,
) -> Asset:
    """Store a local media file (once per content) and return its asset.

    Args:
        tags: Added to the asset (also when it was in the library already).
        origin, source, provenance: Where it came from (kept with a new asset only).
        how: "copy" (your files), "link" (files fenta made; copied across file systems) or "move".
        shown: How messages name the file (default: the path).
        name: The asset's name (default: the file name of `shown`).

    Raises:
        MediaError: the file is missing, unreadable or not media (names the file).
        AssetError: a tag is not a valid name.
        PathError: FENTA_HOME cannot be written.
    """
    settings = _settings(settings)
    src = Path(path).expanduser()
    shown = shown or str(path)
    clean = [clean_tag(t) for t in tags]
    if not src.is_file():
        raise MediaError(
            "file not found" if not src.exists() else "a folder, not a file: add the media files in it",
            file=shown,
        )
    sha = file_sha256(src)
    db = open_db(settings.db_path)
    try:
        row = _row(db, "sha256 = ?", [sha])
        if row is not None and Path(row["path"]).is_file():
            _add_tags(db, row["id"], clean)
            if how == "move":
                src.unlink(missing_ok=True)
            return _asset(db, row)
        facts = read_facts(src, shown)  # refuses what FFmpeg cannot read, before anything is stored
        root = _root(settings)
        stored = root / "files" / sha[:2] / f"{sha}{src.suffix.lower() or '.bin'}"
        thumb = root / "thumbs" / f"{sha[:_ID_LEN]}.jpg"
        make_thumbnail(src, facts, thumb, shown)
        size = src.stat().st_size
        _place(src, stored, how=how)
        info = facts.info
        w, h = info.display_size
        values = {
            "id": sha[:_ID_LEN],
            "sha256": sha,
            "kind": facts.kind,
            "path": str(stored),
            "name": name or Path(shown).name or src.name,
            "origin": origin,
            "source": source if source is not None else str(src.resolve()),
            "bytes": size,
            "duration": None if facts.kind == "image" else info.duration,
            "width": w,
            "height": h,
            "fps": info.fps if facts.kind == "video" else None,
            "video_codec": info.video_codec,
            "audio_codec": info.audio_codec,
            "has_audio": int(info.has_audio),
            "loudness": facts.loudness,
            "thumbnail": str(thumb),
            "provenance": json.dumps(provenance or {}, ensure_ascii=False, default=str),
            "created_at": time.time(),
        }
        with _transaction(db):
            # A row whose file went missing is replaced; two processes adding one file keep one row.
            if row is not None:
                db.conn.execute(
                    "UPDATE assets SET path = ?, thumbnail = ? WHERE id = ?",
                    (str(stored), str(thumb), row["id"]),
                )
            else:
                cols = ", ".join(values)
                db.conn.execute(
                    f"INSERT OR IGNORE INTO assets ({cols}) VALUES ({', '.join('?' * len(values))})",
                    list(values.values()),
                )
            _add_tags(db, sha[:_ID_LEN], clean)
        asset = _asset(db, _row(db, "sha256 = ?", [sha]) or {})
        asset.new = row is None
        return asset
    finally:
        db.conn.close()


def add_url(
    url: str,
    *,
    tags: Iterable[str] = (),
    max_bytes: int = DEFAULT_MAX_BYTES,
    settings: Settings | None = None,
    policy: Policy = TRUSTED,
) -> Asset:
    """Download `url` once (a URL already in the library is not fetched again) and store it.

    `policy`: who named the URL. The local user (`TRUSTED`) reaches any address; untrusted input
    (`Policy.untrusted`) only public ones or the operator's `FENTA_ALLOW_PRIVATE_URLS`, on every
    redirect hop, and is refused before the library is looked at (a copy the local user fetched
    from their own network stays theirs).

    Raises:
        AssetError: not a valid http(s) URL, an address `policy` refuses, more than 5 redirects,
            HTTP error, not a media content type, over `max_bytes`.
        MediaError: the download is not readable media (names the URL).
    """
    settings = _settings(settings)
    check_url(url, policy)
    clean = [clean_tag(t) for t in tags]
    db = open_db(settings.db_path)
    try:
        row = _row(
            db,
            "id IN (SELECT asset_id FROM asset_urls WHERE url = ?) OR (origin = 'url' AND source = ?)",
            [url_key(url), url],
        )
        if row is not None and Path(row["path"]).is_file():
            _add_tags(db, row["id"], clean)
            return _asset(db, row)
    finally:
        db.conn.close()
    tmp = download(url, _root(settings) / "tmp", max_bytes=max_bytes, policy=policy)
    try:
        asset = add_file(tmp, tags=clean, origin="url", source=url, how="move", shown=url, settings=settings)
    finally:
        tmp.unlink(missing_ok=True)
    # Remembered even when the bytes were in the library already (added as a file, or from another
    # URL): adding this URL again makes no request.
    db = open_db(settings.db_path)
    try:
        db.conn.execute(
            "INSERT OR IGNORE INTO asset_urls (url, asset_id) VALUES (?, ?)", (url_key(url), asset.id)
        )
    finally:
        db.conn.close()
    return asset


def add(
    source: str | os.PathLike,
    *,
    tags: Iterable[str] = (),
    max_bytes: int = DEFAULT_MAX_BYTES,
    settings: Settings | None = None,
) -> Asset:
    """Add a file or an http(s) URL to the library (see `add_file`, `add_url`)."""
    if isinstance(source, str) and is_url(source):
        return add_url(source, tags=tags, max_bytes=max_bytes, settings=settings)
    return add_file(source, tags=tags, settings=settings)


def _find(db, asset_id: str) -> dict[str, Any]:
    key = asset_id.strip().lower()
    row = _row(db, "id = ?", [key])
    if row is None and len(key) >= 4:
        query = f"SELECT * FROM assets WHERE id {PREFIX_MATCH} ORDER BY id"
        rows = list(db.query(query, [prefix_pattern(key)]))
        if len(rows) > 1:
            raise AssetError(f"asset id '{asset_id}' is ambiguous: {', '.join(r['id'] for r in rows[:5])}")
        row = rows[0] if rows else None
    if row is None:
        short = " (give at least 4 characters of its id)" if len(key) < 4 else ""
        raise AssetError(f"no asset '{asset_id}' in the library{short} (see `fenta assets list`)")
    return row


def get(asset_id: str, *, settings: Settings | None = None) -> Asset:
    """The asset with this id (or a unique start of it, 4 characters at least).

    Raises:
        AssetError: no such asset, or the prefix matches several.
    """
    settings = _settings(settings)
    if not settings.db_path.exists():  # nothing added yet: say so without creating FENTA_HOME
        raise AssetError(f"no asset '{asset_id}' in the library (see `fenta assets list`)")
    db = open_db(settings.db_path)
    try:
        return _asset(db, _find(db, asset_id))
    finally:
        db.conn.close()


def list_assets(
    *, kind: str | None = None, tag: str | None = None, settings: Settings | None = None
) -> list[Asset]:
    """Assets in the order they were added, optionally of one kind and/or with one tag."""
    if kind is not None and kind not in KINDS:
        raise AssetError(f"kind must be one of {', '.join(KINDS)}, not '{kind}'")
    where, args = [], []
    if kind:
        where.append("kind = ?")
        args.append(kind)
    if tag:
        where.append("id IN (SELECT asset_id FROM asset_tags WHERE tag = ?)")
        args.append(clean_tag(tag))
    settings = _settings(settings)
    if not settings.db_path.exists():
        return []
    db = open_db(settings.db_path)
    try:
        sql = (
            "SELECT * FROM assets"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY created_at, id"
        )
        return [_asset(db, r) for r in db.query(sql, args)]
    finally:
        db.conn.close()


def tagged(tag: str, *, settings: Settings | None = None) -> list[Asset]:
    """Every asset with `tag`, in a stable order (the order they were added)."""
    return list_assets(tag=tag, settings=settings)


def tag(asset_id: str, *tags: str, settings: Settings | None = None) -> Asset:
    """Add tags to an asset."""
    clean = [clean_tag(t) for t in tags]
    db = open_db(_settings(settings).db_path)
    try:
        row = _find(db, asset_id)
        _add_tags(db, row["id"], clean)
        return _asset(db, row)
    finally:
        db.conn.close()


def untag(asset_id: str, *tags: str, settings: Settings | None = None) -> Asset:
    """Remove tags from an asset (tags it does not have are ignored)."""
    clean = [clean_tag(t) for t in tags]
    db = open_db(_settings(settings).db_path)
    try:
        row = _find(db, asset_id)
        for t in clean:
            db.conn.execute("DELETE FROM asset_tags WHERE asset_id = ? AND tag = ?", (row["id"], t))
        return _asset(db, row)
    finally:
        db.conn.close()


def remove(asset_id: str, *, settings: Settings | None = None) -> Asset:
    """Delete an asset: its row, tags, stored file and thumbnail. Returns what was removed."""
    db = open_db(_settings(settings).db_path)
    try:
        row = _find(db, asset_id)
        asset = _asset(db, row)
        with _transaction(db):
            db.conn.execute("DELETE FROM asset_tags WHERE asset_id = ?", (row["id"],))
            db.conn.execute("DELETE FROM asset_urls WHERE asset_id = ?", (row["id"],))
            db.conn.execute("DELETE FROM assets WHERE id = ?", (row["id"],))
    finally:
        db.conn.close()
    for p in (asset.path, asset.thumbnail):
        if p:
            Path(p).unlink(missing_ok=True)
    return asset
