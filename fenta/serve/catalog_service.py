"""What a client asks before it queues, answered once for REST and MCP: validation, estimates, templates,
node types and the asset library (no HTTP here; synchronous, on the caller's worker thread)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from ..config import Settings
from ..engine.events import iso
from ..errors import FentaError, QuotaError, ServeError, SpecError
from .problems import problem_items, spec_problem
from .untrusted import load_untrusted

__all__ = ["Catalog"]

_preview_lock = threading.Lock()


class Catalog:
    """Workflows and assets on one FENTA_HOME (`Service` adds the jobs)."""

    def __init__(self, settings: Settings, stores: Any) -> None:
        self.settings = settings
        self.stores = stores

    # ------------------------------------------------------------ workflows

    def validate(self, document: Any, vars: dict[str, Any] | None) -> dict[str, Any]:
        from ..engine.keys import key_needs

        try:
            wf = load_untrusted(document, vars, self.settings)
        except SpecError as e:
            return {"valid": False, "problems": problem_items(e)}
        keys = [k.to_dict() for k in key_needs(wf, self.settings)]
        return {
            "valid": True,
            "name": wf.name,
            "nodes": list(wf.nodes),
            "template": wf.template.get("name"),
            "keys": keys,
            "problems": [],
        }

    def estimate(self, document: Any, vars: dict[str, Any] | None) -> dict[str, Any]:
        from ..engine.keys import key_needs
        from ..engine.results import plan
        from ..ops import quotas

        try:
            wf = load_untrusted(document, vars, self.settings)
        except SpecError as e:
            raise spec_problem(e) from None
        cost = {k: round(v, 6) for k, v in plan(wf).cost.items()}
        est = quotas.estimate(wf)
        keys = [k.to_dict() for k in key_needs(wf, self.settings)]
        store = self.stores.get()
        problem = None
        try:
            quotas.check(store.jobs, est)
        except QuotaError as e:
            problem = str(e)
        return {
            "workflow": wf.name,
            "cost": cost,
            "total_usd": round(sum(cost.values()), 6),
            "kie_credits": est.get("kie_credits", 0.0),
            "keys": keys,
            "missing_keys": [k["var"] for k in keys if not k["set"]],
            "within_quota": problem is None,
            "quota_problem": problem,
        }

    def workflow_sources(self) -> list[dict[str, Any]]:
        """What a user may start without sending a document: the starters and the server's workflow
        folder (see `fenta.serve.sources`)."""
        from .sources import list_sources

        return list_sources(self.settings)

    def workflow_source(self, ref: str, template: str | None = None) -> dict[str, Any]:
        """One source with its document and the form fields of its variables."""
        from .sources import read_source

        return read_source(self.settings, ref, template)

    def templates(self, base: str) -> list[dict[str, Any]]:
        from ..template import list_templates, resolve_template

        rows = []
        for name in list_templates():
            t = resolve_template(name)
            c = t["canvas"]
            link = f"{base}/v1/templates/{name}"
            rows.append(
                {
                    "name": name,
                    "size": f"{c['width']}x{c['height']}",
                    "fps": c["fps"],
                    "transition": t["transition"]["type"],
                    "description": t["description"],
                    "preview": {"image": f"{link}/preview.png", "video": f"{link}/preview.mp4"},
                }
            )
        return rows

    def template_preview(self, name: str, ext: str) -> Path:
        """`preview.png` (a contact sheet) or `preview.mp4` (the sample) of a shipped template: made
        offline the first time it is asked for (a few seconds), then kept under FENTA_HOME/previews.

        Raises:
            ServeError: 404 for an unknown template, 500 when the preview cannot be made.
        """
        from ..ops.previews import preview
        from ..template import list_templates

        if name not in list_templates() or ext not in ("png", "mp4"):
            raise ServeError(f"no template '{name}'", status=404, title="Not Found")
        folder = self.settings.home / "previews" / "api"
        path = folder / f"{name}.{ext}"
        with _preview_lock:  # one render at a time; the second asker finds it made
            if not path.is_file():
                try:
                    preview(name, folder, settings=self.settings)
                except FentaError as e:
                    raise ServeError(f"the preview of '{name}' could not be made: {e}", status=500) from None
        return path

    def nodes(self) -> list[dict[str, Any]]:
        from ..nodes.base import registry

        out = []
        for name in registry.names():
            cls = registry.get(name)
            assert cls is not None
            out.append(
                {
                    "type": name,
                    "version": cls.version,
                    "description": cls.description,
                    "inputs": cls.input_ports(),
                    "required_inputs": sorted(cls.required_inputs()),
                    "outputs": cls.output_ports(),
                    "params_schema": cls.Params.model_json_schema(),  # type: ignore[attr-defined]
                }
            )
        return out

    # ------------------------------------------------------------ assets

    def search_assets(
        self, *, query: str | None, kind: str | None, tag: str | None, limit: int, base: str
    ) -> list[dict[str, Any]]:
        from .. import library

        try:
            found = library.list_assets(kind=kind, tag=tag, settings=self.settings)
        except FentaError as e:
            raise ServeError(str(e), status=422, title="Invalid request") from None
        words = [w for w in (query or "").lower().split() if w]
        out = []
        for a in found:
            text = " ".join([a.name, a.kind, *a.tags, a.source or ""]).lower()
            if all(w in text for w in words):
                out.append(self.asset_view(a, base))
            if len(out) >= limit:
                break
        return out

    @staticmethod
    def asset_view(asset: Any, base: str) -> dict[str, Any]:
        d = asset.to_dict()
        keep = (
            "id",
            "kind",
            "name",
            "origin",
            "bytes",
            "duration",
            "width",
            "height",
            "fps",
            "has_audio",
            "sha256",
            "tags",
            "provenance",
        )
        out = {k: d[k] for k in keep}
        out["created_at"] = iso(d["created_at"])
        out["thumbnail_url"] = f"{base}/v1/assets/{asset.id}/thumbnail" if d.get("thumbnail") else None
        return out
