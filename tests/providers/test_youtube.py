"""The YouTube resumable upload client against the fake (real sockets): chunks, 308 + Range, status
queries after trouble, token renewal mid-upload, and the limits that are never retried blindly."""

from __future__ import annotations

import asyncio
import os

import pytest

from fenta.config import Settings
from fenta.errors import AuthError, ProviderError, PublishLimitError
from fenta.policy import TRUSTED
from fenta.providers.accounts import resolve
from fenta.providers.tokens import Credentials
from fenta.providers.youtube import CHUNK, YouTubeClient
from tests.fakes.youtube import youtube_fake  # noqa: F401  (fixture)

RESOURCE = {
    "snippet": {
        "title": "Octopus facts",
        "description": "",
        "tags": ["fenta-000000000000"],
        "categoryId": "22",
    },
    "status": {"privacyStatus": "private", "selfDeclaredMadeForKids": False, "containsSyntheticMedia": False},
}


@pytest.fixture
def video(tmp_path):
    path = tmp_path / "video.mp4"
    path.write_bytes(os.urandom(4 * CHUNK + 12345))
    return path


async def _upload(video, chunk: int = CHUNK, offset: int = 0, session: str | None = None):
    settings = Settings.from_env()
    client = YouTubeClient(settings, Credentials(settings, resolve(settings, "youtube", None, TRUSTED)))
    try:
        size = video.stat().st_size
        session = session or await client.start(RESOURCE, size)
        return session, await client.send(session, video, size, offset, chunk=chunk)
    finally:
        await client.aclose()


def upload(video, **kw):
    return asyncio.run(_upload(video, **kw))


def _ranges(fake) -> list[str]:
    return [r.headers.get("Content-Range") for r in fake.puts()]


def test_chunks_are_multiples_of_256_kib_and_the_bytes_arrive_whole(youtube_fake, video):
    _, done = upload(video, chunk=2 * CHUNK)
    size = video.stat().st_size
    assert _ranges(youtube_fake) == [
        f"bytes 0-{2 * CHUNK - 1}/{size}",
        f"bytes {2 * CHUNK}-{4 * CHUNK - 1}/{size}",
        f"bytes {4 * CHUNK}-{size - 1}/{size}",
    ]
    assert youtube_fake.uploaded[done["id"]] == video.read_bytes() and len(youtube_fake.posts) == 1


def test_a_connection_dropped_mid_chunk_resumes_from_the_range_the_server_kept(youtube_fake, video):
    youtube_fake.put_faults = [{"drop": CHUNK + 1000}]  # the server keeps one whole block of two sent
    _, done = upload(video, chunk=2 * CHUNK)
    size = video.stat().st_size
    ranges = _ranges(youtube_fake)
    assert ranges[:3] == [
        f"bytes 0-{2 * CHUNK - 1}/{size}",
        f"bytes */{size}",
        f"bytes {CHUNK}-{3 * CHUNK - 1}/{size}",
    ]
    assert youtube_fake.uploaded[done["id"]] == video.read_bytes() and len(youtube_fake.posts) == 1


def test_a_308_with_a_shorter_range_than_sent_is_honoured(youtube_fake, video):
    youtube_fake.put_faults = [{"keep": 1000}]  # 1000 bytes kept of the first chunk
    _, done = upload(video, chunk=2 * CHUNK)
    assert _ranges(youtube_fake)[1].startswith("bytes 1000-")
    assert youtube_fake.uploaded[done["id"]] == video.read_bytes()


def test_a_308_without_range_sends_everything_again_from_byte_0(youtube_fake, video):
    youtube_fake.put_faults = [{"keep": 0}]
    _, done = upload(video, chunk=2 * CHUNK)
    assert _ranges(youtube_fake)[1].startswith("bytes 0-")
    assert youtube_fake.uploaded[done["id"]] == video.read_bytes()


def test_a_server_error_on_a_chunk_waits_asks_how_far_it_got_and_goes_on(youtube_fake, video):
    youtube_fake.put_faults = [{}, {"status": 503}, {"status": 500}]
    _, done = upload(video, chunk=2 * CHUNK)
    size = video.stat().st_size
    assert _ranges(youtube_fake)[1:5] == [
        f"bytes {2 * CHUNK}-{4 * CHUNK - 1}/{size}",
        f"bytes */{size}",
        f"bytes {2 * CHUNK}-{4 * CHUNK - 1}/{size}",
        f"bytes */{size}",
    ]
    assert youtube_fake.uploaded[done["id"]] == video.read_bytes() and len(youtube_fake.posts) == 1


