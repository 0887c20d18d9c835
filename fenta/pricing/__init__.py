"""Price tables kept as data (`kie.yaml` beside this file): models, their options, credits and dollars."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

__all__ = ["KieModel", "kie_models", "kie_model", "kie_credits", "usd_per_credit", "credits_to_usd"]

_TABLE = Path(__file__).with_name("kie.yaml")


@dataclass(frozen=True)
class KieModel:
    """One KIE.ai model: which API family serves it, what it makes, which options it takes, its price."""

    id: str
    family: str  # market | 4o-image | flux-kontext | veo | runway
    kind: str  # image | video
    aspect_ratios: tuple[str, ...] = ()
    durations: tuple[int, ...] = ()
    per_image: float | None = None
    per_clip: float | None = None
    per_second: float | None = None
    resolutions: dict[str, float] = field(default_factory=dict)
    images: str = "none"  # input images: none | optional | required

    @property
    def default_resolution(self) -> str | None:
        return next(iter(self.resolutions), None)

    def credits(self, *, count: int = 1, duration: float | None = None, resolution: str | None = None) -> float:
        """Credits for `count` generations with these options (the table's price, not the bill)."""
        unit = self.resolutions.get(resolution or "", None) if self.resolutions else None
        if self.kind == "image":
            return count * (unit if unit is not None else (self.per_image or 0.0))
        if self.per_second is not None:
            seconds = duration or (self.durations[0] if self.durations else 5)
            return count * seconds * (unit if unit is not None else self.per_second)
        return count * (unit if unit is not None else (self.per_clip or 0.0))


@lru_cache(maxsize=1)
def _load() -> dict[str, Any]:
    return yaml.safe_load(_TABLE.read_text(encoding="utf-8"))


def usd_per_credit() -> float:
    return float(_load()["usd_per_credit"])


def credits_to_usd(credits: float) -> float:
    return round(credits * usd_per_credit(), 6)


@lru_cache(maxsize=1)
def kie_models() -> dict[str, KieModel]:
    """Every model in the table, by id."""
    out: dict[str, KieModel] = {}
    for mid, m in _load()["models"].items():
        out[mid] = KieModel(
            id=mid,
            family=m["family"],
            kind=m["kind"],
            aspect_ratios=tuple(m.get("aspect_ratios", ())),
            durations=tuple(int(d) for d in m.get("durations", ())),
            per_image=m.get("per_image"),
            per_clip=m.get("per_clip"),
            per_second=m.get("per_second"),
            resolutions={str(k): float(v) for k, v in (m.get("resolutions") or {}).items()},
            images=str(m.get("images", "none")),
        )
    return out


def kie_model(model_id: str) -> KieModel | None:
    return kie_models().get(model_id)


def kie_credits(model_id: str, **kw: Any) -> float:
    """Credits the table lists for `model_id` (0 for models it does not know)."""
    m = kie_model(model_id)
    return m.credits(**kw) if m else 0.0
