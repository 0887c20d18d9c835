"""TikTok's chunk plan (publishing-contracts.md §2.6), valid whether "MB" means 10^6 or 2^20 bytes, and a
file of several chunks going up to the fake in order (206 ... 201)."""

from __future__ import annotations

import asyncio
import os

import pytest

from fenta.config import Settings
from fenta.policy import TRUSTED
from fenta.providers.accounts import resolve
from fenta.providers.tiktok import TikTokClient, chunk_plan
from fenta.providers.tokens import Credentials
from tests.fakes.tiktok_posting import chunk_plan_problem, tiktok_posting_fake  # noqa: F401  (fixture)

SIZES = [1, 4_194_304, 5_000_000, 50_000_123, 64_000_000, 64_000_001, 67_108_864, 1_000_000_007, 4 * 1024**3]


def _valid(size: int, chunk: int, count: int, mb: int) -> bool:
    """The docs' rules read with one meaning of "MB"."""
    last = size - (count - 1) * chunk
    if count == 1:
        return chunk == size and size <= 64 * mb
    return 5 * mb <= chunk <= 64 * mb and count == size // chunk and count <= 1000 and last <= 128 * mb


@pytest.mark.parametrize("size", SIZES)
def test_the_chunk_plan_is_valid_under_both_readings_of_mb(size):
    plan = chunk_plan(size)
    assert _valid(size, plan.chunk_size, plan.count, 1_000_000) and _valid(
        size, plan.chunk_size, plan.count, 2**20
    )
    assert chunk_plan_problem(size, plan.chunk_size, plan.count) is None  # the fake is as strict
    spans = [plan.span(i * plan.chunk_size) for i in range(plan.count)]
    assert spans[0][0] == 0 and spans[-1][1] == size and all(a[1] == b[0] for a, b in zip(spans, spans[1:]))


@pytest.mark.parametrize(
    ("uploaded", "expected"), [(0, 0), (10_000_000, 10_000_000), (9_999_999, 10_000_000)]
)
def test_the_next_chunk_is_found_whether_uploaded_bytes_is_a_count_or_a_last_index(uploaded, expected):
    assert chunk_plan(70_000_123).resume_at(uploaded) == expected


def test_every_byte_uploaded_reads_as_done_in_both_readings():
    for plan in (chunk_plan(70_000_123), chunk_plan(50_000_123)):
        assert plan.resume_at(plan.size) == plan.resume_at(plan.size - 1) == plan.size


def test_a_file_of_several_chunks_goes_up_in_order_and_a_5xx_resends_the_same_chunk(
    tiktok_posting_fake, tmp_path
):
    video = tmp_path / "big.mp4"
    video.write_bytes(os.urandom(64_000_000 + 5_000_123))
    plan = chunk_plan(video.stat().st_size)
    tiktok_posting_fake.put_faults = [{}, {"status": 502}]
    settings = Settings.from_env()

    async def post() -> bool:
        client = TikTokClient(settings, Credentials(settings, resolve(settings, "tiktok", None, TRUSTED)))
        try:
            info = await client.creator_info()
            assert info["creator_username"]
            post_info = {"title": "t", "privacy_level": "SELF_ONLY", "brand_content_toggle": False}
            publish_id, url = await client.init(post_info, plan)
            return await client.upload(publish_id, url, video, plan, 0)
        finally:
            await client.aclose()

    assert asyncio.run(post()) is True
    (publish,) = tiktok_posting_fake.publishes.values()
    assert bytes(publish.data) == video.read_bytes() and plan.count == 6
    ranges = [r.headers["Content-Range"] for r in tiktok_posting_fake.puts()]
    assert ranges[1] == ranges[2] == "bytes 10000000-19999999/69000123"
    assert ranges[-1] == "bytes 50000000-69000122/69000123" and len(ranges) == 7


def test_a_416_resyncs_from_the_status_and_sends_the_chunk_tiktok_waits_for(tiktok_posting_fake, tmp_path):
    video = tmp_path / "big.mp4"
    video.write_bytes(os.urandom(64_000_000 + 5_000_123))
    plan = chunk_plan(video.stat().st_size)
    settings = Settings.from_env()

    async def post() -> bool:
        client = TikTokClient(settings, Credentials(settings, resolve(settings, "tiktok", None, TRUSTED)))
        try:
            post_info = {"title": "t", "privacy_level": "SELF_ONLY", "brand_content_toggle": False}
            publish_id, url = await client.init(post_info, plan)
            return await client.upload(publish_id, url, video, plan, plan.chunk_size)  # one chunk ahead
        finally:
            await client.aclose()

    assert asyncio.run(post()) is True
    (publish,) = tiktok_posting_fake.publishes.values()
    assert bytes(publish.data) == video.read_bytes()
    ranges = [r.headers["Content-Range"] for r in tiktok_posting_fake.puts()]
    assert ranges[:2] == ["bytes 10000000-19999999/69000123", "bytes 0-9999999/69000123"]
    assert tiktok_posting_fake.requests_to("/status/fetch/")  # where to go on came from the status
