"""What the library holds: an `Asset` (one file, as `fenta assets list --json` shows it), its
`KINDS`, tags as they are stored (`clean_tag`), and choosing among assets (`pick`).
"""

from __future__ import annotations

import random
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import AssetError

__all__ = ["Asset", "KINDS", "clean_tag", "pick"]

_TAG = re.compile(r"^[\w][\w.:-]{0,63}$")  # ':' for names like mood:calm
KINDS = ("video", "image", "audio")


@dataclass
class Asset:
    """One file of the library, as `fenta assets list --json` shows it."""

    id: str
    kind: str
    path: str
    name: str
    origin: str
    source: str | None
    bytes: int
    duration: float | None
    width: int | None
    height: int | None
    fps: float | None
    video_codec: str | None
    audio_codec: str | None
    has_audio: bool
    loudness: float | None
    thumbnail: str | None
    sha256: str
    created_at: float
    provenance: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    #: Whether this call stored the file (False: it was in the library already). Not stored.
    new: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def clean_tag(tag: str) -> str:
    """`tag` as stored (lower case, trimmed).

    Raises:
        AssetError: it is not one word of letters (any alphabet), digits, '-', '_', '.' or ':'.
    """
    t = tag.strip().lower()
    if not _TAG.match(t):
        joined = re.sub(r"[^\w.:-]+", "-", t).strip("-")
        hint = f" (for example '{joined}')" if _TAG.match(joined) else ""
        raise AssetError(
            f"'{tag}' is not a tag: use one word of letters, digits, '-', '_', '.' or ':' (at most 64){hint}"
        )
    return t


def pick(assets: list[Asset], *, how: str = "all", seed: int = 0, count: int | None = None) -> list[Asset]:
    """`all`: the assets in their order; `random`: shuffled with `seed` (the same seed, the same order).
    `count` keeps the first that many."""
    chosen = list(assets)
    if how == "random":
        random.Random(seed).shuffle(chosen)
    return chosen[:count] if count is not None else chosen
