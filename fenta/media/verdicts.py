"""Answers about an executable, kept on disk until the executable or the question changes.

Checking an FFmpeg binary (its version, filters and encoders) or test-encoding with a hardware
encoder costs 50-500 ms; fenta asks once per binary and keeps the answer in a small JSON file in
FENTA_HOME/cache:

    verdicts = BinaryVerdicts(cache_dir / "encoders.json", table_key)
    answer = verdicts.get(ffmpeg_path, "nvenc", lambda: {"ok": False, "problem": "no device"})

Answers are kept per resolved path, stamped with the binary's mtime and size and with `table_key`
(a digest of what was asked: the requirements table, the test command); a new binary or a changed
table is asked again.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["BinaryVerdicts"]

_lock = threading.Lock()  # one lock for every file: verdicts are rare and quick to read


class BinaryVerdicts:
    """One JSON file of answers per binary (see the module docstring).

    Args:
        file: The JSON file (created on the first answer; an unreadable one counts as empty).
        table_key: Changes when the question changes, so older answers are asked again.
    """

    def __init__(self, file: Path, table_key: str) -> None:
        self.file = file
        self.table_key = table_key

    def get(self, binary: str, name: str, ask: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """The answer `name` for `binary`: from the file when still valid, else `ask()` (then kept).

        A binary that cannot be stat-ed is asked every time (there is nothing to stamp the answer with).
        """
        real = os.path.realpath(binary)
        try:
            st = os.stat(real)
        except OSError:
            return ask()
        stamp = {"mtime_ns": st.st_mtime_ns, "size": st.st_size, "table": self.table_key}
        with _lock:
            cache = self._read()
            entry = cache.get(real)
            if not (isinstance(entry, dict) and all(entry.get(k) == v for k, v in stamp.items())):
                entry = {**stamp, "answers": {}}
            answers = entry.setdefault("answers", {})
            if isinstance(answers.get(name), dict):
                return answers[name]
            answers[name] = ask()
            cache[real] = entry
            self._write(cache)
            return answers[name]

    def _read(self) -> dict[str, Any]:
        try:
            cache = json.loads(self.file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return cache if isinstance(cache, dict) else {}

    def _write(self, cache: dict[str, Any]) -> None:
        try:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.file.with_name(f".{self.file.name}.{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_text(json.dumps(cache, indent=1), encoding="utf-8")
            os.replace(tmp, self.file)  # readers never see half a file
        except OSError:
            pass  # an unwritable FENTA_HOME costs the question on the next run, nothing else
