"""Cache keys (a content hash of type, version, params, inputs, extra material), and the cache's
size and pruning (`fenta cache`).

The cache is `FENTA_HOME/cache`: `blobs/` (node results, named by the hash of their bytes, indexed
by the `node_cache` table), `tts/` (synthesised speech chunks) and `tmp/` (node scratch folders).
Pruning removes index rows first and files after, so an entry never names a missing file for long;
a node whose cached files are gone simply runs again (here and on `fenta resume`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .records import Job
    from .store import JobStore

__all__ = [
    "cache_key",
    "files_exist",
    "cache_files",
    "CacheUsage",
    "PruneResult",
    "usage",
    "prune",
    "parse_age",
    "parse_size",
    "human_size",
]


def cache_key(node_type: str, version: str, params: Any, inputs: Any, extra: Any = None) -> str:
    blob = json.dumps(
        {"type": node_type, "version": version, "params": params, "inputs": inputs, "extra": extra},
        sort_keys=True,
        default=str,
        ensure_ascii=False,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def _paths(value: Any) -> list[str]:
    if isinstance(value, dict):
        out = []
        for k, v in value.items():
            if k in ("path", "ass_path", "srt_path") and isinstance(v, str):
                out.append(v)
            else:
                out += _paths(v)
        return out
    if isinstance(value, list):
        return [p for v in value for p in _paths(v)]
    return []


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def cache_files(output: Any, cache_dir: Path) -> set[Path]:
    """Every file inside `cache_dir` that an output names (under any key: `path`, `video`,
    `subtitles_ass`, a timeline's segments...)."""
    root = os.path.join(os.path.abspath(cache_dir), "")
    return {Path(s) for s in _strings(output) if s.startswith(root)}


def files_exist(output: dict[str, Any], cache_dir: Path | None = None) -> bool:
    """True when every file a cached output names is still on disk (with `cache_dir`: also every
    cache file it names under any key, so a pruned file makes the node run again)."""
    paths = [Path(p) for p in _paths(output)]
    if cache_dir is not None:
        paths += cache_files(output, cache_dir)
    return all(p.exists() for p in paths)


# --------------------------------------------------------------------------- sizes and ages

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_size(text: str) -> int:
    """'2G', '500M', '1.5GB', '100k', '4096' -> bytes (binary units: 1K = 1024).

    Raises:
        ValueError: with a message naming the accepted forms.
    """
    m = _SIZE.match(text)
    if not m:
        raise ValueError(f"'{text}' is not a size: use a number with K, M, G or T (for example 500M or 2G)")
    return int(float(m.group(1)) * 1024 ** " kmgt".index(m.group(2).lower() or " "))


def parse_age(text: str) -> float:
    """'30d', '12h', '90m', '2w', '45s' -> seconds.

    Raises:
        ValueError: with a message naming the accepted forms.
    """
    m = _AGE.match(text)
    if not m:
        raise ValueError(
            f"'{text}' is not an age: use a number with s, m, h, d or w (for example 30d or 12h)"
        )
    return float(m.group(1)) * _AGE_UNITS[m.group(2).lower()]


def human_size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


# --------------------------------------------------------------------------- what the cache holds


@dataclass
class _Item:
    """Something prunable: an index entry (its files) or loose files (a tts chunk, a scratch folder)."""

    used: float
    files: set[Path]
    key: str | None = None  # node_cache key for an entry


@dataclass
class _Scan:
    sizes: dict[Path, int]
    mtimes: dict[Path, float]
    entries: list[_Item]
    stale: list[str]  # entry keys naming files that are gone
    loose: list[_Item]
    guard: float | None  # nothing used or written at or after this time is touched
    live: list[Job]
    protected: set[Path]


def _area(cache_dir: Path, path: Path) -> str:
    rel = path.relative_to(cache_dir).parts
    return rel[0] if len(rel) > 1 else "other"


def _scan(store: JobStore, cache_dir: Path, now: float) -> _Scan:
    cache_dir = Path(os.path.abspath(cache_dir))
    live = store.live_jobs()
    guard = min([now] + [j.started_at or now for j in live])
    sizes: dict[Path, int] = {}
    mtimes: dict[Path, float] = {}
    tmp = cache_dir / "tmp"
    scratch: dict[Path, list[Path]] = {}
    if cache_dir.is_dir():
        for root, _dirs, names in os.walk(cache_dir):
            for n in names:
                p = Path(root) / n
                try:
                    st = p.lstat()
                except OSError:
                    continue
                sizes[p], mtimes[p] = st.st_size, st.st_mtime
                if p.is_relative_to(tmp) and p.parent != tmp:
                    scratch.setdefault(tmp / p.relative_to(tmp).parts[0], []).append(p)
        if tmp.is_dir():
            for d in tmp.iterdir():
                if d.is_dir():
                    scratch.setdefault(d, [])
    entries, stale, referenced = [], [], set()
    for key, output, used_at in store.cache_entries():
        files = cache_files(output, cache_dir)
        if not files_exist(output, cache_dir):
            stale.append(key)
            continue
        entries.append(_Item(used=used_at, files=files, key=key))
        referenced |= files
    protected: set[Path] = set()
    for job in live:
        for ck in store.checkpoints(job.id).values():
            protected |= cache_files(ck["output"], cache_dir)
    loose_groups: dict[Path, set[Path]] = {}
    for p in sizes:
        if p in referenced or p.is_relative_to(tmp):
            continue
        loose_groups.setdefault(p.with_suffix(""), set()).add(p)  # a tts chunk's .wav and .json go together
    loose = [_Item(used=max(mtimes[f] for f in fs), files=fs) for fs in loose_groups.values()]
    for d, fs in scratch.items():
        try:
            used = max([d.stat().st_mtime] + [mtimes[f] for f in fs])
        except OSError:
            continue
        loose.append(_Item(used=used, files=set(fs) | {d}))
    return _Scan(sizes, mtimes, entries, stale, loose, guard, live, protected)


@dataclass
class CacheUsage:
    """What `fenta cache` shows."""

    folder: str
    bytes: int
    files: int
    entries: int
    areas: dict[str, dict[str, int]]
    oldest_use: float | None
    newest_use: float | None
    running_jobs: list[str]
    stale_entries: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def usage(store: JobStore, cache_dir: Path) -> CacheUsage:
    """Size of the cache by area (blobs, tts, tmp), its entries and when they were last used."""
    scan = _scan(store, cache_dir, time.time())
    root = Path(os.path.abspath(cache_dir))
    areas: dict[str, dict[str, int]] = {}
    for p, n in scan.sizes.items():
        a = areas.setdefault(_area(root, p), {"files": 0, "bytes": 0})
        a["files"] += 1
        a["bytes"] += n
    uses = [e.used for e in scan.entries]
    return CacheUsage(
        folder=str(root),
        bytes=sum(scan.sizes.values()),
        files=len(scan.sizes),
        entries=len(scan.entries),
        areas=areas,
        oldest_use=min(uses) if uses else None,
        newest_use=max(uses) if uses else None,
        running_jobs=[j.id for j in scan.live],
        stale_entries=len(scan.stale),
    )


@dataclass
class PruneResult:
    """What `fenta cache prune` removed (or, with `dry_run`, would remove)."""

    entries: int = 0
    files: int = 0
    bytes: int = 0
    kept_bytes: int = 0
    kept_in_use: int = 0  # files kept because a running job uses them (or wrote them since it started)
    running_jobs: list[str] = field(default_factory=list)
    dry_run: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def prune(
    store: JobStore,
    cache_dir: Path,
    *,
    older_than: float | None = None,
    max_size: int | None = None,
    dry_run: bool = False,
    now: float | None = None,
) -> PruneResult:
    """Remove cache entries (and the files only they use) last used more than `older_than`
    seconds ago, then the least recently used ones until the cache holds at most `max_size`
    bytes. Entries whose files are already gone are always dropped.

    Never touched: what a running job (a live process) has checkpointed, and anything used or
    written since the oldest running job started. A removed entry only means its node runs again.
    """
    now = time.time() if now is None else now
    scan = _scan(store, cache_dir, now)
    guard = scan.guard if scan.guard is not None else now
    refs: dict[Path, int] = {}
    for e in scan.entries:
        for f in e.files:
            refs[f] = refs.get(f, 0) + 1

    def in_use(p: Path) -> bool:
        return p in scan.protected or scan.mtimes.get(p, 0) >= guard

    items = sorted(scan.entries + scan.loose, key=lambda i: i.used)
    total = sum(scan.sizes.values())
    chosen: list[_Item] = []
    freed: set[Path] = set()

    def take(item: _Item) -> None:
        nonlocal total
        chosen.append(item)
        for f in item.files:
            if item.key is not None:
                refs[f] -= 1
                if refs[f] > 0:
                    continue
            if f not in freed and not in_use(f):
                freed.add(f)
                total -= scan.sizes.get(f, 0)

    for item in items:
        if item.used >= guard:
            continue
        if older_than is not None and item.used < now - older_than:
            take(item)
        elif max_size is not None and total > max_size:
            take(item)
    result = PruneResult(running_jobs=[j.id for j in scan.live], dry_run=dry_run)
    result.entries = len(scan.stale) + sum(1 for i in chosen if i.key is not None)
    result.files = sum(1 for f in freed if f in scan.sizes)
    result.bytes = sum(scan.sizes.get(f, 0) for f in freed)
    result.kept_bytes = total
    result.kept_in_use = sum(1 for i in chosen for f in i.files if f in scan.sizes and in_use(f))
    if dry_run:
        return result
    # Index rows first (a row used since the scan stays, and so do its files), files after.
    keys = [i.key for i in chosen if i.key is not None]
    gone: set[str] = set()
    with store.write() as tx:
        for key in scan.stale:
            tx.cache_drop(key)
        for key in keys:
            if tx.cache_drop_unused(key, since=guard):
                gone.add(key)
    kept_by_row = {f for i in chosen if i.key is not None and i.key not in gone for f in i.files}
    for f in sorted(freed, key=lambda p: len(p.parts), reverse=True):
        if f in kept_by_row:
            continue
        try:
            if f.is_dir():
                shutil.rmtree(f, ignore_errors=True)
            else:
                f.unlink()
        except FileNotFoundError:
            pass
    _remove_empty_dirs(Path(cache_dir))
    return result


def _remove_empty_dirs(cache_dir: Path) -> None:
    for area in ("blobs", "tts"):
        root = cache_dir / area
        if not root.is_dir():
            continue
        for d in sorted((p for p in root.iterdir() if p.is_dir()), reverse=True):
            try:
                d.rmdir()
            except OSError:
                pass
