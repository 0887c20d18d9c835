"""Cache keys: a content hash of (type, version, params, inputs, extra material)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

__all__ = ["cache_key", "files_exist"]


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


def files_exist(output: dict[str, Any]) -> bool:
    """True when every file a cached output names is still on disk."""
    return all(Path(p).exists() for p in _paths(output))
