"""Hosted ids and file names as folders and Storage keys: a row's id is one plain segment or the row fails
untouched; every object key is built from checked segments and percent-encoded, so the row names the
very key the bytes are stored under (the fake Storage decodes paths and refuses keys as the real one does).
"""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from fenta.config import Settings
from fenta.errors import SyncError
from fenta.ops.sync.client import Hosted
from fenta.ops.sync.keys import object_key, object_name, remote_id_problem
from tests.fakes.supabase import supabase_fake  # noqa: F401

#: A small hosted job in fenta's own shape (no voice: quick).
DOCUMENT = {
    "name": "hosted",
    "template": "square",
    "overrides": {"canvas": {"width": 96, "height": 96, "fps": 10}},
    "nodes": {
        "backdrop": {"type": "Input.Background", "params": {"style": "gradient", "count": 1}},
        "timeline": {"type": "Timeline", "params": {"duration": 1}, "inputs": {"clips": "backdrop.clips"}},
        "render": {
            "type": "Render",
            "params": {"profile": "canvas", "preset": "ultrafast"},
            "inputs": {"timeline": "timeline.timeline"},
        },
    },
}

TINY = """
version: 1
name: tiny
template: square
overrides: {canvas: {width: 320, height: 320, fps: 10}}
nodes:
  script: {type: Input.Text, params: {text: "Names travel."}}
  voice: {type: Voice.TTS, params: {engine: espeak}, inputs: {text: script.text}}
  subs: {type: Subtitle, inputs: {words: voice.words}}
  backdrop: {type: Input.Background, params: {style: gradient, count: 1}}
  timeline: {type: Timeline, inputs: {clips: backdrop.clips, voice: voice.audio, subtitles: subs.track}}
  render: {type: Render, params: {profile: canvas, preset: ultrafast}, inputs: {timeline: timeline.timeline}}
"""


@pytest.fixture
def fast(monkeypatch):
    for k, v in {
        "FENTA_POLL_SECONDS": "0.02",
        "FENTA_HEARTBEAT_SECONDS": "0.1",
        "FENTA_LEASE_SECONDS": "3",
    }.items():
        monkeypatch.setenv(k, v)


def _storage_requests(fake) -> list:
    return [r for r in fake.requests if r.path.startswith("/storage/")]


@pytest.mark.parametrize("good", ["6f1c2a9e-2b7d-4c1e-9a51-0d4c3b2a1f00", "job_1-A", "a" * 64])
def test_a_uuid_or_a_short_plain_token_is_a_hosted_id(good):
    assert remote_id_problem(good) is None


@pytest.mark.parametrize(
    "bad", ["../x", "/abs", "a/b", "a" * 65, "", ".", "-x", "a b", "a\\b", "a\x00b", "ид", 42]
)
def test_anything_else_is_not(bad):
    assert remote_id_problem(bad) is not None


@pytest.mark.parametrize(
    "bad", ["../x", "../../../x", "ABS", "a/b", "../avatars/victim", "a" * 65, "x\nclaimed hosted job fake"]
)
def test_a_hosted_row_whose_id_is_not_one_plain_segment_fails_and_never_becomes_a_folder_or_a_key(
    cli, supabase_fake, fenta_home, tmp_path, fast, bad
):
    bad = str(tmp_path / "abs") if bad == "ABS" else bad  # an absolute path, inside the test's own folder
    supabase_fake.queue_job(DOCUMENT, id=bad)
    r = cli("worker", "--hosted", "--until-empty")
    assert r.exit_code == 0, r.output
    [row] = supabase_fake.rows("jobs")
    assert (
        row["id"] == bad
        and row["status"] == "failed"
        and row["lease_expires_at"] is None
        and row["retryable"] is False
    )
    assert "its id is not a UUID or 1 to 64 letters, digits" in row["error"]
    assert (
        not (fenta_home / "hosted" / bad).exists()
        and not (tmp_path / "x").exists()
        and not (tmp_path / "abs").exists()
    )
    assert not (fenta_home / "hosted").exists() or not any((fenta_home / "hosted").iterdir())
    assert _storage_requests(supabase_fake) == []  # not one request to Storage, in renders/ or elsewhere
    assert (
        "\nclaimed hosted job fake" not in r.stderr
    )  # the id is escaped in the log, never a line of its own


def test_a_hosted_job_whose_results_cannot_be_pushed_keeps_a_lease_another_worker_can_wait_out(
    cli, supabase_fake, fast
):
    remote = supabase_fake.queue_job(DOCUMENT)
    supabase_fake.buckets.pop("renders")  # Storage answers 404 Bucket not found: the push can never succeed
    r = cli("worker", "--hosted", "--until-empty")
    assert r.exit_code == 0, r.output
    [row] = supabase_fake.rows("jobs")
    assert row["id"] == remote and row["status"] == "running"
    assert (
        row["lease_expires_at"] is not None and row["claimed_by"]
    )  # it lapses: the next worker's claim matches


