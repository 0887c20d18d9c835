"""`fenta sync sql` runs on a real PostgreSQL 15: a throwaway cluster (initdb, a Unix socket in a temp
folder, no TCP) with the few objects Supabase provides stubbed (`auth.uid()`, the `supabase_realtime`
publication, `storage.buckets`/`storage.objects`, the anon/authenticated/service_role roles)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from fenta.ops.sync.schema import SCHEMA_SQL
from tests.fakes.supabase import supabase_fake  # noqa: F401

INITDB = shutil.which("initdb") or "/usr/local/bin/initdb"
PSQL = shutil.which("psql")

#: What a Supabase project has before the user's SQL runs (the parts fenta's SQL touches).
SUPABASE_STUBS = """
create role anon nologin;
create role authenticated nologin;
create role service_role nologin bypassrls;
create schema auth;
create function auth.uid() returns uuid language sql stable
  as $$ select nullif(current_setting('request.jwt.claim.sub', true), '')::uuid $$;
create publication supabase_realtime;
create schema storage;
create table storage.buckets (id text primary key, name text not null unique, public boolean default false,
  created_at timestamptz default now());
create table storage.objects (id uuid primary key default gen_random_uuid(),
  bucket_id text references storage.buckets (id), name text, owner uuid,
  created_at timestamptz default now());
alter table storage.objects enable row level security;
create function storage.foldername(name text) returns text[] language sql immutable
  as $$ select (string_to_array(name, '/'))[1:array_length(string_to_array(name, '/'), 1) - 1] $$;
