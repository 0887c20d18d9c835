"""Files nodes made or downloaded (stock clips, AI generations) kept in the library with where they
came from, under a name a person can tell apart; a failure to keep one never fails a run.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..config import Settings
from .assets import add_file
from .model import Asset

__all__ = ["record", "record_safely"]


def record(
    path: str | os.PathLike,
    *,
    origin: str,
    source: str | None,
    provenance: dict[str, Any],
    settings: Settings,
    tags: Iterable[str] = (),
) -> Asset:
    """Keep a file a node made or downloaded (stock, AI) as an asset, with where it came from and `tags`
    (e.g. `mood:calm` on a generated music bed, so a later run can find it instead of paying again)."""
    name = _recorded_name(path, origin, provenance)
    return add_file(
        path,
        origin=origin,
        source=source,
        provenance=provenance,
        how="link",
        name=name,
        tags=tags,
        settings=settings,
    )


def _recorded_name(path: str | os.PathLike, origin: str, provenance: dict[str, Any]) -> str:
    """A name a person can tell apart in `fenta assets list` (the node cache names files by hash):
    'pexels-1006.mp4', 'kie-task_market_4.png', else '<origin>-<start of the file name>'."""
    suffix = Path(path).suffix.lower()
    ident = provenance.get("pexels_id") or provenance.get("task_id")
    if ident and provenance.get("track"):  # one of the tracks a Suno request makes
        ident = f"{ident}-{provenance['track']}"
    if ident:
        return re.sub(r"[^\w.-]+", "-", f"{provenance.get('provider') or origin}-{ident}") + suffix
    return f"{origin}-{Path(path).stem[:12]}{suffix}"


def record_safely(
    path: str | os.PathLike,
    *,
    origin: str,
    source: str | None,
    provenance: dict[str, Any],
    settings: Settings,
    tags: Iterable[str] = (),
) -> str | None:
    """`record`, but a failure is returned as a warning to show, never raised: keeping a copy in the
    library must not fail a run."""
    try:
        record(path, origin=origin, source=source, provenance=provenance, settings=settings, tags=tags)
    except Exception as e:  # noqa: BLE001 - any failure here is reported and ignored
        return f"could not record {Path(path).name} in the asset library: {e}"
    return None
