"""Price tables kept as data (`kie.yaml` beside this file): models, their options, credits and dollars.

The KIE table is also the model table: which API family serves a model, what it makes, which options it
takes and how a Market request names them (`KieModel.fields`), so a new Market model is a row, not code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

__all__ = ["KieModel", "kie_models", "kie_model", "kie_credits", "usd_per_credit", "credits_to_usd"]

_TABLE = Path(__file__).with_name("kie.yaml")

#: Market input fields by fenta's name, for rows that leave them out.
_MARKET_FIELDS = {
    "prompt": "prompt",
    "aspect_ratio": "aspect_ratio",
    "resolution": "resolution",
    "image": "image_urls",
}


@dataclass(frozen=True)
class KieModel:
    """One KIE.ai model: which API family serves it, what it makes, which options it takes, its price and
    where the row was read (`source`). See the header of `kie.yaml` for every field."""

    id: str
    family: str  # market | 4o-image | flux-kontext | veo | runway | suno
    kind: str  # image | video | music
    aspect_ratios: tuple[str, ...] = ()
    durations: tuple[int, ...] = ()
    per_image: float | None = None
    per_clip: float | None = None
    per_second: float | None = None
    resolutions: dict[str, float] = field(default_factory=dict)
    upgrades: dict[str, float] = field(default_factory=dict)
    images: str = "none"  # input images: none | optional | required
    source: str = ""
    modes: tuple[str, ...] = ()
    edits: tuple[str, ...] = ()
    mask: bool = False
    max_images: int = 1
    prompt_max: int | None = None
    english_only: bool = False
    extend_seconds: int = 0
    extend_max: int = 0
    fields: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    constants: dict[str, Any] = field(default_factory=dict)

    @property
    def default_resolution(self) -> str | None:
        return next(iter(self.resolutions), None)

    @property
    def resolution_choices(self) -> tuple[str, ...]:
        """Resolutions the model takes: priced ones, or those fetched after generation (Veo)."""
        return tuple(self.resolutions) or tuple(self.upgrades)

    def field_name(self, name: str) -> str | None:
        """The Market input field for fenta's `name` (prompt, aspect_ratio, duration, resolution, image,
        last_frame), or None when the model takes no such input."""
        if name in self.fields:
            return self.fields[name]
        if name == "duration":
            return "duration" if self.kind == "video" and self.durations else None
        if name == "aspect_ratio" and not self.aspect_ratios:
            return None
        if name == "resolution" and not self.resolutions:
            return None
        if name == "image" and self.images == "none":
            return None
        return _MARKET_FIELDS.get(name)

    def value(self, name: str, value: Any) -> Any:
        """`value` as the model spells it (e.g. aspect 9:16 -> "portrait" for Sora)."""
        return self.values.get(name, {}).get(str(value), value)

    def clips(self, duration: float | None) -> int:
        """Clips of this (fixed-length, extendable) model needed for `duration` seconds: 1 plus extensions."""
        first = self.durations[0] if self.durations else 0
        if not duration or not self.extend_seconds or duration <= first:
            return 1
        return 1 + min(self.extend_max, math.ceil((duration - first) / self.extend_seconds))

    def credits(
        self,
        *,
        count: int = 1,
        duration: float | None = None,
        resolution: str | None = None,
        extends: int = 0,
    ) -> float:
        """Credits for `count` generations with these options (the table's price, not the bill).

        `extends`: continuations of each clip (Veo extend), each priced as a clip.
        """
        unit = self.resolutions.get(resolution or "", None) if self.resolutions else None
        if self.kind == "image":
            return count * (unit if unit is not None else (self.per_image or 0.0))
        if self.per_second is not None:
            seconds = duration or (self.durations[0] if self.durations else 5)
            one = seconds * (unit if unit is not None else self.per_second)
        else:
            one = unit if unit is not None else (self.per_clip or 0.0)
        return count * (one * (1 + extends) + self.upgrades.get(resolution or "", 0.0))


@lru_cache(maxsize=1)
def _load() -> dict[str, Any]:
    return yaml.safe_load(_TABLE.read_text(encoding="utf-8"))


def usd_per_credit() -> float:
    return float(_load()["usd_per_credit"])


def credits_to_usd(credits: float) -> float:
    return round(credits * usd_per_credit(), 6)


def _model(mid: str, m: dict[str, Any]) -> KieModel:
    extend = m.get("extend") or {}
    return KieModel(
        id=mid,
        family=m["family"],
        kind=m["kind"],
        aspect_ratios=tuple(m.get("aspect_ratios", ())),
        durations=tuple(int(d) for d in m.get("durations", ())),
        per_image=m.get("per_image"),
        per_clip=m.get("per_clip"),
        per_second=m.get("per_second"),
        resolutions={str(k): float(v) for k, v in (m.get("resolutions") or {}).items()},
        upgrades={str(k): float(v) for k, v in (m.get("upgrades") or {}).items()},
        images=str(m.get("images", "none")),
        source=str(m.get("source") or ""),
        modes=tuple(m.get("modes", ())),
        edits=tuple(m.get("edits", ())),
        mask=bool(m.get("mask", False)),
        max_images=int(m.get("max_images", 1)),
        prompt_max=m.get("prompt_max"),
        english_only=bool(m.get("english_only", False)),
        extend_seconds=int(extend.get("seconds", 0)),
        extend_max=int(extend.get("max", 0)),
        fields={str(k): str(v) for k, v in (m.get("fields") or {}).items()},
        values={str(k): {str(a): str(b) for a, b in v.items()} for k, v in (m.get("values") or {}).items()},
        constants=dict(m.get("constants") or {}),
    )


@lru_cache(maxsize=1)
def kie_models() -> dict[str, KieModel]:
    """Every model in the table, by id."""
    return {mid: _model(mid, m) for mid, m in _load()["models"].items()}


def kie_model(model_id: str) -> KieModel | None:
    return kie_models().get(model_id)


def kie_credits(model_id: str, **kw: Any) -> float:
    """Credits the table lists for `model_id` (0 for models it does not know)."""
    m = kie_model(model_id)
    return m.credits(**kw) if m else 0.0
