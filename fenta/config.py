"""Where fenta keeps its state, and which keys and service URLs it uses.

Keys are read from the environment or a `.env` file in the working directory.
They are held here and handed to provider clients only; they are never written
to the database, logs, job records or webhook bodies.

This is the only module that reads the environment: everything else takes a `Settings`
(a test in tests/test_config.py keeps it so).
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from .retry import DEFAULT_JOB_RETRY_BASE, DEFAULT_MAX_RETRIES

__all__ = [
    "Settings",
    "KEY_NAMES",
    "DEFAULT_URLS",
    "KIE_WEBHOOK_SECRET_VAR",
    "PUBLISH_URL_VARS",
    "PUBLISH_ENV",
    "hide",
]

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

#: Model tier -> the variable naming the OpenRouter model used for it.
MODEL_VARS = {"strong": "FENTA_MODEL_STRONG", "weak": "FENTA_MODEL_WEAK", "vision": "FENTA_MODEL_VISION"}

_URL_VARS = {
    "openrouter": "FENTA_OPENROUTER_URL",
    "pexels": "FENTA_PEXELS_URL",
    "kie": "FENTA_KIE_URL",
    "fenta": "FENTA_API_URL",
}


#: Publishing services whose hosts can be redirected (scheme + host replaced, paths kept): service ->
#: variable.
PUBLISH_URL_VARS = {
    "google_oauth": "FENTA_GOOGLE_OAUTH_URL",  # oauth2.googleapis.com (token, device) and accounts.google.com
    "youtube": "FENTA_YOUTUBE_URL",  # the Data API and its upload path (www.googleapis.com)
    "tiktok": "FENTA_TIKTOK_URL",  # open.tiktokapis.com and the consent page www.tiktok.com
    "instagram": "FENTA_INSTAGRAM_URL",  # the Graph API (graph.instagram.com, graph.facebook.com), its OAuth
    "instagram_upload": "FENTA_INSTAGRAM_UPLOAD_URL",  # rupload.facebook.com
}

#: A publishing account given entirely by environment variables (CI): platform -> field -> variable.
PUBLISH_ENV = {
    "youtube": {
        "client_id": "FENTA_YOUTUBE_CLIENT_ID",
        "client_secret": "FENTA_YOUTUBE_CLIENT_SECRET",
        "refresh_token": "FENTA_YOUTUBE_REFRESH_TOKEN",
    },
    "tiktok": {
        "client_id": "FENTA_TIKTOK_CLIENT_KEY",
        "client_secret": "FENTA_TIKTOK_CLIENT_SECRET",
        "refresh_token": "FENTA_TIKTOK_REFRESH_TOKEN",
    },
    "instagram": {
        "client_id": "FENTA_INSTAGRAM_APP_ID",
        "client_secret": "FENTA_INSTAGRAM_APP_SECRET",
        "access_token": "FENTA_INSTAGRAM_ACCESS_TOKEN",
        "user_id": "FENTA_INSTAGRAM_USER_ID",
        "setup": "FENTA_INSTAGRAM_SETUP",
    },
}

#: Fields of an environment account that are not secret (ids people quote in bug reports).
_PUBLIC_FIELDS = ("client_id", "user_id", "setup")

#: Values that are not in the environment but must never be written anywhere (publishing tokens read
#: from FENTA_HOME/accounts): every `Settings.redact` of this process replaces them too.
_HIDDEN: set[str] = set()


def hide(*values: str | None) -> None:
    """Add secrets known only at run time (an account's tokens) to what `Settings.redact` replaces."""
    _HIDDEN.update(v for v in values if v and len(v) >= 4)


def _publish(merged: dict[str, str]) -> dict:
    """Publishing: redirected hosts, accounts from the environment, the accounts untrusted jobs may use."""
    env = {
        platform: {f: merged[var].strip() for f, var in fields.items() if (merged.get(var) or "").strip()}
        for platform, fields in PUBLISH_ENV.items()
    }
    allowed = (merged.get("FENTA_PUBLISH_ACCOUNTS") or "").split(",")
    return {
        "publish_urls": {
            name: merged[var].strip().rstrip("/")
            for name, var in PUBLISH_URL_VARS.items()
            if (merged.get(var) or "").strip()
        },
        "publish_env": {platform: fields for platform, fields in env.items() if fields},
        "publish_accounts": tuple(a.strip() for a in allowed if a.strip()),
    }


def _dotenv(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def _scale(value: str | None) -> float:
    """A wait multiplier from the environment: a number >= 0; anything else means 1."""
    try:
        return max(0.0, float(value)) if value not in (None, "") else 1.0
    except ValueError:
        return 1.0


def _poll(value: str | None) -> float:
    """Seconds between the scheduler's looks at its tables: a number > 0 (at least 0.01); else 5."""
    try:
        return max(0.01, float(value)) if value not in (None, "") else 5.0
    except ValueError:
        return 5.0


def _seconds(value: str | None, default: float, least: float = 0.0) -> float:
    """A number of seconds from the environment, at least `least`; unset or unreadable means `default`."""
    try:
        return max(least, float(value)) if value not in (None, "") else default
    except ValueError:
        return default


def _count(value: str | None, default: int) -> int:
    """A whole number >= 0 from the environment; unset or unreadable means `default`."""
    try:
        return max(0, int(value)) if value not in (None, "") else default
    except ValueError:
        return default


def _allowed_dirs(value: str | None) -> tuple[Path, ...]:
    """`FENTA_ALLOWED_DIRS`: folders separated by the platform's path separator, resolved (symlinks too)."""
    parts = [p.strip() for p in (value or "").split(os.pathsep) if p.strip()]
    return tuple(Path(os.path.realpath(Path(p).expanduser())) for p in parts)


def _allowed_networks(value: str | None) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """`FENTA_ALLOW_PRIVATE_URLS`: address ranges (CIDR, or single addresses) separated by commas.

    An entry that is not an address or range is left out (the allow-list fails closed); `fenta doctor`
    names it."""
    out = []
    for part in (value or "").split(","):
        try:
            out.append(ipaddress.ip_network(part.strip(), strict=False))
        except ValueError:
            continue
    return tuple(out)


def _queue(merged: dict[str, str]) -> dict:
    """Retry, lease and polling settings of the job queue."""
    lease = _seconds(merged.get("FENTA_LEASE_SECONDS"), 30.0, 0.05)
    return {
        "retry_base_seconds": _seconds(merged.get("FENTA_RETRY_BASE_SECONDS"), DEFAULT_JOB_RETRY_BASE),
        "max_retries": _count(merged.get("FENTA_MAX_RETRIES"), DEFAULT_MAX_RETRIES),
        "lease_seconds": lease,
        # Unset, the heartbeat fits the lease: 5 s, or a third of a shorter lease.
        "heartbeat_seconds": _seconds(merged.get("FENTA_HEARTBEAT_SECONDS"), min(5.0, lease / 3), 0.01),
        "poll_seconds": _seconds(merged.get("FENTA_POLL_SECONDS"), 0.5, 0.01),
        "dask_address": (merged.get("FENTA_DASK_ADDRESS") or "").strip()
        or (merged.get("DASK_SCHEDULER_ADDRESS") or "").strip()
        or None,
    }


def _serve(merged: dict[str, str]) -> dict:
    """`fenta serve`'s request limits and CORS, and the log format (also read by worker and scheduler).
    Values are checked where they are used (`fenta serve` names a bad one in one line)."""
    origins = (merged.get("FENTA_CORS_ORIGINS") or "").split(",")
    return {
        "rate_limit": (merged.get("FENTA_RATE_LIMIT") or "").strip() or "600/minute",
        "max_body_mb": _seconds(merged.get("FENTA_MAX_BODY_MB"), 10.0, 0.001),
        "max_upload_mb": _seconds(merged.get("FENTA_MAX_UPLOAD_MB"), 500.0, 0.001),
        "cors_origins": tuple(o.strip() for o in origins if o.strip()),
        "log_format": (merged.get("FENTA_LOG_FORMAT") or "").strip().lower() or "text",
        "workflows_dir": Path(folder).expanduser()
        if (folder := (merged.get("FENTA_WORKFLOWS_DIR") or "").strip())
        else None,
    }


def _tuning(merged: dict[str, str]) -> dict:
    """The settings beyond keys and URLs, from the merged environment and `.env`."""
    return {
        "models": {
            tier: merged[var].strip() for tier, var in MODEL_VARS.items() if (merged.get(var) or "").strip()
        },
        "kie_upload_url": (merged.get("FENTA_KIE_UPLOAD_URL") or "").rstrip("/") or None,
        "backoff_scale": _scale(merged.get("FENTA_BACKOFF_SCALE")),
        "kie_time_scale": _scale(merged.get("FENTA_KIE_TIME_SCALE")),
        "publish_time_scale": _scale(merged.get("FENTA_PUBLISH_TIME_SCALE")),
        "debug": bool(merged.get("FENTA_DEBUG")),
        "ffmpeg": (merged.get("FENTA_FFMPEG") or "").strip() or None,
        "org_id": (merged.get("FENTA_ORG_ID") or "").strip() or "local",
        "webhook_retry_scale": _scale(merged.get("FENTA_WEBHOOK_RETRY_SCALE")),
        "scheduler_poll": _poll(merged.get("FENTA_SCHEDULER_POLL")),
        "sync": (merged.get("FENTA_SYNC") or "").strip().lower() in ("1", "true", "yes", "on"),
        "allowed_dirs": _allowed_dirs(merged.get("FENTA_ALLOWED_DIRS")),
        "allowed_networks": _allowed_networks(merged.get("FENTA_ALLOW_PRIVATE_URLS")),
        **_queue(merged),
        **_serve(merged),
        **_publish(merged),
    }


@dataclass
class Settings:
    """Resolved configuration for one process.

    Attributes:
        home: The folder holding `fenta.db` and the cache (`FENTA_HOME`).
        keys: Provider name -> API key, for the keys that are set.
        urls: Provider name -> base URL.
        models: Model tier ("strong", "weak", "vision") -> OpenRouter model id, for the tiers set
            (`FENTA_MODEL_STRONG`, `FENTA_MODEL_WEAK`, `FENTA_MODEL_VISION`: a model that reads images).
        kie_upload_url: KIE.ai's file-upload host when set (`FENTA_KIE_UPLOAD_URL`).
        backoff_scale: Multiplies every retry wait (`FENTA_BACKOFF_SCALE`; tests shrink it).
        kie_time_scale: Multiplies KIE.ai poll intervals and retry waits (`FENTA_KIE_TIME_SCALE`; tests).
        publish_time_scale: Multiplies TikTok's and Instagram's status-poll intervals and rate-limit waits
            (`FENTA_PUBLISH_TIME_SCALE`; tests shrink it).
        debug: Show tracebacks of internal errors (`FENTA_DEBUG`).
        ffmpeg: The FFmpeg binary to use, path or name on PATH (`FENTA_FFMPEG`); unset, fenta chooses
            (see fenta.media.ffmpeg).
        kie_webhook_secret: The key KIE.ai signs callbacks with (`FENTA_KIE_WEBHOOK_SECRET`); when
            set, `fenta kie-callbacks` refuses unsigned or wrongly signed callbacks.
        org_id: The organisation named in `quota.warning` events (`FENTA_ORG_ID`, default `local`).
        webhook_retry_scale: Multiplies the webhook retry schedule (`FENTA_WEBHOOK_RETRY_SCALE`; tests
            shrink it); a receiver's Retry-After is honoured as sent.
        scheduler_poll: Seconds between the scheduler's looks at the schedules table and the webhook
            outbox (`FENTA_SCHEDULER_POLL`, default 5).
        retry_base_seconds: The first job retry waits between this and twice this; each further
            retry doubles it (`FENTA_RETRY_BASE_SECONDS`, default 10: 10-20 s, 20-40 s, 40-80 s).
        max_retries: Retries of a job after a retryable failure (`FENTA_MAX_RETRIES`, default 3 for
            every way a job starts; a workflow's `retry: {max_retries}` and `--retries N` win; see
            `fenta.retry.job_retries`).
        lease_seconds: A running job's lease lapses this long after its last heartbeat
            (`FENTA_LEASE_SECONDS`, default 30); a lapsed job is taken over by the next worker.
        heartbeat_seconds: How often a running job renews its lease (`FENTA_HEARTBEAT_SECONDS`, default 5,
            or a third of a shorter lease); on a timer of its own, at most a third of the lease. A value
            not below the lease is refused where a worker or a run starts.
        dask_address: The Dask scheduler `--cluster` defaults to (`FENTA_DASK_ADDRESS`, else
            `DASK_SCHEDULER_ADDRESS`); None runs jobs in this process.
        poll_seconds: How often workers look for due jobs, running jobs look for a cancel request and
            `jobs watch` reads the event log (`FENTA_POLL_SECONDS`, default 0.5).
        api_token: The `Authorization: Bearer` value for the hosted project (`FENTA_API_TOKEN`, a
            user's JWT); unset, the key (`FENTA_API_KEY`, sent as `apikey`) is sent there too.
        sync: Push every job to the hosted project (`FENTA_SYNC=1`; see fenta.ops.sync).
        allowed_dirs: Folders an untrusted workflow may name files in (`FENTA_ALLOWED_DIRS`, separated
            by `os.pathsep`; resolved); none by default (see fenta.policy).
        allowed_networks: Loopback, private or link-local ranges an untrusted workflow's URLs may reach
            (`FENTA_ALLOW_PRIVATE_URLS`, CIDRs separated by commas); none by default.
        rate_limit: `fenta serve`'s request limit per token and route (`FENTA_RATE_LIMIT`, default
            `600/minute`; several separated by `;`, e.g. `20/second;600/minute`).
        max_body_mb: Largest request body `fenta serve` reads, in MB (`FENTA_MAX_BODY_MB`, default 10;
            413 above).
        max_upload_mb: Largest asset upload `fenta serve` takes, in MB (`FENTA_MAX_UPLOAD_MB`, default 500).
        cors_origins: Origins a browser may call `fenta serve` from (`FENTA_CORS_ORIGINS`, comma-separated;
            none by default: CORS off).
        log_format: `text` or `json` (`FENTA_LOG_FORMAT`): how `serve`, `worker` and `scheduler` log.
        workflows_dir: The folder whose workflow files the dashboard's New video page offers
            (`FENTA_WORKFLOWS_DIR`); None: `FENTA_HOME/workflows` (see `workflow_folder`).
        publish_urls: Publishing services whose host is redirected (`PUBLISH_URL_VARS`: service -> base
            URL); the others use the vendors' hosts.
        publish_env: Publishing accounts given by environment variables (`PUBLISH_ENV`: platform ->
            field -> value), used when a publish node names no account.
        publish_accounts: The accounts untrusted workflows may publish with (`FENTA_PUBLISH_ACCOUNTS`,
            commas between `youtube` (the platform's default account) or `youtube:NAME` entries).
    """

    home: Path
    keys: dict[str, str] = field(default_factory=dict, repr=False)
    urls: dict[str, str] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)
    kie_upload_url: str | None = None
    backoff_scale: float = 1.0
    kie_time_scale: float = 1.0
    publish_time_scale: float = 1.0
    debug: bool = False
    ffmpeg: str | None = None
    kie_webhook_secret: str | None = field(default=None, repr=False)
    org_id: str = "local"
    webhook_retry_scale: float = 1.0
    scheduler_poll: float = 5.0
    retry_base_seconds: float = DEFAULT_JOB_RETRY_BASE
    max_retries: int = DEFAULT_MAX_RETRIES
    lease_seconds: float = 30.0
    heartbeat_seconds: float = 5.0
    poll_seconds: float = 0.5
    api_token: str | None = field(default=None, repr=False)
    sync: bool = False
    dask_address: str | None = None
    allowed_dirs: tuple[Path, ...] = ()
    allowed_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    rate_limit: str = "600/minute"
    max_body_mb: float = 10.0
    max_upload_mb: float = 500.0
    cors_origins: tuple[str, ...] = ()
    log_format: str = "text"
    workflows_dir: Path | None = None
    publish_urls: dict[str, str] = field(default_factory=dict)
    publish_env: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)
    publish_accounts: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, cwd: Path | None = None) -> Settings:
        merged = _dotenv((cwd or Path.cwd()) / ".env")
        merged.update(os.environ if env is None else env)
        home = Path(merged.get("FENTA_HOME") or platformdirs.user_data_dir("fenta", appauthor=False))
        keys = {name: merged[var] for name, var in KEY_NAMES.items() if merged.get(var)}
        urls = {
            name: merged.get(_URL_VARS[name], default).rstrip("/") for name, default in DEFAULT_URLS.items()
        }
        secret = merged.get(KIE_WEBHOOK_SECRET_VAR) or None
        token = (merged.get("FENTA_API_TOKEN") or "").strip() or None
        return cls(
            home=home.expanduser(),
            keys=keys,
            urls=urls,
            kie_webhook_secret=secret,
            api_token=token,
            **_tuning(merged),
        )

    @property
    def db_path(self) -> Path:
        return self.home / "fenta.db"

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"

    @property
    def workflow_folder(self) -> Path:
        """The server's workflow folder (`FENTA_WORKFLOWS_DIR`, default `FENTA_HOME/workflows`)."""
        return self.workflows_dir or self.home / "workflows"

    def redact(self, text: str) -> str:
        """Replace every known key value (the webhook secret, publishing credentials and tokens) in
        `text` with `***`."""
        env = [v for each in self.publish_env.values() for k, v in each.items() if k not in _PUBLIC_FIELDS]
        hidden = sorted(_HIDDEN, key=len, reverse=True)  # a longer secret first: it may hold a shorter one
        for value in [*self.keys.values(), self.kie_webhook_secret, self.api_token, *env, *hidden]:
            if value and len(value) >= 4:
                text = text.replace(value, "***")
        return text