@pytest.mark.parametrize(
    ("local", "stored"),
    [
        ("clip#1 ?%.x.mp4", "clip_1 ?_.x.mp4"),
        ("клип 1.jpg", "____ 1.jpg"),
        ("café (v2).srt", "cafe (v2).srt"),
        ("plain-name_1.mp4", "plain-name_1.mp4"),
    ],
)
def test_a_file_keeps_the_characters_storage_takes_and_the_others_become_underscores(local, stored):
    assert object_name(local) == stored and object_key("job-1", local) == f"job-1/{stored}"


@pytest.mark.parametrize("name", ["clip#1 ?%.x", "клип №1"])
def test_a_synced_run_stores_each_file_under_the_key_its_row_records(
    cli, write, supabase_fake, tmp_path, name
):
    r = cli(
        "run", str(write("tiny.yaml", TINY)), "--name", name, "-o", str(tmp_path / "out"), "--sync", "--json"
    )
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    [row] = supabase_fake.rows("jobs")
    columns = {"video": "video_path", "thumbnail": "thumbnail_path", "srt": "srt_path"}
    for kind, column in columns.items():
        local = tmp_path / "out" / result["artifacts"][kind].rsplit("/", 1)[1]
        assert local.name.startswith(name)
        stored = supabase_fake.object(row[column])
        assert stored is not None and stored[0] == local.read_bytes(), (kind, row[column])
    assert len({row[c] for c in columns.values()}) == 3 and set(supabase_fake.buckets["renders"]) == {
        row[c].split("/", 1)[1] for c in columns.values()
    }
    assert httpx.get(result["sync"]["video_url"]).content == supabase_fake.object(row["video_path"])[0]
    status = cli("sync", "status")
    assert status.exit_code == 0 and "1 pushed and up to date" in status.stdout


def _upload(key: str, file) -> None:
    async def go() -> None:
        async with Hosted(Settings.from_env()) as api:
            await api.upload("renders", key, file, "video/mp4")

    asyncio.run(go())


@pytest.mark.parametrize("size", [5, 7_000_000], ids=["standard", "tus"])
@pytest.mark.parametrize(
    "key",
    [
        "../avatars/victim/x.mp4",
        "job/../../avatars/x.mp4",
        "/abs.mp4",
        "job//x.mp4",
        "job/клип.mp4",
        "job/a#b.mp4",
    ],
)
def test_a_key_fenta_does_not_build_is_refused_before_any_request(supabase_fake, tmp_path, key, size):
    clip = tmp_path / "x.mp4"
    clip.write_bytes(b"\x01" * size)
    with pytest.raises(SyncError) as e:
        _upload(key, clip)
    assert "not a Storage key fenta builds" in str(e.value) and _storage_requests(supabase_fake) == []


def test_the_fake_storage_decodes_paths_and_refuses_keys_real_storage_refuses(supabase_fake):
    headers = {"apikey": supabase_fake.key, "x-upsert": "true", "content-type": "video/mp4"}
    fine = httpx.post(
        f"{supabase_fake.url}/storage/v1/object/renders/j/a%20%3F.mp4", content=b"1", headers=headers
    )
    refused = httpx.post(
        f"{supabase_fake.url}/storage/v1/object/renders/j/%D0%BA%23.mp4", content=b"2", headers=headers
    )
    assert fine.status_code == 200 and supabase_fake.object("renders/j/a ?.mp4") == (b"1", "video/mp4")
    assert (
        refused.status_code == 400
        and refused.json()["statusCode"] == "400"
        and refused.json()["code"] == "InvalidKey"
    )


def test_a_row_that_breaks_its_preparation_ends_failed_and_the_worker_goes_on(cli, supabase_fake, fast):
    # A text column nested deeper than Python's JSON parser goes: RecursionError, not a FentaError.
    broken = supabase_fake.queue_job("[" * 100_000)
    fine = supabase_fake.queue_job(DOCUMENT)
    r = cli("worker", "--hosted", "--until-empty")
    assert r.exit_code == 0, r.output
    rows = {row["id"]: row for row in supabase_fake.rows("jobs")}
    assert rows[broken]["status"] == "failed" and rows[broken]["lease_expires_at"] is None
    assert rows[broken]["error"].startswith("internal error: RecursionError")
    assert rows[fine]["status"] == "completed"
