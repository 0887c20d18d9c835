"""KIE.ai client against the fake: every family onto one status model, body-code faults, credits, uploads."""

from __future__ import annotations

import asyncio
import time

import pytest

from fenta.config import Settings
from fenta.errors import AuthError, CreditsError, ProviderError, RateLimitError
from fenta.pricing import kie_model
from fenta.providers.kie import KieClient, SlidingWindowLimiter, build_request, parse_status
from tests.fakes.kie import fake_kie  # noqa: F401  (fixture)


def _run(coro_fn):
    async def main():
        client = KieClient(Settings.from_env())
        try:
            return await coro_fn(client)
        finally:
            await client.aclose()

    return asyncio.run(main())


async def _generate(client: KieClient, model_id: str, **kw):
    model = kie_model(model_id)
    path, body = build_request(model, prompt="a lighthouse at dusk", aspect_ratio="9:16", **kw)
    task_id = await client.create_task(path, body)
    states = []
    for _ in range(10):
        st = await client.task_status(model.family, task_id)
        states.append(st.state)
        if st.done:
            return task_id, states, st
    raise AssertionError(states)


@pytest.mark.parametrize(
    "model_id",
    [
        "flux-2/pro-text-to-image",
        "gpt-4o-image",
        "flux-kontext-pro",
        "veo3_fast",
        "runway",
        "kling-2.6/text-to-video",
    ],
)
def test_every_family_maps_onto_pending_running_succeeded_with_result_urls(fake_kie, model_id):
    task_id, states, st = _run(lambda c: _generate(c, model_id))
    assert states[-1] == "succeeded" and "running" in states
    assert set(states) <= {"pending", "running", "succeeded"}
    assert st.urls and st.urls[0].startswith(fake_kie.url) and st.task_id == task_id


def test_market_state_spellings_and_result_json_string_are_parsed():
    data = {"taskId": "t1", "state": "queuing", "resultJson": ""}
    assert parse_status("market", data).state == "pending"
    done = {
        "taskId": "t1",
        "state": "success",
        "resultJson": '{"resultUrls":["https://x/a.mp4"]}',
        "creditsConsumed": 12,
    }
    st = parse_status("market", done)
    assert (st.state, st.urls, st.credits) == ("succeeded", ["https://x/a.mp4"], 12.0)
    assert parse_status("runway", {"state": "queueing"}).state == "pending"
    assert parse_status(
        "veo", {"successFlag": 1, "response": {"resultUrls": '["https://x/v.mp4"]'}}
    ).urls == ["https://x/v.mp4"]


def test_a_failed_task_reports_its_reason(fake_kie):
    fake_kie.next_outcomes = ["fail"]
    _, states, st = _run(lambda c: _generate(c, "flux-2/pro-text-to-image"))
    assert st.state == "failed" and st.error == "Internal server error" and st.error_code == "500"


def test_body_code_401_is_an_auth_error_without_the_key(fake_kie):
    fake_kie.body_error(401, "You do not have access permissions")
    with pytest.raises(AuthError) as e:
        _run(lambda c: c.credits())
    assert "KIE_API_KEY" in str(e.value) and "kie-test-key-123" not in str(e.value)
    assert len(fake_kie.requests) == 1


def test_body_code_402_fails_fast_as_out_of_credits(fake_kie):
    fake_kie.body_error(402, "Credits insufficient", path_contains="createTask")
    with pytest.raises(CreditsError, match="out of credits"):
        _run(lambda c: _generate(c, "flux-2/pro-text-to-image"))
    assert len(fake_kie.creates) == 1 and not fake_kie.tasks


def test_body_code_422_is_not_retried_and_shows_the_message(fake_kie):
    fake_kie.body_error(422, "aspect_ratio is invalid", path_contains="createTask")
    with pytest.raises(ProviderError, match="aspect_ratio is invalid") as e:
        _run(lambda c: _generate(c, "flux-2/pro-text-to-image"))
    assert not e.value.retryable and len(fake_kie.creates) == 1


@pytest.mark.parametrize(
    "code,http_status", [(429, False), (455, False), (500, False), (429, True), (503, True)]
)
def test_busy_answers_to_a_create_are_retried_and_recover(fake_kie, code, http_status):
    fake_kie.body_error(code, "busy", times=2, path_contains="createTask", http_status=http_status)
    _, _, st = _run(lambda c: _generate(c, "flux-2/pro-text-to-image"))
    assert st.state == "succeeded"
    assert len(fake_kie.creates) == 3 and len(fake_kie.tasks) == 1  # two refusals, one accepted task


def test_a_persistent_rate_limit_ends_in_a_clear_error(fake_kie):
    fake_kie.body_error(429, "Too many requests", times=5, path_contains="createTask")
    with pytest.raises(RateLimitError, match="rate limit"):
        _run(lambda c: _generate(c, "flux-2/pro-text-to-image"))
    assert not fake_kie.tasks


def test_a_create_whose_answer_never_arrives_is_not_sent_again(fake_kie):
    from tests.fakes._server import Reply

    fake_kie.fail_next(
        Reply(200, {"code": 200, "data": {"taskId": "late"}}, delay=1.0), path_contains="createTask"
    )

    async def go(c: KieClient):
        import httpx

        c._client.timeout = httpx.Timeout(0.3)
        return await _generate(c, "flux-2/pro-text-to-image")

    with pytest.raises(ProviderError, match="never paid twice|not repeated"):
        _run(go)
    assert len(fake_kie.creates) == 1


def test_credit_balance_is_read(fake_kie):
    fake_kie.balance = 1234.5
    assert _run(lambda c: c.credits()) == 1234.5


def test_upload_returns_the_public_download_url(fake_kie, make_media):
    png = make_media("frame.png", "color=c=red:s=64x64", "-frames:v", "1")
    url = _run(lambda c: c.upload(png, file_name="abc.png"))
    assert url == f"{fake_kie.url}/files/upload-abc.png"
    assert fake_kie.uploads["abc.png"] and fake_kie.requests[-1].headers["Authorization"].startswith(
        "Bearer "
    )


def test_limiter_allows_twenty_creates_per_window_then_waits():
    async def main():
        lim = SlidingWindowLimiter(20, 0.3)
        t0 = time.monotonic()
        for _ in range(20):
            await lim.acquire()
        first = time.monotonic() - t0
        await lim.acquire()
        return first, time.monotonic() - t0

    first, after = asyncio.run(main())
    assert first < 0.1 and after >= 0.29
