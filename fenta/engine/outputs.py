"""Where a run's files go: the output folder and base name, checked before anything runs.

Naming rule (documented in the README):

- `out` is a folder (`renders/`), or a file name ending in `.mp4` (`renders/clip.mp4`: folder
  `renders`, base name `clip`); `name` sets the base name too. By default the base name is the
  workflow's name. A `--preview` run adds `.preview` (`clip.preview.mp4`), so a draft never
  replaces the full render; when two nodes would publish the same file name (two Render nodes),
  each adds its node id (`clip-wide.mp4`, `clip-square.mp4`).
- A name (`--name`, a batch row's `name`, the stem of `-o clip.mp4`) is one plain file name: no `/`, `\\`,
  `..`, NUL or other control characters, at most 200 bytes in UTF-8 (the files add suffixes such as
  `.timeline.json`, and file systems stop at 255). Spaces, `#`, `?`, `%` and any script are fine.
  It is checked before anything runs; a workflow's own name is cut to fit instead.
- A file is never replaced when an earlier job (or anything else) wrote it, unless its content is
  identical: the run takes the next free base name instead (`clip-2.mp4`, `clip-3.mp4`, ...) for
  all of its files together, and reports the real paths. A job may replace its own files (resume),
  and `overwrite=True` (`--overwrite`) replaces whatever is there.
"""

from __future__ import annotations

import filecmp
import os
import shutil
import tempfile
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import PathError
from .leases import pid_alive

if TYPE_CHECKING:  # the store is above this module: it is handed in
    from .store import JobStore

__all__ = [
    "resolve_output",
    "check_output",
    "check_writable",
    "check_home",
    "slug",
    "name_problem",
    "MAX_NAME_BYTES",
    "free_stem",
    "same_content",
    "publish",
    "unpublish",
    "Published",
]

#: The longest base name, in bytes of UTF-8: room for `-node.preview.timeline.json`, `-2` and the
#: temporary `.NAME.PID.part` within the 255 bytes most file systems allow in one name.
MAX_NAME_BYTES = 200
#: The longest file name most file systems take (NAME_MAX on Linux, macOS and Windows).
_NAME_MAX = 255
#: What publishing adds to a file's name at most: `-99` for a taken name, `.NAME.PID.part` meanwhile.
_PART_BYTES = len("-99") + len("..4194304.part")


def name_problem(name: str) -> str | None:
    """Why `name` cannot be a base name of output files (None: it can): one plain file name."""
    if not name.strip():
        return "is empty"
    for bad, why in (("/", "'/'"), ("\\", "'\\'"), ("\0", "NUL")):
        if bad in name:
            return f"has {why} in it: give a plain file name (no folders)"
    if name == "." or ".." in name:
        return "has '..' in it: give a plain file name (no folders)"
    control = next((c for c in name if unicodedata.category(c) in ("Cc", "Zl", "Zp")), None)
    if control is not None:
        return f"has the control character {control!a} in it"
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        return "is not valid text (it holds bytes that are not UTF-8)"
    if size > MAX_NAME_BYTES:
        return f"is {size} bytes long (UTF-8): at most {MAX_NAME_BYTES}"
    return None


def _shown(name: str) -> str:
    """A name in a message: quoted, control characters escaped, a long one cut."""
    text = name if len(name) <= 60 else name[:57] + "..."
    return repr(text) if any(unicodedata.category(c) == "Cc" for c in text) else f"'{text}'"


def slug(name: str) -> str:
    """A file-name-safe version of a workflow name (cut to `MAX_NAME_BYTES`)."""
    keep = "".join(c if c.isalnum() or c in "-_." else "-" for c in name).strip("-.")
    keep = keep.encode("utf-8")[:MAX_NAME_BYTES].decode("utf-8", "ignore").rstrip("-.")
    return keep or "video"


def check_output(out: str | os.PathLike[str], name: str | None = None) -> str | None:
    """The base name `-o OUT [--name NAME]` gives (None: the workflow's), checked without touching the disk.

    Raises:
        PathError: the name or the stem of `OUT.mp4` is not one plain file name (`name_problem`),
            or `OUT.mp4` and `name` disagree.
    """
    path = Path(out).expanduser()
    if name is not None:
        name = name.removesuffix(".mp4")
        problem = name_problem(name)
        if problem:
            raise PathError(f"--name {_shown(name)} {problem}")
    if path.suffix.lower() == ".mp4" and not path.is_dir():
        stem = path.stem
        problem = name_problem(stem)
        if problem:
            raise PathError(f"-o {_shown(str(out))}: the file name {_shown(stem)} {problem}")
        if name is not None and name != stem:
            raise PathError(f"-o {out} names the file '{stem}' and --name says '{name}': give one of them")
        return stem
    return name


