"""Where a run's files go: the output folder and base name, checked before anything runs.

Naming rule (documented in the README):

- `out` is a folder (`renders/`), or a file name ending in `.mp4` (`renders/clip.mp4`: folder
  `renders`, base name `clip`); `name` sets the base name too. By default the base name is the
  workflow's name. A `--preview` run adds `.preview` (`clip.preview.mp4`), so a draft never
  replaces the full render; when two nodes would publish the same file name (two Render nodes),
  each adds its node id (`clip-wide.mp4`, `clip-square.mp4`).
- A file is never replaced when an earlier job (or anything else) wrote it, unless its content is
  identical: the run takes the next free base name instead (`clip-2.mp4`, `clip-3.mp4`, ...) for
  all of its files together, and reports the real paths. A job may replace its own files (resume),
  and `overwrite=True` (`--overwrite`) replaces whatever is there.
"""

from __future__ import annotations

import filecmp
import os
import tempfile
from pathlib import Path
from typing import Callable, Iterable

from ..errors import PathError

__all__ = ["resolve_output", "check_writable", "check_home", "slug", "free_stem", "same_content"]

_BAD_NAME_CHARS = ("/", "\\", "\0")


def slug(name: str) -> str:
    """A file-name-safe version of a workflow name."""
    keep = "".join(c if c.isalnum() or c in "-_." else "-" for c in name).strip("-.")
    return keep or "video"


def resolve_output(out: str | os.PathLike, name: str | None = None) -> tuple[Path, str | None]:
    """(folder, base name or None) for `-o OUT [--name NAME]`, checked and made absolute.

    Raises:
        PathError: `out` is an existing file that is not an MP4 name, the name is not a plain
            file name, `out.mp4` and `name` disagree, or the folder cannot be created or written.
    """
    path = Path(out).expanduser()
    if name is not None:
        name = name.removesuffix(".mp4")
        if not name.strip() or name in (".", "..") or any(c in name for c in _BAD_NAME_CHARS):
            raise PathError(f"--name {name!r} must be a plain file name (no folders)")
    if path.suffix.lower() == ".mp4" and not path.is_dir():
        stem = path.stem
        if name is not None and name != stem:
            raise PathError(f"-o {out} names the file '{stem}' and --name says '{name}': give one of them")
        folder, name = path.parent, stem
    else:
        if path.exists() and not path.is_dir():
            raise PathError(f"-o {out} is a file, not a folder (give a folder, or a new file name ending in .mp4)")
        folder = path
    folder = Path(os.path.abspath(folder))
    check_writable(folder, "output folder")
    return folder, name


def check_writable(folder: Path, what: str) -> None:
    """Prove `folder` can be created and written by really writing a file in it (or in the
    nearest folder above it that exists): permission bits say little when running as root.

    Raises:
        PathError: naming the folder and the system's reason.
    """
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise PathError(f"cannot create the {what} {folder}: {probe} is a file")
    try:
        fd, tmp = tempfile.mkstemp(prefix=".fenta-write-test-", dir=probe)
    except OSError as e:
        raise PathError(f"cannot write to the {what} {folder}: {e.strerror or e}") from None
    os.close(fd)
    os.unlink(tmp)


def check_home(home: Path) -> None:
    """`FENTA_HOME` (database, cache, logs) must be a folder fenta can create and write.

    Raises:
        PathError: naming the folder and the reason.
    """
    check_writable(home, "FENTA_HOME folder")
    try:
        for sub in (home, home / "cache" / "tmp", home / "logs"):
            sub.mkdir(parents=True, exist_ok=True)
        check_writable(home / "cache" / "tmp", "FENTA_HOME cache folder")
    except OSError as e:
        raise PathError(f"cannot write to the FENTA_HOME folder {home}: {e.strerror or e}") from None


def same_content(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True when `b` is `a` (a hard link) or holds the same bytes."""
    try:
        if os.path.samefile(a, b):
            return True
        return os.path.getsize(a) == os.path.getsize(b) and filecmp.cmp(a, b, shallow=False)
    except OSError:
        return False


def free_stem(stem: str, files: Callable[[str], Iterable[tuple[Path, str | None]]], *, may_replace: Callable[[Path], bool]) -> str:
    """The first of `stem`, `stem-2`, `stem-3`, ... under which every file is free.

    Args:
        files: stem -> (destination, source or None) for every file published under that stem.
        may_replace: whether an existing destination may be replaced (this job's own file).

    A destination is free when it does not exist, `may_replace` allows it, or it already holds
    the source's bytes.
    """
    n = 1
    while True:
        candidate = stem if n == 1 else f"{stem}-{n}"
        if all(not dest.exists() or may_replace(dest) or (src is not None and same_content(src, dest)) for dest, src in files(candidate)):
            return candidate
        n += 1