grant usage on schema public, auth, storage to anon, authenticated, service_role;
grant select, insert, update on storage.objects to authenticated;
"""


def _as_postgres(cmd: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: run them as the `postgres` user then."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@pytest.fixture(scope="module")
def pg():
    """A running throwaway PostgreSQL; yields a function running SQL through psql (stdout)."""
    if not Path(INITDB).exists():
        pytest.skip(
            f"PostgreSQL's initdb is not installed here ({INITDB});"
            " the schema test needs a real PostgreSQL 15"
        )
    if PSQL is None:
        pytest.skip("psql is not installed here; the schema test applies the SQL with psql")
    bindir = Path(os.path.realpath(INITDB)).parent
    root = Path(tempfile.mkdtemp(prefix="fenta-pg-"))
    os.chmod(root, 0o777)
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    data, sock = root / "data", root
    subprocess.run(
        _as_postgres([str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"]),
        check=True,
        capture_output=True,
    )
    opts = f"-c listen_addresses='' -c unix_socket_directories={sock} -c fsync=off"
    subprocess.run(
        _as_postgres(
            [str(bindir / "pg_ctl"), "-D", str(data), "-o", opts, "-w", "-l", str(root / "log"), "start"]
        ),
        check=True,
        capture_output=True,
    )

    def psql(sql: str, *, user: str = "postgres", check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            [
                PSQL,
                "-h",
                str(sock),
                "-U",
                user,
                "-d",
                "postgres",
                "-v",
                "ON_ERROR_STOP=1",
                "-X",
                "-q",
                "-A",
                "-t",
                "-f",
                "-",
            ],
            input=sql,
            text=True,
            capture_output=True,
            check=check,
        )

    try:
        psql(SUPABASE_STUBS)
        yield psql
    finally:
        subprocess.run(
            _as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def applied(pg):
    """The schema applied twice (it must be safe to run again)."""
    first = pg(SCHEMA_SQL, check=False)
    assert first.returncode == 0, first.stderr
    second = pg(SCHEMA_SQL, check=False)
    assert second.returncode == 0, second.stderr
    return pg


def _rows(out: subprocess.CompletedProcess) -> list[str]:
    return [line for line in out.stdout.splitlines() if line]


def test_the_schema_applies_twice_without_error(applied):
    assert _rows(applied("select count(*) from storage.buckets where id = 'renders' and not public")) == ["1"]


def test_the_three_tables_have_the_columns_fenta_writes(applied):
    cols = set(
        _rows(
            applied(
                "select table_name || '.' || column_name from information_schema.columns"
                " where table_schema = 'public'"
            )
        )
    )
    for c in (
        "id",
        "workflow_name",
        "status",
        "progress",
        "current_node",
        "error",
        "retryable",
        "attempt",
        "cost",
        "duration",
        "video_path",
        "thumbnail_path",
        "srt_path",
        "stage_timings",
        "host",
        "document",
        "vars",
        "claimed_by",
        "lease_expires_at",
        "created_at",
        "started_at",
        "finished_at",
        "updated_at",
    ):
        assert f"jobs.{c}" in cols
    for c in ("id", "job_id", "type", "data", "created_at"):
        assert f"job_events.{c}" in cols
    for c in ("id", "job_id", "node_id", "provider", "model", "units", "quantity", "cost", "created_at"):
        assert f"usage_records.{c}" in cols


def test_jobs_is_in_the_realtime_publication_once(applied):
    assert _rows(
        applied("select tablename from pg_publication_tables where pubname = 'supabase_realtime'")
    ) == ["jobs"]


def test_row_level_security_is_on_with_policies_for_every_table(applied):
    assert set(
        _rows(
            applied(
                "select relname from pg_class where relrowsecurity and relnamespace = 'public'::regnamespace"
            )
        )
    ) == {"jobs", "job_events", "usage_records"}
    policies = set(_rows(applied("select tablename || ': ' || cmd from pg_policies")))
    assert {
        "jobs: SELECT",
        "jobs: INSERT",
        "jobs: UPDATE",
        "job_events: SELECT",
        "usage_records: SELECT",
        "objects: SELECT",
    } <= policies


def _as_user(user_id: str, sql: str) -> str:
    return (
        f"begin; set local role authenticated; set local request.jwt.claim.sub = '{user_id}'; {sql}; commit;"
    )


def test_a_signed_in_user_queues_and_sees_only_their_own_jobs(applied):
    alice, bob = str(uuid.uuid4()), str(uuid.uuid4())
    applied(
        _as_user(
            alice,
            "insert into public.jobs (workflow_name, document) values ('alice-clip', '{\"nodes\": {}}')",
        )
    )
    applied(_as_user(bob, "insert into public.jobs (workflow_name, document) values ('bob-clip', '{}')"))
    seen = _rows(applied(_as_user(alice, "select workflow_name from public.jobs")))
    assert seen == ["alice-clip"]
    # A row carrying a workflow goes in only as queued; the service role (fenta's key) sees everything.
    refused = applied(
        _as_user(
            alice,
            "insert into public.jobs (workflow_name, status, document) values ('sneaky', 'running', '{}')",
        ),
        check=False,
    )
    assert refused.returncode != 0 and "row-level security" in refused.stderr
    everything = _rows(
        applied(
            "begin; set local role service_role;"
            " select workflow_name from public.jobs order by workflow_name; commit;"
        )
    )
    assert {"alice-clip", "bob-clip"} <= set(everything)


def test_the_conditional_claim_matches_once_and_a_lapsed_lease_is_claimable_again(applied):
    """What `fenta worker --hosted` sends (PATCH ?id=eq.X&status=eq.queued) as PostgREST runs it."""
    job = str(uuid.uuid4())
    applied(f"insert into public.jobs (id, workflow_name, document) values ('{job}', 'race', '{{}}')")
    claim = (
        "update public.jobs set status = 'running', claimed_by = '{who}',"
        " lease_expires_at = now() + interval '30 seconds'"
        f" where id = '{job}' and status = 'queued' returning claimed_by"
    )
    assert _rows(applied(claim.format(who="w1"))) == ["w1"]
    assert _rows(applied(claim.format(who="w2"))) == []
    applied(f"update public.jobs set lease_expires_at = now() - interval '1 second' where id = '{job}'")
    reclaim = (
        "update public.jobs set claimed_by = 'w2', lease_expires_at = now() + interval '30 seconds'"
        f" where id = '{job}' and status = 'running' and lease_expires_at < now() and claimed_by = 'w1'"
        " returning claimed_by"
    )
    assert _rows(applied(reclaim)) == ["w2"]
    assert _rows(applied(reclaim)) == []


def test_events_and_usage_rows_need_their_job_and_go_with_it(applied):
    job = str(uuid.uuid4())
    orphan = applied(
        f"insert into public.job_events (id, job_id, type) values ('x', '{job}', 'job.started')", check=False
    )
    assert orphan.returncode != 0 and "foreign key" in orphan.stderr
    applied(
        f"insert into public.jobs (id) values ('{job}');"
        f" insert into public.job_events (id, job_id, type) values ('{job}:1', '{job}', 'job.started');"
        f"insert into public.usage_records (id, job_id, provider) values ('{job}:1', '{job}', 'openrouter')"
    )
    applied(f"delete from public.jobs where id = '{job}'")
    assert _rows(applied(f"select count(*) from public.job_events where job_id = '{job}'")) == ["0"]


def test_where_the_editor_does_not_own_storage_objects_the_rest_applies_with_one_warning(pg):
    # Newer Supabase projects: the SQL editor's role (played here by fenta_editor, no superuser) does not
    # own storage.objects, so policies there are refused; the tables, Realtime and the bucket still apply.
    stubs = "\n".join(line for line in SUPABASE_STUBS.splitlines() if not line.startswith("create role"))
    pg(f"""
