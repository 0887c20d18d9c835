"""Which OpenRouter model a tier names ("strong", "weak", "vision": FENTA_MODEL_STRONG / _WEAK /
_VISION, or fenta's defaults) and what a call would cost (`fenta/pricing/openrouter.yaml`).
"""

from __future__ import annotations

from ..config import MODEL_VARS, Settings

__all__ = ["DEFAULT_MODELS", "resolve_model", "estimate_usd"]

DEFAULT_MODELS = {
    "strong": "anthropic/claude-sonnet-4.5",
    "weak": "openai/gpt-4o-mini",
    "vision": "google/gemini-2.5-flash",  # reads image content parts (Input.Stock's rank: vision)
}


def resolve_model(name: str, settings: Settings | None = None) -> str:
    """A model id from "strong" / "weak" / "vision" (`settings.models`: FENTA_MODEL_STRONG /
    FENTA_MODEL_WEAK / FENTA_MODEL_VISION, env or .env) or an explicit id. Without `settings`, the
    process's settings are read."""
    tier = name.strip().lower()
    if tier not in MODEL_VARS:
        return name.strip()
    models = (settings if settings is not None else Settings.from_env()).models
    return (models.get(tier) or DEFAULT_MODELS[tier]).strip()


def estimate_usd(model: str, prompt_tokens: int, completion_tokens: int) -> float:
    """Estimated cost from the price table in `fenta/pricing/openrouter.yaml`."""
    from importlib.resources import files

    import yaml

    table = yaml.safe_load(files("fenta").joinpath("pricing/openrouter.yaml").read_text(encoding="utf-8"))
    price = (table.get("models") or {}).get(model.split(":")[0]) or table["default"]
    return round(prompt_tokens * price["prompt"] / 1e6 + completion_tokens * price["completion"] / 1e6, 6)
