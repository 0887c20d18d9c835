"""Where the asset library's downloads may go: untrusted input (Policy.untrusted) reaches no loopback or
private address, on any redirect hop, unless the operator allowed its range; the local user's own
network stays theirs. Listeners on loopback addresses prove no request reached what was refused."""

from __future__ import annotations

import pytest

import fenta
from fenta.config import Settings
from fenta.policy import TRUSTED, Policy
from tests.fakes._server import FakeServer, Reply


class MediaHost(FakeServer):
    """/clip.mp4: a real clip; /away?to=URL: a 302 there; /hop/N: N redirects, then the clip."""

    def __init__(self, clip: bytes) -> None:
        super().__init__()
        self.route("GET", r"/clip\.mp4", lambda req, m: Reply(200, clip, {"Content-Type": "video/mp4"}))
        self.route("GET", r"/away", lambda req, m: Reply(302, b"", {"Location": req.q("to")}))
        self.route("GET", r"/hop/0", lambda req, m: Reply(302, b"", {"Location": "/clip.mp4"}))
        self.route(
            "GET", r"/hop/(\d+)", lambda req, m: Reply(302, b"", {"Location": f"/hop/{int(m.group(1)) - 1}"})
        )


@pytest.fixture
def clip(make_media) -> bytes:
    return make_media("src.mp4", "testsrc2=s=160x120:d=1", "-pix_fmt", "yuv420p").read_bytes()


@pytest.fixture
def host_on(clip):
    """Factory: a MediaHost on a loopback address (stopped after the test)."""
    started: list[FakeServer] = []

    def start(address: str) -> MediaHost:
        server = MediaHost(clip)
        server.start(host=address)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def _untrusted() -> Policy:
    return Policy.untrusted(Settings.from_env())


def _nothing_stored(fenta_home) -> bool:
    return not [p for p in (fenta_home / "library").rglob("*") if p.is_file()]


def test_a_redirect_chain_ending_on_loopback_is_refused_for_untrusted_input_and_never_reaches_it(
    host_on, monkeypatch, fenta_home
):
    monkeypatch.setenv("FENTA_ALLOW_PRIVATE_URLS", "127.0.0.2/32")  # stands in for a public host
    internal = host_on("127.0.0.1")
    public = host_on("127.0.0.2")
    url = f"{public.url}/away?to={public.url}/away%3Fto%3D{internal.url}/clip.mp4"  # two hops, then 127.0.0.1
    with pytest.raises(fenta.AssetError, match="127.0.0.1 is a loopback address"):
        fenta.library.add_url(url, policy=_untrusted())
    assert [r.path for r in public.requests] == ["/away", "/away"]
    assert internal.requests == []
    assert _nothing_stored(fenta_home)
    # The local user following the same chain reaches their own machine.
    assert fenta.library.add_url(url).kind == "video" and len(internal.requests) == 1


@pytest.mark.parametrize(
    "address,shown", [("127.1.2.3", "127.1.2.3"), ("127.0.0.1", "localhost"), ("::1", "[::1]")]
)
def test_loopback_urls_are_refused_for_untrusted_input_and_nothing_reaches_them(
    host_on, fenta_home, cli, address, shown
):
    listener = host_on(address)
    url = f"http://{shown}:{listener.url.rsplit(':', 1)[1]}/clip.mp4"
    with pytest.raises(fenta.AssetError, match="is a loopback address") as e:
        fenta.library.add_url(url, policy=_untrusted())
    assert "\n" not in str(e.value) and "FENTA_ALLOW_PRIVATE_URLS" in str(e.value)
    assert listener.requests == [] and _nothing_stored(fenta_home)
    # The same URL works for the local user at the CLI.
    r = cli("assets", "add", url)
    assert r.exit_code == 0, r.output
    assert len(listener.requests) == 1


def test_the_operator_can_allow_a_private_range_for_untrusted_input(host_on, monkeypatch):
    monkeypatch.setenv("FENTA_ALLOW_PRIVATE_URLS", "127.0.0.0/8")
    host = host_on("127.0.0.1")
    asset = fenta.library.add_url(host.url + "/clip.mp4", policy=_untrusted())
    assert asset.kind == "video" and len(host.requests) == 1


def test_a_copy_the_local_user_fetched_is_not_handed_to_untrusted_input(host_on):
    host = host_on("127.0.0.1")
    url = host.url + "/clip.mp4"
    fenta.library.add_url(url, policy=TRUSTED)
    with pytest.raises(fenta.AssetError, match="loopback"):
        fenta.library.add_url(url, policy=_untrusted())
    assert len(host.requests) == 1


def test_more_than_five_redirects_are_refused(host_on, fenta_home):
    host = host_on("127.0.0.1")
    assert fenta.library.add_url(host.url + "/hop/4").kind == "video"  # 5 redirects
    host.requests.clear()
    with pytest.raises(fenta.AssetError, match="redirects more than 5 times"):
        fenta.library.add_url(host.url + "/hop/9")
    assert len(host.requests) == 6


def test_an_untrusted_size_cap_holds_while_streaming_through_the_pinned_connection(monkeypatch, fenta_home):
    class Endless(FakeServer):
        @staticmethod
        def send(h, reply: Reply) -> None:  # no Content-Length: the cap can only be applied while reading
            h.send_response(200)
            h.send_header("Content-Type", "video/mp4")
            h.send_header("Connection", "close")
            h.end_headers()
            h.wfile.write(b"\0" * 300_000)
            h.close_connection = True

    monkeypatch.setenv("FENTA_ALLOW_PRIVATE_URLS", "127.0.0.1")
    server = Endless()
    server.route("GET", r"/endless\.mp4", lambda req, m: Reply(200))
    with server:
        with pytest.raises(fenta.AssetError, match="passed the 98 KB limit"):
            fenta.library.add_url(server.url + "/endless.mp4", max_bytes=100_000, policy=_untrusted())
    assert _nothing_stored(fenta_home)


@pytest.mark.parametrize(
    "url,said",
    [
        ("http://a..b.com/x.mp4", "empty label"),
        ("http://[::1/x.mp4", "brackets"),
        ("https://exa mple.com/x.mp4", "space"),
        ("http://example.com:99999/x.mp4", "port 99999"),
    ],
)
def test_assets_add_refuses_a_bad_url_in_one_line(cli, url, said):
    r = cli("assets", "add", url)
    assert r.exit_code == 2, r.output
    (line,) = r.output.strip().splitlines()
    assert said in line and url in line, line


@pytest.mark.parametrize("value", ["1e400", "nan", "inf", "0", "-1"])
def test_assets_add_refuses_a_max_mb_that_is_not_a_finite_positive_number(cli, host_on, value):
    host = host_on("127.0.0.1")
    r = cli("assets", "add", host.url + "/clip.mp4", f"--max-mb={value}")
    assert r.exit_code == 2, r.output
    (line,) = r.output.strip().splitlines()
    assert "--max-mb" in line and "finite number of MB above 0" in line
    assert host.requests == []
