"""The hosted project's client against the fake Supabase: headers, one-line errors for each error shape,
retries of 503 and network trouble only, and TUS uploads that resume from the server's offset."""

from __future__ import annotations

import asyncio
import os

import pytest

from fenta.config import Settings
from fenta.errors import SyncError
from fenta.ops.sync.client import CHUNK, Hosted, describe_error
from tests.fakes.supabase import DUPLICATE_OBJECT, GATEWAY_NO_KEY, UNAVAILABLE, supabase_fake  # noqa: F401


def _run(coro):
    return asyncio.run(coro)


async def _with(settings: Settings, fn, **kw):
    async with Hosted(settings, **kw) as api:
        return await fn(api)


def test_every_request_sends_the_key_as_apikey_and_bearer(supabase_fake):
    _run(_with(Settings.from_env(), lambda api: api.upsert("jobs", [{"id": "j1", "status": "queued"}])))
    req = supabase_fake.requests[-1]
    assert req.headers["apikey"] == supabase_fake.key
    assert req.headers["authorization"] == f"Bearer {supabase_fake.key}"
    assert req.q("on_conflict") == "id"
    assert req.headers["prefer"] == "resolution=merge-duplicates,return=minimal"
    assert req.json() == [{"id": "j1", "status": "queued"}]


def test_fenta_api_token_is_the_bearer_when_set(supabase_fake, monkeypatch):
    supabase_fake.user_tokens.add("user-jwt-123")
    monkeypatch.setenv("FENTA_API_TOKEN", "user-jwt-123")
    _run(_with(Settings.from_env(), lambda api: api.select("jobs", {"select": "id"})))
    assert supabase_fake.requests[-1].headers["authorization"] == "Bearer user-jwt-123"


def test_a_wrong_key_is_the_gateways_401_in_one_line_without_the_key(supabase_fake, monkeypatch):
    monkeypatch.setenv("FENTA_API_KEY", "sb_secret_not_the_right_one")
    with pytest.raises(SyncError) as e:
        _run(_with(Settings.from_env(), lambda api: api.upsert("jobs", [{"id": "j1"}])))
    text = str(e.value)
    assert (
        "\n" not in text
        and "gateway refused" in text
        and "Invalid API key" in text
        and "FENTA_API_KEY" in text
    )
    assert "sb_secret_not_the_right_one" not in text
    assert e.value.status == 401 and not e.value.retryable
    assert len(supabase_fake.requests) == 1  # a 401 is never retried


def test_a_bad_token_reaches_postgrest_as_pgrst301(supabase_fake, monkeypatch):
    monkeypatch.setenv("FENTA_API_TOKEN", "not-a-jwt")
    with pytest.raises(SyncError) as e:
        _run(_with(Settings.from_env(), lambda api: api.select("jobs", {})))
    assert "HTTP 401 PGRST301: JWSError" in str(e.value)


def test_postgrest_errors_name_code_message_details_and_hint():
    body = (
        b'{"code":"23505","details":"Key (id)=(abc) already exists.","hint":null,'
        b'"message":"duplicate key value violates unique constraint \\"jobs_pkey\\""}'
    )
    text, status, code = describe_error("POST /rest/v1/jobs", 409, body)
    assert text == (
        'POST /rest/v1/jobs: HTTP 409 23505: duplicate key value violates unique constraint "jobs_pkey"'
        " (Key (id)=(abc) already exists.)"
    )
    assert (status, code) == (409, "23505")
    text, _, _ = describe_error("GET /rest/v1/jobs", 401, GATEWAY_NO_KEY.encoded()[0])
    assert "No API key found in request" in text and "apikey" in text


def test_an_unknown_column_is_pgrst204_and_not_retried(supabase_fake):
    with pytest.raises(SyncError) as e:
        _run(_with(Settings.from_env(), lambda api: api.upsert("jobs", [{"id": "j1", "colour": "red"}])))
    assert "HTTP 400 PGRST204: Could not find the 'colour' column of 'jobs'" in str(e.value)
    assert len(supabase_fake.requests) == 1


def test_503_is_retried_with_backoff_and_then_succeeds(supabase_fake):
    supabase_fake.fail_next(UNAVAILABLE, times=2)
    _run(_with(Settings.from_env(), lambda api: api.upsert("jobs", [{"id": "j1", "status": "queued"}])))
    assert len(supabase_fake.requests_to("/rest/v1/jobs")) == 3
    assert [r["id"] for r in supabase_fake.rows("jobs")] == ["j1"]


def test_a_service_that_stays_down_is_a_retryable_error_after_the_attempts(supabase_fake):
    supabase_fake.fail_next(UNAVAILABLE, times=10)
    with pytest.raises(SyncError) as e:
        _run(_with(Settings.from_env(), lambda api: api.upsert("jobs", [{"id": "j1"}]), attempts=3))
    assert e.value.retryable and "HTTP 503 PGRST002" in str(e.value)
    assert len(supabase_fake.requests) == 3


def test_an_offline_service_is_a_retryable_network_error(supabase_fake):
    supabase_fake.offline = True
    with pytest.raises(SyncError) as e:
        _run(_with(Settings.from_env(), lambda api: api.select("jobs", {}), attempts=2))
    assert e.value.retryable and e.value.status is None and "cannot reach 127.0.0.1" in str(e.value)


