"""The asset library (the hosted asset service, locally): your clips, stills and audio, kept once,
probed once, tagged, and named in workflows by id or tag (`Input.Asset {tag: beach}`).

    import fenta
    clip = fenta.library.add("beach.mp4", tags=["beach"])      # or an http(s) URL
    for a in fenta.library.list_assets(tag="beach"):
        print(a.id, a.kind, a.duration, a.thumbnail)

Stock downloads (Input.Stock) and AI generations (AI.Image, AI.Video) are recorded here too, with
their provenance (query or prompt, model, cost, the Pexels credit line).
"""

from __future__ import annotations

from .assets import (
    add,
    add_file,
    add_url,
    get,
    list_assets,
    remove,
    tag,
    tagged,
    untag,
)
from .fetch import DEFAULT_MAX_BYTES, is_url
from .model import KINDS, Asset, clean_tag, pick
from .recording import record, record_safely

__all__ = [
    "Asset",
    "KINDS",
    "DEFAULT_MAX_BYTES",
    "add",
    "clean_tag",
    "add_file",
    "add_url",
    "get",
    "list_assets",
    "pick",
    "record",
    "record_safely",
    "remove",
    "tag",
    "tagged",
    "untag",
    "is_url",
]