create role fenta_editor login;
create role fenta_storage_admin nologin;
create database editor_project owner fenta_editor;
\\c editor_project
{stubs}
alter table storage.objects owner to fenta_storage_admin;
alter publication supabase_realtime owner to fenta_editor;
grant select, insert on storage.buckets to fenta_editor;
grant usage on schema auth, storage to fenta_editor;
""")
    for _ in range(2):  # and it is still safe to run again
        out = pg(f"\\c editor_project fenta_editor\n{SCHEMA_SQL}", check=False)
        assert out.returncode == 0, out.stderr
        warnings = [line for line in out.stderr.splitlines() if "WARNING" in line]
        assert (
            len(warnings) == 1
            and "renders/ storage policies were not created (must be owner of table objects)" in warnings[0]
        )
        assert "Storage > Policies" in warnings[0]
    check = pg("""
\\c editor_project
select count(*) from storage.buckets where id = 'renders';
select count(*) from pg_publication_tables where pubname = 'supabase_realtime' and tablename = 'jobs';
select count(*) from pg_policies where schemaname = 'public';
select count(*) from pg_policies where schemaname = 'storage';
""")
    counts = _rows(check)
    assert counts[0] == "1" and counts[1] == "1" and counts[2] == "9" and counts[3] == "0"


def test_fenta_sync_sql_prints_exactly_this_schema(cli):
    r = cli("sync", "sql")
    assert r.exit_code == 0 and r.stdout == SCHEMA_SQL


def test_a_user_token_may_push_their_own_jobs_but_not_claim_or_touch_others(applied):
    """What `fenta run --sync` with FENTA_API_TOKEN sends (PostgREST upserts: INSERT ... ON CONFLICT DO
    UPDATE)."""
    alice, bob = str(uuid.uuid4()), str(uuid.uuid4())
    job = f"local-{uuid.uuid4().hex[:8]}"
    upsert = (
        f"insert into public.jobs (id, workflow_name, status, progress)"
        f" values ('{job}', 'mine', '{{status}}', {{progress}}) "
        "on conflict (id) do update set status = excluded.status, progress = excluded.progress"
    )
    applied(_as_user(alice, upsert.format(status="running", progress=0.5)))
    applied(_as_user(alice, upsert.format(status="completed", progress=1)))
    applied(
        _as_user(
            alice,
            f"insert into public.job_events (id, job_id, type) values ('{job}:1', '{job}', 'job.completed')"
            " on conflict (id) do nothing",
        )
    )
    applied(
        _as_user(alice, f"insert into storage.objects (bucket_id, name) values ('renders', '{job}/mine.mp4')")
    )
    assert _rows(applied(f"select status, user_id::text from public.jobs where id = '{job}'")) == [
        f"completed|{alice}"
    ]
    # Bob can neither change Alice's row, add events to it, nor upload into her job's folder.
    stolen = applied(
        _as_user(bob, f"update public.jobs set status = 'failed' where id = '{job}' returning id")
    )
    assert _rows(stolen) == []
    assert (
        "row-level security"
        in applied(
            _as_user(
                bob, f"insert into public.job_events (id, job_id, type) values ('{job}:2', '{job}', 'x')"
            ),
            check=False,
        ).stderr
    )
    assert (
        "row-level security"
        in applied(
            _as_user(
                bob, f"insert into storage.objects (bucket_id, name) values ('renders', '{job}/evil.mp4')"
            ),
            check=False,
        ).stderr
    )
    # A queued job carrying a workflow can only be cancelled by its owner: claiming it needs the service key.
    queued = str(uuid.uuid4())
    applied(
        _as_user(
            alice, f"insert into public.jobs (id, workflow_name, document) values ('{queued}', 'web', '{{}}')"
        )
    )
    refused = applied(
        _as_user(
            alice, f"update public.jobs set status = 'running', claimed_by = 'me' where id = '{queued}'"
        ),
        check=False,
    )
    assert refused.returncode != 0 and "row-level security" in refused.stderr
    applied(_as_user(alice, f"update public.jobs set status = 'cancelled' where id = '{queued}'"))
    assert _rows(applied(f"select status from public.jobs where id = '{queued}'")) == ["cancelled"]


def _as_postgrest(req) -> str:
    """The SQL PostgREST runs for one of fenta's requests (json_populate_recordset over the payload's
    columns; an upsert is INSERT ... ON CONFLICT (id) DO UPDATE of those columns)."""
    table = req.path.rsplit("/", 1)[1]
    body = req.json()
    rows = body if isinstance(body, list) else [body]
    cols = ", ".join(f'"{c}"' for c in rows[0])
    data = f"$fenta${json.dumps(rows)}$fenta$"
    if req.method == "POST":
        updates = ", ".join(f'"{c}" = excluded."{c}"' for c in rows[0] if c != "id")
        return (
            f"insert into public.{table} ({cols}) select {cols}"
            f" from json_populate_recordset(null::public.{table}, {data})"
            f" on conflict (id) do update set {updates}"
        )
    where = " and ".join(
        f"{col} = {_literal(v[3:])}" for col, [v] in req.query.items() if v.startswith("eq.")
    )
    return (
        f"update public.{table} set ({cols}) ="
        f" (select {cols} from json_populate_recordset(null::public.{table}, {data}))"
        f" where {where} returning id"
    )


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def test_the_rows_fenta_sends_fit_the_schema_as_postgrest_would_write_them(
    applied, cli, write, supabase_fake
):
    """Every write of `fenta run --sync` and of `fenta worker --hosted` (captured by the fake Supabase),
    replayed on the real PostgreSQL as PostgREST runs it: types, checks and keys all fit."""
    from tests.ops.test_sync_push import TINY
    from tests.ops.test_sync_worker import GRAPH

    assert cli("run", str(write("wf.yaml", TINY.format(name="replayed", extra=""))), "--sync").exit_code == 0
    remote = supabase_fake.queue_job(GRAPH, vars={"line": "Replayed."})
    applied(
        f"insert into public.jobs (id, workflow_name, document, vars)"
        f" values ('{remote}', 'web', {_literal(json.dumps(GRAPH))}, '{{}}')"
    )
    assert cli("worker", "--hosted", "--until-empty").exit_code == 0
    writes = [
        r for r in supabase_fake.requests if r.path.startswith("/rest/v1/") and r.method in ("POST", "PATCH")
    ]
    assert {r.path for r in writes} == {"/rest/v1/jobs", "/rest/v1/job_events", "/rest/v1/usage_records"}
    for req in writes:
        out = applied("begin; set local role service_role; " + _as_postgrest(req) + "; commit;", check=False)
        assert out.returncode == 0, (req.method, req.path, req.body[:300], out.stderr)
    rows = _rows(
        applied(
            "select status || '|' || coalesce(video_path, '') from public.jobs"
            f" where workflow_name in ('replayed', 'from-the-web') or id = '{remote}' order by status"
        )
    )
    assert len(rows) == 2 and all(r.startswith("completed|renders/") for r in rows)
    events = _rows(applied(f"select count(*) from public.job_events where job_id = '{remote}'"))
    assert int(events[0]) == len([e for e in supabase_fake.rows("job_events") if e["job_id"] == remote])
