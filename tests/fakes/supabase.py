"""A fake Supabase project (api-contracts.md section 5) on 127.0.0.1: gateway, PostgREST, Storage, TUS.

- Gateway: every request needs `apikey` (401 "No API key found in request" / "Invalid API key", the
  gateway's own shape, no `code`); a Bearer that is neither the key nor a known user token reaches
  PostgREST as 401 PGRST301. Signed download URLs need no key.
- PostgREST: the tables of `fenta sync sql` in memory (unknown column: 400 PGRST204; unknown table: 404
  PGRST205); POST inserts one object or an array (all with the same keys, else 400 PGRST102), duplicate
  ids 409 23505 unless `on_conflict=id` + `Prefer: resolution=merge-duplicates` (then only the columns
  sent are merged); job_events/usage_records need their job (409 23503); GET/PATCH/DELETE filter with
  eq, neq, lt, lte, gt, gte, is, in and not.; select, order, limit, offset; `Prefer: return=` minimal or
  representation (201/204/200). A PATCH is atomic: two workers' conditional claims never both match.
- Storage: POST/PUT objects (409 as HTTP 400 + body statusCode "409" without `x-upsert`; unknown bucket
  400 + "404"), GET, signed URLs (`/object/sign/...`, relative to /storage/v1, the key not encoded, as
  Storage answers) and their token check. The object path in a URL is percent-decoded into the key (as
  Storage's router does), and a key with a character Storage refuses (anything but ASCII letters, digits
  and `_/!-.*'() &$@=;:+,?`: supabase/storage `isValidKey`) is 400 + "400" InvalidKey, TUS included.
- TUS (`/storage/v1/upload/resumable`): POST creates (Location), HEAD tells Upload-Offset, PATCH appends
  at the right offset only (409 otherwise), chunks of exactly 6 MiB but the last.

Faults: `fail_next(Reply(...))` (503, 401, a 409 inside a 400 ...), `offline` (every connection is
dropped), `drop_upload_after(n)` (the next TUS PATCH keeps n bytes, then the connection drops).

By hand: ``python -m tests.fakes.supabase [--port N]`` prints FENTA_API_URL and FENTA_API_KEY and serves
until Ctrl-C.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
import threading
import uuid
from typing import Any
from urllib.parse import unquote

import pytest

from tests.fakes._server import FakeServer, Reply, Request

KEY = "sb_secret_fake_0123456789abcdef"
CHUNK = 6 * 1024 * 1024

_JOB_DEFAULTS = {
    "user_id": None,
    "workflow_name": None,
    "status": "queued",
    "progress": 0,
    "current_node": None,
    "error": None,
    "retryable": None,
    "attempt": 0,
    "cost": 0,
    "duration": None,
    "video_path": None,
    "thumbnail_path": None,
    "srt_path": None,
    "stage_timings": {},
    "host": None,
    "document": None,
    "vars": {},
    "claimed_by": None,
    "lease_expires_at": None,
    "started_at": None,
    "finished_at": None,
}
#: table -> column defaults (created_at/updated_at are added on insert).
TABLES: dict[str, dict[str, Any]] = {
    "jobs": _JOB_DEFAULTS,
    "job_events": {"job_id": None, "type": None, "data": {}},
    "usage_records": {
        "job_id": None,
        "node_id": None,
        "provider": None,
        "model": None,
        "units": None,
        "quantity": None,
        "cost": None,
    },
}
_TIMESTAMPED = {
    "jobs": ("created_at", "updated_at"),
    "job_events": ("created_at",),
    "usage_records": ("created_at",),
}


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def pg_error(
    status: int, code: str, message: str, details: str | None = None, hint: str | None = None
) -> Reply:
    """A PostgREST error answer."""
    return Reply(status, {"code": code, "message": message, "details": details, "hint": hint})


def storage_error(status: str, code: str, error: str, message: str, http: int = 400) -> Reply:
    """A Storage error answer: HTTP 400 (most errors) with the real status as a string in the body."""
    return Reply(http, {"statusCode": status, "code": code, "error": error, "message": message})


UNAVAILABLE = pg_error(503, "PGRST002", "Could not query the database for the schema cache. Retrying.")
GATEWAY_NO_KEY = Reply(
    401,
    {"message": "No API key found in request", "hint": "No `apikey` request header or url param was found."},
)
GATEWAY_BAD_KEY = Reply(
    401,
    {"message": "Invalid API key", "hint": "Double check your Supabase `anon` or `service_role` API key."},
)
DUPLICATE_OBJECT = storage_error("409", "KeyAlreadyExists", "Duplicate", "The resource already exists")
#: supabase/storage's `isValidKey`: the characters an object key may hold (JavaScript's \w is ASCII only).
VALID_KEY = re.compile(r"(\w|/|!|-|\.|\*|'|\(|\)| |&|\$|@|=|;|:|\+|,|\?)*", re.ASCII)


def invalid_key(key: str) -> Reply:
    return storage_error("400", "InvalidKey", "InvalidKey", f"Invalid key: {key}")


def _compare(op: str, have: Any, want: str) -> bool:
    if op == "is":
        return {"null": have is None, "true": have is True, "false": have is False}.get(want.lower(), False)
    if op == "in":
        options = [v.strip().strip('"') for v in want.strip("()").split(",")]
        return have is not None and str(have) in options
    if have is None:
        return False
    if op in ("eq", "neq"):
        same = str(have).lower() == want.lower() if isinstance(have, bool) else str(have) == want
        return same if op == "eq" else not same
    try:
        a, b = float(have), float(want)
    except (TypeError, ValueError):
        a, b = str(have), want  # ISO timestamps in one format compare as text
    return {"lt": a < b, "lte": a <= b, "gt": a > b, "gte": a >= b}[op]


class _Headers(dict):
    """Request headers looked up by any case (clients send `content-type` or `Content-Type`)."""

    def __init__(self, headers: dict[str, str]) -> None:
        super().__init__({k.lower(): v for k, v in headers.items()})

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(key.lower(), default)


_RESERVED = {"select", "order", "limit", "offset", "on_conflict", "columns"}


class FakeSupabase(FakeServer):
    """Gateway + PostgREST subset + Storage + TUS, in memory."""

    def __init__(self, key: str = KEY) -> None:
        super().__init__()
        self.key = key
        self.db_lock = threading.RLock()
        self.secret = uuid.uuid4().bytes
        self.reset()
        self.route("GET", r"/rest/v1/(\w+)", self._select)
        self.route("POST", r"/rest/v1/(\w+)", self._insert)
        self.route("PATCH", r"/rest/v1/(\w+)", self._patch)
        self.route("DELETE", r"/rest/v1/(\w+)", self._delete)
        self.route("POST", r"/storage/v1/object/sign/([\w-]+)/(.+)", self._sign)
        self.route("GET", r"/storage/v1/object/sign/([\w-]+)/(.+)", self._signed_get)
        self.route("POST", r"/storage/v1/object/([\w-]+)/(.+)", self._put_object)
        self.route("PUT", r"/storage/v1/object/([\w-]+)/(.+)", self._put_object)
        self.route("GET", r"/storage/v1/object/([\w-]+)/(.+)", self._get_object)
        self.route("POST", r"/storage/v1/upload/resumable/?", self._tus_create)
        self.route("HEAD", r"/storage/v1/upload/resumable/(\w+)", self._tus_head)
        self.route("PATCH", r"/storage/v1/upload/resumable/(\w+)", self._tus_patch)

    def reset(self) -> None:
        """Empty tables, objects and uploads; forget requests and faults; back online."""
        with self.lock:
            self.requests.clear()
            self.faults.clear()
        with self.db_lock:
            self.tables: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in TABLES}
            self.buckets: dict[str, dict[str, tuple[bytes, str]]] = {"renders": {}}
            self.uploads: dict[str, dict[str, Any]] = {}
            self.user_tokens: set[str] = set()
            self.offline = False
            self._drop_after: list[int] = []

    def start(self, port: int = 0) -> FakeSupabase:
        super().start(port)
        handler = self._server.RequestHandlerClass  # type: ignore[union-attr]
        handler.do_HEAD = handler.do_GET  # TUS asks for offsets with HEAD (answered without a body)
        return self

    # -- switches ------------------------------------------------------------------------

    def drop_upload_after(self, nbytes: int, times: int = 1) -> None:
        """The next `times` TUS PATCHes keep their first `nbytes` bytes, then the connection drops."""
        with self.db_lock:
            self._drop_after += [nbytes] * times

    def queue_job(self, document: Any, vars: dict | None = None, **fields: Any) -> str:
        """Insert a job as the web app does (status queued, with a workflow); returns its id."""
        job_id = fields.pop("id", None) or str(uuid.uuid4())
        with self.db_lock:
            now = _now()
            self.tables["jobs"][job_id] = {
                **_JOB_DEFAULTS,
                "id": job_id,
                "document": document,
                "vars": vars or {},
                "created_at": now,
                "updated_at": now,
                **fields,
            }
        return job_id

    def object(self, key: str) -> tuple[bytes, str] | None:
        """(bytes, content type) stored at `bucket/path`."""
        bucket, _, path = key.partition("/")
        return self.buckets.get(bucket, {}).get(path)

    def rows(self, table: str) -> list[dict[str, Any]]:
        with self.db_lock:
            return [dict(r) for r in self.tables[table].values()]

    # -- gateway -------------------------------------------------------------------------

    def dispatch(self, req: Request) -> Reply:
        if self.offline:
            raise ConnectionResetError("the fake Supabase is offline")
        req.headers = _Headers(req.headers)
        if not req.path.startswith("/storage/v1/object/sign/") or req.method != "GET":
            key = req.headers.get("apikey") or req.q("apikey")
            if not key:
                return GATEWAY_NO_KEY
            if key != self.key:
                return GATEWAY_BAD_KEY
            bearer = (req.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
            if bearer and bearer != self.key and bearer not in self.user_tokens:
                if req.path.startswith("/storage/"):
                    return storage_error("400", "InvalidJWT", "Unauthorized", "invalid signature")
                return pg_error(
                    401,
                    "PGRST301",
                    "JWSError (CompactDecodeError Invalid number of parts: Expected 3 parts; got 1)",
                )
        reply = super().dispatch(req)
        if req.method == "HEAD":
            reply.body = b""
        return reply

    # -- PostgREST -----------------------------------------------------------------------

    def _table(self, name: str) -> dict[str, dict[str, Any]] | Reply:
        if name not in self.tables:
            return pg_error(404, "PGRST205", f"Could not find the table 'public.{name}' in the schema cache")
        return self.tables[name]

    @staticmethod
    def _prefer(req: Request) -> set[str]:
        return {p.strip() for p in (req.headers.get("Prefer") or "").split(",") if p.strip()}

    def _filters(self, req: Request) -> list[tuple[str, bool, str, str]] | Reply:
        out = []
        for col, values in req.query.items():
            if col in _RESERVED:
                continue
            for value in values:
                neg = value.startswith("not.")
                op, _, arg = value[4:].partition(".") if neg else value.partition(".")
                if op not in ("eq", "neq", "lt", "lte", "gt", "gte", "is", "in"):
                    return pg_error(400, "PGRST100", f'"failed to parse filter ({value})" (line 1, column 1)')
                out.append((col, neg, op, arg))
        return out

    def _matching(self, rows: dict[str, dict[str, Any]], filters: list) -> list[dict[str, Any]]:
        return [
            r
            for r in rows.values()
            if all(_compare(op, r.get(col), arg) != neg for col, neg, op, arg in filters)
        ]

    def _shape(self, req: Request, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        order = req.q("order")
        if order:
            for part in reversed(order.split(",")):
                col, _, direction = part.partition(".")
                rows.sort(
                    key=lambda r: (r.get(col) is None, str(r.get(col))), reverse=direction.startswith("desc")
                )
        offset = int(req.q("offset") or 0)
        limit = req.q("limit")
        rows = rows[offset : offset + int(limit) if limit else None]
        select = req.q("select")
        if select and select != "*":
            cols = select.split(",")
            rows = [{c: r.get(c) for c in cols} for r in rows]
        return [dict(r) for r in rows]

    def _check_columns(self, table: str, row: dict[str, Any]) -> Reply | None:
        known = set(TABLES[table]) | {"id", *_TIMESTAMPED[table]}
        for col in row:
            if col not in known:
                return pg_error(
                    400, "PGRST204", f"Could not find the '{col}' column of '{table}' in the schema cache"
                )
        return None

    def _select(self, req: Request, m: re.Match) -> Reply:
        with self.db_lock:
            rows = self._table(m.group(1))
            if isinstance(rows, Reply):
                return rows
            filters = self._filters(req)
            if isinstance(filters, Reply):
                return filters
            return Reply(200, self._shape(req, self._matching(rows, filters)))

    def _insert(self, req: Request, m: re.Match) -> Reply:
        name = m.group(1)
        try:
            body = req.json()
        except ValueError:
            return pg_error(400, "PGRST102", "Empty or invalid json")
        objects = body if isinstance(body, list) else [body]
        if not objects or not all(isinstance(o, dict) for o in objects):
            return pg_error(400, "PGRST102", "Empty or invalid json")
        if any(set(o) != set(objects[0]) for o in objects):
            return pg_error(400, "PGRST102", "All object keys must match")
        prefer = self._prefer(req)
        merge = "resolution=merge-duplicates" in prefer
        with self.db_lock:
            rows = self._table(name)
            if isinstance(rows, Reply):
                return rows
            staged = {k: dict(v) for k, v in rows.items()}
            out = []
            for obj in objects:
                bad = self._check_columns(name, obj)
                if bad:
                    return bad
                if (
                    name != "jobs"
                    and obj.get("job_id") is not None
                    and obj["job_id"] not in self.tables["jobs"]
                ):
                    return pg_error(
                        409,
                        "23503",
                        f'insert or update on table "{name}" violates foreign key constraint'
                        f' "{name}_job_id_fkey"',
                        f'Key (job_id)=({obj["job_id"]}) is not present in table "jobs".',
                    )
                row_id = obj.get("id") or str(uuid.uuid4())
                now = _now()
                if row_id in staged:
                    if not (merge and req.q("on_conflict") in (None, "id")):
                        return pg_error(
                            409,
                            "23505",
                            f'duplicate key value violates unique constraint "{name}_pkey"',
                            f"Key (id)=({row_id}) already exists.",
                        )
                    staged[row_id].update(obj)
                    if "updated_at" in _TIMESTAMPED[name]:
                        staged[row_id]["updated_at"] = now
                else:
                    staged[row_id] = {
                        **TABLES[name],
                        **{c: now for c in _TIMESTAMPED[name]},
                        **obj,
                        "id": row_id,
                    }
                out.append(dict(staged[row_id]))
            self.tables[name] = staged
        if "return=representation" in prefer:
            return Reply(201, out)
        return Reply(201, b"", {"Content-Type": "application/json"})

    def _patch(self, req: Request, m: re.Match) -> Reply:
        name = m.group(1)
        values = req.json()
        if not isinstance(values, dict):
            return pg_error(400, "PGRST102", "Empty or invalid json")
        with self.db_lock:  # one statement: the filter and the update are atomic, as in PostgreSQL
            rows = self._table(name)
            if isinstance(rows, Reply):
                return rows
            bad = self._check_columns(name, values)
            if bad:
                return bad
            filters = self._filters(req)
            if isinstance(filters, Reply):
                return filters
            changed = []
            for row in self._matching(rows, filters):
                row.update(values)
                if "updated_at" in _TIMESTAMPED[name]:
                    row["updated_at"] = _now()
                changed.append(dict(row))
        if "return=representation" in self._prefer(req):
            return Reply(200, changed)
        return Reply(204, b"")

    def _delete(self, req: Request, m: re.Match) -> Reply:
        with self.db_lock:
            rows = self._table(m.group(1))
            if isinstance(rows, Reply):
                return rows
            filters = self._filters(req)
            if isinstance(filters, Reply):
                return filters
            for row in self._matching(rows, filters):
                rows.pop(row["id"], None)
        return Reply(204, b"")

    # -- Storage -------------------------------------------------------------------------

    def _store_object(self, bucket: str, path: str, data: bytes, ctype: str, upsert: bool) -> Reply:
        if not path or not VALID_KEY.fullmatch(path):
            return invalid_key(path)
        with self.db_lock:
            if bucket not in self.buckets:
                return storage_error("404", "NoSuchBucket", "Bucket not found", "Bucket not found")
            if path in self.buckets[bucket] and not upsert:
                return DUPLICATE_OBJECT
            self.buckets[bucket][path] = (data, ctype)
        return Reply(200, {"Id": str(uuid.uuid4()), "Key": f"{bucket}/{path}"})

    def _put_object(self, req: Request, m: re.Match) -> Reply:
        upsert = req.method == "PUT" or (req.headers.get("x-upsert") or "").lower() == "true"
        ctype = req.headers.get("Content-Type") or "application/octet-stream"
        return self._store_object(m.group(1), unquote(m.group(2)), req.body, ctype, upsert)

    def _get_object(self, req: Request, m: re.Match) -> Reply:
        found = self.buckets.get(m.group(1), {}).get(unquote(m.group(2)))
        if found is None:
            return storage_error("404", "NoSuchKey", "not_found", "Object not found")
        return Reply(200, found[0], {"Content-Type": found[1]})

    def _token(self, key: str) -> str:
        return (
            base64.urlsafe_b64encode(hmac.new(self.secret, key.encode(), hashlib.sha256).digest())
            .decode()
            .rstrip("=")
        )

    def _sign(self, req: Request, m: re.Match) -> Reply:
        body = req.json() or {}
        if not isinstance(body.get("expiresIn"), int) or body["expiresIn"] < 1:
            return storage_error(
                "400", "InvalidRequest", "Bad Request", "body/expiresIn must be integer >= 1"
            )
        key = f"{m.group(1)}/{unquote(m.group(2))}"
        if self.object(key) is None:
            return storage_error("404", "NoSuchKey", "not_found", "Object not found")
        return Reply(200, {"signedURL": f"/object/sign/{key}?token={self._token(key)}"})

    def _signed_get(self, req: Request, m: re.Match) -> Reply:
        key = f"{m.group(1)}/{unquote(m.group(2))}"
        if req.q("token") != self._token(key):
            return storage_error("400", "InvalidJWT", "Unauthorized", "invalid signature")
        return self._get_object(req, m)

    # -- TUS -----------------------------------------------------------------------------

    def _tus_create(self, req: Request, m: re.Match) -> Reply:
        meta = {}
        for item in (req.headers.get("Upload-Metadata") or "").split(","):
            if item.strip():
                k, _, v = item.strip().partition(" ")
                meta[k] = base64.b64decode(v).decode()
        if (
            req.headers.get("Tus-Resumable") != "1.0.0"
            or not (req.headers.get("Upload-Length") or "").isdigit()
        ):
            return Reply(412, b"Tus-Resumable 1.0.0 and Upload-Length are required")
        if not {"bucketName", "objectName"} <= set(meta):
            return storage_error(
                "400", "InvalidRequest", "Bad Request", "Upload-Metadata needs bucketName and objectName"
            )
        if not meta["objectName"] or not VALID_KEY.fullmatch(meta["objectName"]):
            return invalid_key(meta["objectName"])
        upload_id = uuid.uuid4().hex
        with self.db_lock:
            self.uploads[upload_id] = {
                "length": int(req.headers["Upload-Length"]),
                "data": bytearray(),
                "meta": meta,
                "upsert": (req.headers.get("x-upsert") or "").lower() == "true",
            }
        return Reply(
            201,
            b"",
            {"Location": f"{self.url}/storage/v1/upload/resumable/{upload_id}", "Tus-Resumable": "1.0.0"},
        )

    def _tus_head(self, req: Request, m: re.Match) -> Reply:
        up = self.uploads.get(m.group(1))
        if up is None:
            return Reply(404, b"")
        return Reply(
            200,
            b"",
            {
                "Upload-Offset": str(len(up["data"])),
                "Upload-Length": str(up["length"]),
                "Tus-Resumable": "1.0.0",
                "Cache-Control": "no-store",
            },
        )

    def _tus_patch(self, req: Request, m: re.Match) -> Reply:
        with self.db_lock:
            up = self.uploads.get(m.group(1))
            if up is None:
                return Reply(404, b"")
            if req.headers.get("Content-Type") != "application/offset+octet-stream":
                return Reply(415, b"")
            if req.headers.get("Upload-Offset") != str(len(up["data"])):
                return Reply(409, b"Upload-Offset does not match the upload's offset")
            final = len(up["data"]) + len(req.body) == up["length"]
            if len(req.body) != CHUNK and not final:
                return Reply(400, b"chunks must be 6 MiB (6291456 bytes), the last one shorter")
            if self._drop_after:
                keep = self._drop_after.pop(0)
                up["data"] += req.body[:keep]
                raise ConnectionResetError("the connection dropped in the middle of a chunk")
            up["data"] += req.body
            offset = len(up["data"])
            if offset == up["length"]:
                meta = up["meta"]
                reply = self._store_object(
                    meta["bucketName"],
                    meta["objectName"],
                    bytes(up["data"]),
                    meta.get("contentType", "application/octet-stream"),
                    up["upsert"],
                )
                if reply.status != 200:
                    return reply
        return Reply(204, b"", {"Upload-Offset": str(offset), "Tus-Resumable": "1.0.0"})


_shared: list[FakeSupabase] = []


@pytest.fixture
def supabase_fake(fenta_home, monkeypatch):
    """The session's fake Supabase (emptied), with FENTA_API_URL/FENTA_API_KEY pointing at it and
    retry waits scaled down."""
    if not _shared:
        _shared.append(FakeSupabase().start())
    fake = _shared[0]
    fake.reset()
    monkeypatch.setenv("FENTA_API_URL", fake.url)
    monkeypatch.setenv("FENTA_API_KEY", fake.key)
    monkeypatch.setenv("FENTA_BACKOFF_SCALE", "0.01")
    monkeypatch.delenv("FENTA_API_TOKEN", raising=False)
    monkeypatch.delenv("FENTA_SYNC", raising=False)
    yield fake
    fake.reset()


def main(argv: list[str] | None = None) -> None:
    """By hand: ``python -m tests.fakes.supabase [--port N]`` serves until Ctrl-C and prints the variables
    that point fenta at it (the fake's state lives in memory and is gone when it stops)."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m tests.fakes.supabase",
        description="A fake Supabase project on 127.0.0.1 (gateway, PostgREST, Storage, TUS).",
    )
    parser.add_argument("--port", type=int, default=0, help="Port to listen on (default: a free one).")
    args = parser.parse_args(argv)
    try:
        fake = FakeSupabase().start(args.port)
    except OSError as e:
        parser.exit(2, f"cannot listen on 127.0.0.1:{args.port}: {e.strerror or e}\n")
    fake.serve_by_hand({"FENTA_API_URL": fake.url, "FENTA_API_KEY": fake.key})


if __name__ == "__main__":
    main()
