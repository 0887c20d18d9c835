"""What a hosted row's id and a file's name may become: a folder here, a key in Storage.

A hosted row's `id` comes from whoever inserted the row (a web app's user, under the shipped RLS policy),
so it becomes the folder `FENTA_HOME/hosted/{id}` and the Storage prefix `renders/{id}/` only when it is
one plain segment: a UUID or `[A-Za-z0-9][A-Za-z0-9_-]{0,63}` (`remote_id_problem`). Anything else
(`../x`, `/abs`, `a/b`, 65 characters) is refused before any folder or request is made.

Storage object keys are built here from checked segments only (`object_key`) and percent-encoded on the
wire (`url_path`): a raw `#` would end the URL's path (the rest became a fragment, so a video and its
thumbnail both landed on `renders/<job>/clip`), a raw `?` would start its query, and a `..` segment would
be collapsed by the HTTP client into another bucket. Supabase Storage itself takes only ASCII letters,
digits and ``_/!-.*'() &$@=;:+,?`` in a key (anything else is `400 InvalidKey`, supabase/storage
`isValidKey`), so a local file name keeps those characters and every other one becomes `_` (accents are
dropped first: `é` -> `e`); the row records exactly the key the file was stored under.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any
from urllib.parse import quote

from ...errors import SyncError

__all__ = ["remote_id_problem", "shown_id", "object_name", "object_key", "check_key", "url_path"]

#: A hosted row id that may name a folder and a Storage prefix (a canonical UUID matches it too).
_REMOTE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
#: The characters Supabase Storage accepts in an object key, `/` apart (supabase/storage `isValidKey`).
_KEY_CHARS = re.compile(r"[A-Za-z0-9_!\-.*'() &$@=;:+,?]")
#: A bucket name as fenta uses them (`renders`).
_BUCKET = re.compile(r"[a-z0-9][a-z0-9_-]*")


def remote_id_problem(value: Any) -> str | None:
    """Why a hosted row's id cannot name a folder or a Storage prefix (None: it can)."""
    if not isinstance(value, str) or not _REMOTE_ID.fullmatch(value):
        return (
            "its id is not a UUID or 1 to 64 letters, digits, '_' and '-' (starting with a letter or digit), "
            "so it cannot name a folder or a Storage key"
        )
    return None


def shown_id(value: Any) -> str:
    """A hosted row's id for a log line: as it is when plain, else quoted and escaped (cut at 80)."""
    if remote_id_problem(value) is None:
        return str(value)
    text = ascii(str(value))
    return text if len(text) <= 80 else text[:77] + "..."


def object_name(file_name: str) -> str:
    """The Storage object name of a local file: its name with every character Storage refuses in a key
    replaced by `_` (accents dropped first). `clip#1 ?%.mp4` -> `clip_1 ?_.mp4`."""
    out = []
    for c in unicodedata.normalize("NFKD", file_name):
        if _KEY_CHARS.fullmatch(c):
            out.append(c)
        elif not unicodedata.combining(c):
            out.append("_")
    return "".join(out)


def object_key(remote_id: str, file_name: str) -> str:
    """`{remote_id}/{object_name(file_name)}`, the key of a job's file in the bucket.

    Raises:
        SyncError: the id is not a plain id (`remote_id_problem`) or the name is no file name.
    """
    problem = remote_id_problem(remote_id)
    if problem:
        raise SyncError(f"hosted job {shown_id(remote_id)}: {problem}")
    name = object_name(file_name)
    if name.strip(".") == "" or "/" in file_name:
        raise SyncError(f"{ascii(file_name)} cannot be a Storage object name")
    return f"{remote_id}/{name}"


def check_key(bucket: str, key: str) -> None:
    """That `bucket/key` names an object inside `bucket`: every segment of `key` non-empty, not `.` or
    `..`, and made of the characters Storage accepts.

    Raises:
        SyncError: naming the key (never retried: the same key fails the same way).
    """
    if not _BUCKET.fullmatch(bucket):
        raise SyncError(f"{ascii(bucket)} is not a Storage bucket name")
    for segment in key.split("/"):
        if segment in ("", ".", "..") or not all(_KEY_CHARS.fullmatch(c) for c in segment):
            raise SyncError(f"{ascii(key)} is not a Storage key fenta builds: refused before any request")


def url_path(bucket: str, key: str) -> str:
    """`bucket/key` for a Storage URL: checked (`check_key`), percent-encoded, `/` kept between segments."""
    check_key(bucket, key)
    return f"{bucket}/{quote(key, safe='/')}"
