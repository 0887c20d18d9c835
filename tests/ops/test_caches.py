"""`fenta cache` / `fenta cache prune` cover the template previews' own cache (FENTA_HOME/previews)."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

from fenta.config import Settings
from fenta.engine.runner import run_async
from fenta.engine.spec import loads
from fenta.engine.store import JobStore
from fenta.ops.caches import PREVIEWS, cache_usage, prune_caches
from fenta.ops.previews import preview_settings
from tests.cli.test_run_outputs import TINY

DAY = 86400


def _fill(settings: Settings, tmp_path: Path, script: str) -> None:
    """Run a tiny workflow against `settings`' FENTA_HOME, as a preview or a run fills its cache."""
    wf = loads(TINY.replace("Hi there.", script))
    result = asyncio.run(run_async(wf, out=str(tmp_path / "out"), overwrite=True, settings=settings))
    assert result.status == "completed", result.error


def _age(settings: Settings, days: float) -> None:
    """Pretend everything in this cache was last used `days` ago."""
    store = JobStore(settings.db_path)
    store.db.conn.execute("UPDATE node_cache SET used_at = used_at - ?", (days * DAY,))
    store.close()
    for root, _dirs, names in os.walk(settings.cache_dir):
        for n in names:
            p = Path(root) / n
            st = p.stat()
            os.utime(p, (st.st_atime - days * DAY, st.st_mtime - days * DAY))


def _bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _entries(settings: Settings) -> int:
    store = JobStore(settings.db_path)
    try:
        return store.db.conn.execute("SELECT count(*) FROM node_cache").fetchone()[0]
    finally:
        store.close()


def test_the_previews_cache_is_an_area_of_the_cache_and_counted_in_its_size(fenta_home, tmp_path):
    settings = Settings.from_env()
    previews = preview_settings(settings)
    _fill(settings, tmp_path, "A run.")
    _fill(previews, tmp_path, "A preview.")
    u = cache_usage(settings)
    assert u.areas[PREVIEWS]["bytes"] == _bytes(previews.cache_dir) > 0
    assert u.bytes == _bytes(settings.cache_dir) + _bytes(previews.cache_dir)
    assert u.entries == _entries(settings) + _entries(previews)


def test_without_any_preview_nothing_is_added_or_created(fenta_home, tmp_path):
    settings = Settings.from_env()
    _fill(settings, tmp_path, "A run.")
    assert PREVIEWS not in cache_usage(settings).areas
    prune_caches(settings, older_than=0)
    assert not (fenta_home / "previews").exists()


def test_prune_older_than_removes_old_preview_entries_too(fenta_home, tmp_path):
    settings = Settings.from_env()
    previews = preview_settings(settings)
    _fill(previews, tmp_path, "A preview.")
    _age(previews, 60)
    r = prune_caches(settings, older_than=30 * DAY)
    assert r.entries >= 4 and _entries(previews) == 0
    assert _bytes(previews.cache_dir / "blobs") == 0


def test_prune_to_a_size_takes_previews_before_node_results_even_newer_ones(fenta_home, tmp_path):
    settings = Settings.from_env()
    previews = preview_settings(settings)
    _fill(settings, tmp_path, "An older run that may have cost money.")
    _age(settings, 2)
    _fill(previews, tmp_path, "A newer preview.")
    main_before = _entries(settings)
    r = prune_caches(settings, max_size=_bytes(settings.cache_dir), now=time.time() + 60)
    assert _entries(previews) == 0 and _entries(settings) == main_before
    assert r.kept_bytes <= _bytes(settings.cache_dir) + _bytes(previews.cache_dir)


def test_prune_dry_run_of_previews_removes_nothing(fenta_home, tmp_path):
    settings = Settings.from_env()
    previews = preview_settings(settings)
    _fill(previews, tmp_path, "A preview.")
    before = _bytes(previews.cache_dir)
    r = prune_caches(settings, max_size=0, dry_run=True, now=time.time() + 60)
    assert r.dry_run and r.bytes > 0 and _bytes(previews.cache_dir) == before


def test_fenta_cache_json_shows_the_previews_area(cli, fenta_home, tmp_path):
    _fill(preview_settings(Settings.from_env()), tmp_path, "A preview.")
    data = json.loads(cli("cache", "--json").stdout)
    assert data["areas"][PREVIEWS]["bytes"] > 0 and data["bytes"] == sum(
        a["bytes"] for a in data["areas"].values()
    )
    assert "template previews" in cli("cache").stdout
