"""The library's tables in `fenta.db`, opened without the engine (same pragmas as the job store).

Created when missing, additively (CREATE ... IF NOT EXISTS) inside BEGIN IMMEDIATE, so many processes
may open the file at once: one writes the tables, the others find them done.
"""

from __future__ import annotations

from pathlib import Path

import sqlite_utils

from ..database import add_schema, open_database

_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS assets (
    id TEXT PRIMARY KEY,             -- the first 12 hex digits of sha256
    sha256 TEXT NOT NULL UNIQUE,     -- of the file's bytes: the same file added twice is one asset
    kind TEXT NOT NULL,              -- video | image | audio
    path TEXT NOT NULL,              -- the stored copy under FENTA_HOME/library/files
    name TEXT NOT NULL,              -- the file name it was added under
    origin TEXT NOT NULL,            -- file | url | stock | ai
    source TEXT,                     -- the path, URL or page it came from
    bytes INTEGER NOT NULL,
    duration REAL,
    width INTEGER,
    height INTEGER,
    fps REAL,
    video_codec TEXT,
    audio_codec TEXT,
    has_audio INTEGER NOT NULL DEFAULT 0,
    loudness REAL,                   -- integrated loudness (LUFS, EBU R128) of its audio
    thumbnail TEXT,                  -- a JPEG under FENTA_HOME/library/thumbs
    provenance TEXT NOT NULL DEFAULT '{}', -- JSON: query or prompt, model, cost, credit line
    created_at REAL NOT NULL
)""",
    "CREATE INDEX IF NOT EXISTS assets_source ON assets(origin, source)",
    """CREATE TABLE IF NOT EXISTS asset_tags (
    asset_id TEXT NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    PRIMARY KEY (asset_id, tag)
)""",
    "CREATE INDEX IF NOT EXISTS asset_tags_tag ON asset_tags(tag)",
    """CREATE TABLE IF NOT EXISTS asset_urls (  -- every URL an asset was downloaded from: fetched once
    url TEXT PRIMARY KEY,
    asset_id TEXT NOT NULL REFERENCES assets(id) ON DELETE CASCADE
)""",
]
_NAMES = {"assets", "assets_source", "asset_tags", "asset_tags_tag", "asset_urls"}


def open_db(path: Path) -> sqlite_utils.Database:
    """`fenta.db` with the library's tables (created when missing).

    Raises:
        PathError: the folder or the file cannot be created, opened or written (`FENTA_HOME`).
    """
    return open_database(
        path, "the asset library in", ensure=lambda conn: add_schema(conn, statements=_SCHEMA, names=_NAMES)
    )
