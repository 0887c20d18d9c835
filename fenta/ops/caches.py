"""What `fenta cache` and `fenta cache prune` cover: the node cache and the template previews' own.

Template previews run against a private FENTA_HOME (`FENTA_HOME/previews`, see `ops.previews`) with
its own job store and cache, so they stay out of `fenta jobs`. The engine's `usage` and `prune` work
on one store and its cache folder; here both are taken together. The previews' cache is one more
area of the report ("previews"), counted in the totals. An age limit applies to both alike. A size
limit is met by pruning previews first: a preview is rebuilt offline in seconds, while a node
result may have cost money (an AI image, a paid voice).
"""

from __future__ import annotations

from ..config import Settings
from ..engine.cache import CacheUsage, PruneResult, prune, usage
from ..engine.store import JobStore
from .previews import preview_settings

__all__ = ["PREVIEWS", "cache_usage", "prune_caches"]

#: The area name of the previews' cache in `CacheUsage.areas`.
PREVIEWS = "previews"


def _usage(settings: Settings) -> CacheUsage:
    store = JobStore(settings.db_path)
    try:
        return usage(store, settings.cache_dir)
    finally:
        store.close()


def _prune(settings: Settings, **limits) -> PruneResult:
    store = JobStore(settings.db_path)
    try:
        return prune(store, settings.cache_dir, **limits)
    finally:
        store.close()


def _previews(settings: Settings) -> Settings | None:
    """The previews' settings, or None when no preview was ever made (nothing is created then)."""
    p = preview_settings(settings)
    return p if p.db_path.exists() else None


def cache_usage(settings: Settings | None = None) -> CacheUsage:
    """The cache's size by area (blobs, tts, tmp and previews), its entries and when they were last used."""
    settings = settings or Settings.from_env()
    u = _usage(settings)
    previews = _previews(settings)
    if previews is None:
        return u
    p = _usage(previews)
    u.areas[PREVIEWS] = {"files": p.files, "bytes": p.bytes, "entries": p.entries}
    u.bytes += p.bytes
    u.files += p.files
    u.entries += p.entries
    u.stale_entries += p.stale_entries
    u.running_jobs += p.running_jobs
    uses = [t for t in (u.oldest_use, u.newest_use, p.oldest_use, p.newest_use) if t is not None]
    u.oldest_use, u.newest_use = (min(uses), max(uses)) if uses else (None, None)
    return u


def prune_caches(
    settings: Settings | None = None,
    *,
    older_than: float | None = None,
    max_size: int | None = None,
    dry_run: bool = False,
    now: float | None = None,
) -> PruneResult:
    """Prune the node cache and the previews' cache (see the module's docstring for the order).

    Never touched: what a running job or preview uses. Returns the totals of both.
    """
    settings = settings or Settings.from_env()
    previews = _previews(settings)
    if previews is None:
        return _prune(settings, older_than=older_than, max_size=max_size, dry_run=dry_run, now=now)
    p_limit = None
    if max_size is not None:
        # What the node cache will hold after the age limit: the previews get the rest of the budget.
        main_after_age = _prune(settings, older_than=older_than, dry_run=True, now=now).kept_bytes
        p_limit = max(0, max_size - main_after_age)
    p = _prune(previews, older_than=older_than, max_size=p_limit, dry_run=dry_run, now=now)
    m_limit = None if max_size is None else max(0, max_size - p.kept_bytes)
    m = _prune(settings, older_than=older_than, max_size=m_limit, dry_run=dry_run, now=now)
    return PruneResult(
        entries=m.entries + p.entries,
        files=m.files + p.files,
        bytes=m.bytes + p.bytes,
        kept_bytes=m.kept_bytes + p.kept_bytes,
        kept_in_use=m.kept_in_use + p.kept_in_use,
        running_jobs=m.running_jobs + p.running_jobs,
        dry_run=dry_run,
    )