def resolve_output(out: str | os.PathLike[str], name: str | None = None) -> tuple[Path, str | None]:
    """(folder, base name or None) for `-o OUT [--name NAME]`, checked and made absolute.

    Raises:
        PathError: `out` is an existing file that is not an MP4 name, the name is not a plain
            file name (`check_output`), `out.mp4` and `name` disagree, or the folder cannot be
            created or written.
    """
    name = check_output(out, name)
    path = Path(out).expanduser()
    if path.suffix.lower() == ".mp4" and not path.is_dir():
        folder = path.parent
    else:
        if path.exists() and not path.is_dir():
            raise PathError(
                f"-o {out} is a file, not a folder (give a folder, or a new file name ending in .mp4)"
            )
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
        if len(os.fsencode(probe.name)) > _NAME_MAX:  # mkdir would say "File name too long" only later
            raise PathError(
                f"cannot create the {what} {folder}: the folder name {_shown(probe.name)} "
                f"is longer than {_NAME_MAX} bytes"
            )
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


def same_content(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """True when `b` is `a` (a hard link) or holds the same bytes."""
    try:
        if os.path.samefile(a, b):
            return True
        return os.path.getsize(a) == os.path.getsize(b) and filecmp.cmp(a, b, shallow=False)
    except OSError:
        return False


def free_stem(
    stem: str,
    files: Callable[[str], Iterable[tuple[Path, str | None]]],
    *,
    may_replace: Callable[[Path], bool],
) -> str:
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
        if all(
            not dest.exists() or may_replace(dest) or (src is not None and same_content(src, dest))
            for dest, src in files(candidate)
        ):
            return candidate
        n += 1


@dataclass
class Published:
    """What `publish` did: kind -> path, and the files it created (removed again if the job is cancelled)."""

    paths: dict[str, str] = field(default_factory=dict)
    created: list[Path] = field(default_factory=list)


def _remove_stale_parts(dest: Path) -> None:
    """Temporary files of `dest` left by a process that died while publishing it."""
    for part in dest.parent.glob(f".{dest.name}.*.part"):
        pid = part.name[len(dest.name) + 2 : -len(".part")]
        alive = pid.isdigit() and int(pid) != os.getpid() and pid_alive(int(pid))
        if not alive:
            part.unlink(missing_ok=True)


def publish(
    sets: list[tuple[str, list[dict[str, Any]]]],
    out_dir: Path,
    options: dict[str, Any],
    workflow_name: str,
    store: JobStore,
    job_id: str,
    published: Published,
) -> Published:
    """Copy a job's artifacts from the cache into the output folder (temporary name, then rename).

    Args:
        sets: (node id, artifacts) for every node that left files for the user, in workflow order.
        options: The job's `name`, `preview` and `overwrite`.
        published: Filled as files land (so a cancel in the middle knows what to remove).

    Names follow the module docstring. Raises PathError when a file name would be too long for the
    file system (before anything is written), OSError when a file cannot be written.
    """
    if not sets:
        return published
    templates = {
        nid: [a["name"] if "{name}" in a["name"] else "{name}." + a["name"] for a in arts]
        for nid, arts in sets
    }
    seen: dict[str, str] = {}
    clashing: set[str] = set()
    for nid, names in templates.items():
        for n in names:
            if n in seen and seen[n] != nid:
                clashing |= {nid, seen[n]}
            seen.setdefault(n, nid)
    preview = ".preview" if options.get("preview") else ""

    def plan(stem: str) -> list[tuple[str, dict[str, Any], Path]]:
        out = []
        for nid, arts in sets:
            node_stem = f"{stem}-{nid}" if nid in clashing else stem
            for art, tmpl in zip(arts, templates[nid]):
                out.append((nid, art, out_dir / tmpl.replace("{name}", node_stem + preview)))
        return out

    base = options.get("name") or slug(workflow_name)
    for _, _, dest in plan(base):  # checked up front for --name; node ids and suffixes add to it
        size = len(os.fsencode(dest.name)) + _PART_BYTES
        if size > _NAME_MAX:
            raise PathError(
                f"cannot write {_shown(dest.name)}: with its temporary suffix the file name is "
                f"{size} bytes, longer than the {_NAME_MAX} a file system allows; "
                "give a shorter --name"
            )
    if options.get("overwrite"):
        stem = base
    else:
        own = {a["path"] for a in store.artifacts(job_id)}
        stem = free_stem(
            base,
            lambda st: [(dest, art["path"]) for _, art, dest in plan(st)],
            may_replace=lambda dest: str(dest) in own,
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    for nid, art, dest in plan(stem):
        key = art["kind"] if art["kind"] not in published.paths else f"{nid}.{art['kind']}"
        _remove_stale_parts(dest)
        if not (dest.exists() and _same_inode(art["path"], dest)):
            tmp = dest.with_name(f".{dest.name}.{os.getpid()}.part")
            tmp.unlink(missing_ok=True)  # left by an earlier attempt that failed here
            existed = dest.exists()
            try:
                try:
                    os.link(art["path"], tmp)
                except OSError:
                    shutil.copyfile(art["path"], tmp)
                os.replace(tmp, dest)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            if not existed:
                published.created.append(dest)
        published.paths[key] = str(dest)
        store.add_artifact(job_id, key, str(dest), duration=art.get("duration"))
    return published


def unpublish(store: JobStore, job_id: str, created: Iterable[Path]) -> None:
    """Remove the files an attempt created in the output folder, and their artifact rows (the job was
    cancelled)."""
    for path in created:
        path.unlink(missing_ok=True)
        store.remove_artifact(job_id, str(path))


def _same_inode(a: str, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False
