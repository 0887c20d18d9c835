"""PexelsClient against the fake: bare-key auth, params, rate-limit tracking, file choice, faults."""

from __future__ import annotations

import asyncio

import pytest

from fenta.config import Settings
from fenta.errors import AuthError, ProviderError, RateLimitError
from fenta.providers.pexels import PexelsClient, orientation_of, pick_photo_url, pick_video_file
from tests.fakes.fixtures import pexels_fake  # noqa: F401


def call(fn, **client_kw):
    async def main():
        client = PexelsClient(Settings.from_env(), **client_kw)
        try:
            return await fn(client), client
        finally:
            await client.aclose()

    return asyncio.run(main())


def search(client, query="ocean waves", **kw):
    return client.search_videos(query, orientation="portrait", size="small", per_page=4, **kw)


def test_search_sends_the_bare_key_and_documented_params(pexels_fake):
    body, _ = call(search)
    (req,) = pexels_fake.api_requests()
    assert req.path == "/videos/search"
    assert req.headers["Authorization"] == pexels_fake.key  # no "Bearer"
    assert req.query == {
        "query": ["ocean waves"],
        "orientation": ["portrait"],
        "size": ["small"],
        "page": ["1"],
        "per_page": ["4"],
    }
    assert len(body["videos"]) == 4 and body["next_page"]


def test_photo_search_uses_the_v1_prefix(pexels_fake):
    body, _ = call(lambda c: c.search_photos("forest", per_page=2))
    assert pexels_fake.api_requests()[0].path == "/v1/search"
    assert body["photos"][0]["photographer"]


def test_rate_limit_headers_are_tracked(pexels_fake):
    _, client = call(search)
    assert client.ratelimit["limit"] == 20000
    assert client.ratelimit["remaining"] == 199
    assert client.ratelimit["reset"] > 0


def test_exhausted_allowance_names_the_remembered_reset(pexels_fake):
    pexels_fake.remaining = 1

    async def two(c):
        await search(c)
        await search(c, page=2)

    with pytest.raises(RateLimitError) as e:
        call(two)
    msg = str(e.value)
    assert "resets in" in msg and "\n" not in msg
    # 1 success + 3 attempts at the 429 (no Retry-After: backoff, then give up)
    assert len(pexels_fake.api_requests()) == 4


def test_a_bearer_prefixed_or_wrong_key_is_refused_without_echo(pexels_fake, monkeypatch):
    monkeypatch.setenv("PEXELS_API_KEY", "wrong-pexels-key-987")
    with pytest.raises(AuthError) as e:
        call(search)
    assert "PEXELS_API_KEY" in str(e.value) and "wrong-pexels-key" not in str(e.value)
    assert len(pexels_fake.api_requests()) == 1


@pytest.mark.parametrize("kind", ["429", "500", "malformed"])
def test_transient_fault_once_is_recovered(pexels_fake, kind):
    pexels_fake.fault(kind, 1, path_contains="/videos/search")
    body, _ = call(search)
    assert body["videos"] and len(pexels_fake.api_requests()) == 2


@pytest.mark.parametrize("kind, text", [("500", "server error"), ("malformed", "malformed response")])
def test_persistent_fault_fails_after_three_attempts(pexels_fake, kind, text):
    pexels_fake.fault(kind, 5, path_contains="/videos/search")
    with pytest.raises(ProviderError, match=text):
        call(search)
    assert len(pexels_fake.api_requests()) == 3


def test_slow_search_times_out(pexels_fake):
    pexels_fake.fault("slow", 3, path_contains="/videos/search")
    with pytest.raises(ProviderError, match="timed out after 3 attempts"):
        call(search, timeout=0.2)


def test_truncated_download_is_retried_and_leaves_no_partial_file(pexels_fake, tmp_path):
    pexels_fake.fault("truncated", 1, path_contains="/media/")
    dest = tmp_path / "v.mp4"
    size, _ = call(
        lambda c: c.download(f"{pexels_fake.url}/media/video/1001.mp4", dest, content_types=("video/",))
    )
    assert dest.stat().st_size == size > 1000
    assert len(pexels_fake.media_requests()) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["v.mp4"]


def test_download_refuses_html_and_oversize(pexels_fake, tmp_path):
    pexels_fake.fault("html", 1, path_contains="/media/")
    with pytest.raises(ProviderError, match="text/html, not media"):
        call(
            lambda c: c.download(
                f"{pexels_fake.url}/media/video/1001.mp4", tmp_path / "a.mp4", content_types=("video/",)
            )
        )
    with pytest.raises(ProviderError, match="over the 100-byte cap"):
        call(
            lambda c: c.download(f"{pexels_fake.url}/media/video/1001.mp4", tmp_path / "b.mp4", max_bytes=100)
        )
    assert list(tmp_path.iterdir()) == []


def test_file_choice_is_the_smallest_mp4_covering_the_canvas():
    files = [
        {"file_type": "video/mp4", "width": 2160, "height": 3840, "link": "uhd"},
        {"file_type": "video/mp4", "width": 1080, "height": 1920, "link": "hd"},
        {"file_type": "video/mp4", "width": 540, "height": 960, "link": "sd"},
        {"file_type": "video/mp4", "width": 1920, "height": 1080, "link": "landscape"},
        {"file_type": "application/x-mpegURL", "width": None, "height": None, "link": "hls"},
    ]
    video = {"video_files": files}
    assert pick_video_file(video, 1080, 1920)["link"] == "hd"
    assert pick_video_file(video, 360, 640)["link"] == "sd"
    assert pick_video_file(video, 4320, 7680)["link"] == "uhd"  # nothing big enough: the biggest
    assert pick_video_file(video, 1920, 1080)["link"] == "landscape"
    assert pick_video_file({"video_files": files[-1:]}, 1080, 1920) is None


def test_orientation_and_photo_size_follow_the_canvas():
    assert (
        orientation_of(1080, 1920) == "portrait"
        and orientation_of(1920, 1080) == "landscape"
        and orientation_of(5, 5) == "square"
    )
    src = {k: k for k in ("original", "large2x", "large", "portrait", "landscape")}
    assert pick_photo_url({"src": src}, 180, 320) == "portrait"
    assert pick_photo_url({"src": src}, 1080, 1920) == "large2x"
    assert pick_photo_url({"src": src}, 2160, 3840) == "original"
