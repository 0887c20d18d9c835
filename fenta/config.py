"""Where fenta keeps its state, and which keys and service URLs it uses.

Keys are read from the environment or a `.env` file in the working directory.
They are held here and handed to provider clients only; they are never written
to the database, logs, job records or webhook bodies.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

__all__ = ["Settings", "KEY_NAMES", "DEFAULT_URLS", "KIE_WEBHOOK_SECRET_VAR"]

KEY_NAMES = {
    "openrouter": "OPENROUTER_API_KEY",
    "pexels": "PEXELS_API_KEY",
    "kie": "KIE_API_KEY",
    "fenta": "FENTA_API_KEY",
}

DEFAULT_URLS = {
    "openrouter": "https://openrouter.ai/api/v1",
    "pexels": "https://api.pexels.com",
    "kie": "https://api.kie.ai",
    "fenta": "https://api.fenta.app",
}

KIE_WEBHOOK_SECRET_VAR = "FENTA_KIE_WEBHOOK_SECRET"

_URL_VARS = {
    "openrouter": "FENTA_OPENROUTER_URL",
    "pexels": "FENTA_PEXELS_URL",
    "kie": "FENTA_KIE_URL",
    "fenta": "FENTA_API_URL",
}


def _dotenv(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(path).items() if v is not None}


@dataclass
class Settings:
    """Resolved configuration for one process.

    Attributes:
        home: The folder holding `fenta.db` and the cache (`FENTA_HOME`).
        keys: Provider name -> API key, for the keys that are set.
        urls: Provider name -> base URL.
        kie_webhook_secret: The key KIE.ai signs callbacks with (`FENTA_KIE_WEBHOOK_SECRET`); when
            set, `fenta kie-callbacks` refuses unsigned or wrongly signed callbacks.
    """

    home: Path
    keys: dict[str, str] = field(default_factory=dict, repr=False)
    urls: dict[str, str] = field(default_factory=dict)
    kie_webhook_secret: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, cwd: Path | None = None) -> "Settings":
        merged = _dotenv((cwd or Path.cwd()) / ".env")
        merged.update(os.environ if env is None else env)
        home = Path(merged.get("FENTA_HOME") or platformdirs.user_data_dir("fenta", appauthor=False))
        keys = {name: merged[var] for name, var in KEY_NAMES.items() if merged.get(var)}
        urls = {
            name: merged.get(_URL_VARS[name], default).rstrip("/")
            for name, default in DEFAULT_URLS.items()
        }
        secret = merged.get(KIE_WEBHOOK_SECRET_VAR) or None
        return cls(home=home.expanduser(), keys=keys, urls=urls, kie_webhook_secret=secret)

    @property
    def db_path(self) -> Path:
        return self.home / "fenta.db"

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"

    def redact(self, text: str) -> str:
        """Replace every known key value (and the webhook secret) in `text` with `***`."""
        for value in [*self.keys.values(), self.kie_webhook_secret]:
            if value and len(value) >= 4:
                text = text.replace(value, "***")
        return text
