"""The fake-server base serves routes, queues faults and truncates bodies on request."""

from __future__ import annotations

import httpx
import pytest

from tests.fakes._server import FakeServer, Reply


@pytest.fixture
def fake():
    s = FakeServer()
    s.route("GET", r"/hello/(\w+)", lambda req, m: Reply(200, {"hi": m.group(1)}))
    with s:
        yield s


def test_a_route_answers_with_json_and_the_request_is_logged(fake):
    r = httpx.get(fake.url + "/hello/bob?x=1")
    assert r.json() == {"hi": "bob"}
    assert fake.requests[0].q("x") == "1"


def test_a_queued_fault_is_served_once_then_the_route_again(fake):
    fake.fail_next(Reply(500, {"error": "boom"}))
    assert httpx.get(fake.url + "/hello/a").status_code == 500
    assert httpx.get(fake.url + "/hello/a").status_code == 200


def test_a_truncated_body_is_detected_by_the_client(fake):
    fake.fail_next(Reply(200, b"x" * 1000, truncate_to=10))
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(fake.url + "/hello/a")
