"""What Input.Stock takes and gives: its params and ports."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..types import Artifact, Clip, Scene
from .base import Params, Ports
from .stock_search import StockPick

__all__ = ["StockParams", "StockInputs", "StockOutputs"]


class StockParams(Params):
    media: Literal["video", "photo"] = Field("video", description="Search Pexels videos or photos.")
    query: str | None = Field(
        None, description="One search used for every clip when no scenes or queries are connected."
    )
    queries: list[str] | None = Field(
        None, description="One search per scene (used when no 'queries'/'scenes' input is connected)."
    )
    count: int = Field(4, ge=1, le=20, description="Clips to fetch for a single `query`.")
    per_scene: int = Field(1, ge=1, le=4, description="Clips per scene/query.")
    fallback_query: str | None = Field(
        None, description="Broad search to use when a scene's query (and its shorter forms) finds nothing."
    )
    orientation: Literal["auto", "portrait", "landscape", "square"] = Field(
        "auto", description="auto: from the template canvas."
    )
    locale: str | None = Field(None, description="Search locale, e.g. en-US, de-DE.")
    min_duration: float | None = Field(None, gt=0, description="Skip videos shorter than this (seconds).")
    max_mb: float = Field(200, gt=0, description="Largest file to download (MB).")
    candidates: int = Field(
        5, ge=1, le=15, description="Fitting results ranked per scene (rank: first looks at one)."
    )
    rank: Literal["auto", "vision", "text", "first"] = Field(
        "auto",
        description="vision: a vision model scores the candidates' preview frames against the narration; "
        "text: overlap of the scene's words with the clip's own (URL slug, alt); first: the first result; "
        "auto: vision when OPENROUTER_API_KEY and a vision model (FENTA_MODEL_VISION or vision_model) are "
        "set, else text.",
    )
    vision_model: str = Field(
        "vision", description="'vision' (FENTA_MODEL_VISION) or the id of a vision-capable OpenRouter model."
    )
    avoid_recent_days: float = Field(
        30,
        ge=0,
        le=365,
        description="Skip clips this workflow's jobs used in the last N days while another candidate fits "
        "(0: off).",
    )


class StockInputs(Ports):
    scenes: list[Scene] | None = None
    queries: list[str] | None = None


class StockOutputs(Ports):
    clips: list[Clip]
    credits: list[Artifact]
    picks: list[StockPick] = Field(
        default_factory=list, description="Per clip: the candidates, their scores and why the chosen one won."
    )