def test_storage_409_inside_a_400_is_read_from_the_body_and_not_retried(supabase_fake, tmp_path):
    clip = tmp_path / "a.mp4"
    clip.write_bytes(b"x" * 100)
    supabase_fake.fail_next(DUPLICATE_OBJECT, path_contains="/storage/")
    with pytest.raises(SyncError) as e:
        _run(_with(Settings.from_env(), lambda api: api.upload("renders", "j1/a.mp4", clip, "video/mp4")))
    assert e.value.status == 409 and e.value.code == "KeyAlreadyExists" and not e.value.retryable
    assert (
        str(e.value)
        == "POST /storage/v1/object/renders/j1/a.mp4: 409 KeyAlreadyExists: The resource already exists"
    )
    assert len(supabase_fake.requests) == 1


def test_a_small_file_goes_up_in_one_request_with_x_upsert_and_its_type(supabase_fake, tmp_path):
    clip = tmp_path / "a.srt"
    clip.write_text("1\n00:00:00,000 --> 00:00:01,000\nhi\n")
    for _ in range(2):  # the second upload replaces the first (x-upsert), no 409
        _run(
            _with(
                Settings.from_env(),
                lambda api: api.upload("renders", "j1/a.srt", clip, "application/x-subrip"),
            )
        )
    req = supabase_fake.requests[-1]
    assert req.path == "/storage/v1/object/renders/j1/a.srt" and req.headers["x-upsert"] == "true"
    assert supabase_fake.object("renders/j1/a.srt") == (clip.read_bytes(), "application/x-subrip")


@pytest.fixture
def big_file(tmp_path):
    """A generated 13 MB file (three TUS chunks: 6 MiB, 6 MiB and the rest)."""
    path = tmp_path / "big.mp4"
    path.write_bytes(os.urandom(13_000_000))
    return path


def _patches(fake) -> list:
    return [r for r in fake.requests_to("/upload/resumable/") if r.method == "PATCH"]


def test_a_file_over_6_mb_goes_by_tus_in_6_mib_chunks(supabase_fake, big_file):
    _run(_with(Settings.from_env(), lambda api: api.upload("renders", "j1/big.mp4", big_file, "video/mp4")))
    create = supabase_fake.requests_to("/storage/v1/upload/resumable")[0]
    assert (
        create.method == "POST"
        and create.headers["Upload-Length"] == "13000000"
        and create.headers["x-upsert"] == "true"
    )
    assert [len(r.body) for r in _patches(supabase_fake)] == [CHUNK, CHUNK, 13_000_000 - 2 * CHUNK]
    assert [r.headers["Upload-Offset"] for r in _patches(supabase_fake)] == ["0", str(CHUNK), str(2 * CHUNK)]
    assert supabase_fake.object("renders/j1/big.mp4") == (big_file.read_bytes(), "video/mp4")


def test_a_connection_dropped_mid_upload_resumes_from_the_servers_offset(supabase_fake, big_file):
    supabase_fake.drop_upload_after(1_000_000)  # the first chunk: 1 MB arrives, then the connection breaks
    _run(_with(Settings.from_env(), lambda api: api.upload("renders", "j1/big.mp4", big_file, "video/mp4")))
    heads = [r for r in supabase_fake.requests_to("/upload/resumable/") if r.method == "HEAD"]
    assert len(heads) == 1
    offsets = [int(r.headers["Upload-Offset"]) for r in _patches(supabase_fake)]
    assert offsets[:2] == [0, 1_000_000]  # went on from what the server kept, not from 0
    assert sum(len(r.body) for r in _patches(supabase_fake)) == CHUNK + (
        13_000_000 - 1_000_000
    )  # the broken chunk, then the rest once
    assert supabase_fake.object("renders/j1/big.mp4")[0] == big_file.read_bytes()


def test_an_upload_interrupted_in_one_process_is_continued_by_the_next(supabase_fake, big_file):
    urls: list[str] = []
    supabase_fake.drop_upload_after(CHUNK)  # the first chunk arrives whole, then the connection breaks
    with pytest.raises(SyncError) as e:  # this process gives up at once (one attempt per request)
        _run(
            _with(
                Settings.from_env(),
                lambda api: api.upload(
                    "renders", "j1/big.mp4", big_file, "video/mp4", on_created=urls.append
                ),
                attempts=1,
            )
        )
    assert e.value.retryable
    _run(
        _with(
            Settings.from_env(),
            lambda api: api.upload("renders", "j1/big.mp4", big_file, "video/mp4", resume_url=urls[0]),
        )
    )
    assert (
        len([r for r in supabase_fake.requests_to("/storage/v1/upload/resumable") if r.method == "POST"]) == 1
    )
    assert [r.headers["Upload-Offset"] for r in _patches(supabase_fake)][-2:] == [str(CHUNK), str(2 * CHUNK)]
    assert supabase_fake.object("renders/j1/big.mp4")[0] == big_file.read_bytes()


def test_signed_urls_are_absolute_and_download_the_object(supabase_fake, tmp_path):
    import httpx

    clip = tmp_path / "a.mp4"
    clip.write_bytes(b"\x00\x00\x00\x18ftypmp42 video")

    async def go(api):
        await api.upload("renders", "j1/a.mp4", clip, "video/mp4")
        return await api.sign("renders", "j1/a.mp4", 600)

    url = _run(_with(Settings.from_env(), go))
    assert url.startswith(f"{supabase_fake.url}/storage/v1/object/sign/renders/j1/a.mp4?token=")
    assert supabase_fake.requests[-1].json() == {"expiresIn": 600}
    assert httpx.get(url).content == clip.read_bytes()  # no key needed
    assert httpx.get(url.replace("token=", "token=x")).json()["statusCode"] == "400"


def test_a_missing_key_is_bad_input_naming_fenta_api_key(fenta_home):
    with pytest.raises(SyncError) as e:
        Hosted(Settings.from_env())
    assert e.value.exit_code == 2 and "FENTA_API_KEY" in str(e.value)