def test_server_errors_beyond_the_tries_give_up_retryable_and_the_session_still_resumes(youtube_fake, video):
    youtube_fake.put_faults = [{}] + [{"status": 503}] * 8
    with pytest.raises(ProviderError) as e:
        upload(video, chunk=2 * CHUNK)
    assert e.value.retryable and not youtube_fake.posts
    (session_id,) = youtube_fake.sessions
    session = f"{youtube_fake.url}/upload/youtube/v3/videos?uploadType=resumable&upload_id={session_id}"
    _, done = upload(
        video, chunk=2 * CHUNK, offset=2 * CHUNK, session=session
    )  # a later attempt, same session
    assert youtube_fake.uploaded[done["id"]] == video.read_bytes() and len(youtube_fake.sessions) == 1


def test_a_token_expiring_mid_upload_is_refreshed_and_the_same_chunk_goes_to_the_same_session(
    youtube_fake, video
):
    youtube_fake.put_faults = [{}, {"expire_token": True}]
    _, done = upload(video, chunk=2 * CHUNK)
    assert youtube_fake.refreshes == 2  # the first token, then the renewal
    puts = youtube_fake.puts()
    assert puts[1].headers["Content-Range"] == puts[2].headers["Content-Range"]
    assert puts[1].headers["Authorization"] != puts[2].headers["Authorization"]
    assert len(youtube_fake.sessions) == 1 and youtube_fake.uploaded[done["id"]] == video.read_bytes()


def test_a_renewed_token_refused_again_is_an_auth_error(youtube_fake, video):
    youtube_fake.put_faults = [{"expire_token": True}, {"expire_token": True}]
    with pytest.raises(AuthError, match="connect the account again"):
        upload(video)


def test_quota_exceeded_is_not_retried_and_says_it_resets_at_midnight_pacific(youtube_fake, video):
    youtube_fake.quota_left = 0
    with pytest.raises(PublishLimitError) as e:
        upload(video)
    assert (
        "quotaExceeded" in str(e.value)
        and "midnight Pacific time" in str(e.value)
        and "<a" not in str(e.value)
    )
    assert not e.value.retryable and e.value.resets_at.endswith("Z") and e.value.limit == "quotaExceeded"
    assert len(youtube_fake.requests_to("/upload/")) == 1


@pytest.mark.parametrize("where", ["post", "final"])
def test_the_channels_upload_limit_is_not_retried(youtube_fake, video, where):
    youtube_fake.upload_limit = where
    with pytest.raises(PublishLimitError, match="uploadLimitExceeded.*about 24 hours"):
        upload(video, chunk=8 * CHUNK)
    assert len([r for r in youtube_fake.requests if r.method == "POST" and "/upload/" in r.path]) == 1


def test_a_status_query_after_the_upload_completed_returns_the_video_again(youtube_fake, video):
    session, done = upload(video)
    settings = Settings.from_env()

    async def ask():
        client = YouTubeClient(settings, Credentials(settings, resolve(settings, "youtube", None, TRUSTED)))
        try:
            return await client.progress(session, video.stat().st_size)
        finally:
            await client.aclose()

    state = asyncio.run(ask())
    assert state.video["id"] == done["id"] and len(youtube_fake.posts) == 1


def test_an_expired_session_is_reported_not_retried(youtube_fake, video):
    youtube_fake.put_faults = [{"gone": True}]
    _, done = upload(video)
    assert done is None and not youtube_fake.posts


def test_invalid_metadata_is_the_services_reason_in_one_line(youtube_fake, video):
    settings = Settings.from_env()

    async def start():
        client = YouTubeClient(settings, Credentials(settings, resolve(settings, "youtube", None, TRUSTED)))
        try:
            return await client.start(
                {**RESOURCE, "snippet": {**RESOURCE["snippet"], "title": "x" * 101}}, 10
            )
        finally:
            await client.aclose()

    with pytest.raises(ProviderError, match="refused the video's details .*invalidTitle") as e:
        asyncio.run(start())
    assert not e.value.retryable
