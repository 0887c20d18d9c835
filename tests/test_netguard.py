"""The guarded fetch (fenta.netguard): the address check as a pure function, URL syntax, redirects, and
the connection pinned to the address that was checked. Traffic goes only to loopback addresses: a
"public" answer of a fake resolver is stood in for by a loopback address the policy allows."""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from fenta.errors import URLError
from fenta.netguard import address_problem, checked_addresses, open_stream, parse_url
from fenta.policy import TRUSTED, Policy
from tests.fakes._server import FakeServer, Reply


def _untrusted(*allowed: str) -> Policy:
    return Policy(trusted=False, allowed_networks=tuple(ipaddress.ip_network(a) for a in allowed))


@pytest.fixture
def no_network(monkeypatch):
    """Any socket connection or name lookup fails the test: what runs here must be pure."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the network was used")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


# ------------------------------------------------------------------------------ the address check


@pytest.mark.parametrize(
    "address,why",
    [
        ("10.0.0.1", "private"),
        ("10.255.255.254", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.254", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "shared"),
        ("100.127.255.254", "shared"),
        ("169.254.169.254", "metadata"),
        ("169.254.1.1", "link-local"),
        ("127.0.0.1", "loopback"),
        ("127.1.2.3", "loopback"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("192.0.2.1", "special-purpose"),
        ("198.18.0.1", "special-purpose"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fc00::1", "private"),
        ("fdff:ffff::1", "private"),
        ("fd00:ec2::254", "metadata"),
        ("fe80::1", "link-local"),
        ("febf::1", "link-local"),
        ("fec0::1", "site-local"),
        ("ff02::1", "multicast"),
        ("2001:db8::1", "special-purpose"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:169.254.169.254", "metadata"),
        ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
        ("2002:a9fe:a9fe::1", "metadata"),  # 6to4 of 169.254.169.254
        ("64:ff9b::7f00:1", "loopback"),  # NAT64 of 127.0.0.1
        ("64:ff9b::a00:1", "private"),  # NAT64 of 10.0.0.1
        ("fe80::1%eth0", "link-local"),
    ],
)
def test_the_address_check_refuses_every_non_public_range_without_touching_the_network(
    no_network, address, why
):
    problem = address_problem(address)
    assert problem is not None and why in problem, problem


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "1.1.1.1",
        "93.184.216.34",
        "172.32.0.1",
        "172.15.255.254",
        "100.128.0.1",
        "192.169.0.1",
        "2606:4700:4700::1111",
        "2a00:1450:4001::200e",
        "::ffff:8.8.8.8",
        "2002:808:808::",
        "64:ff9b::808:808",
    ],
)
def test_public_addresses_pass_the_check(no_network, address):
    assert address_problem(address) is None


def test_an_allowed_range_lets_its_addresses_through_and_no_others(no_network):
    loopback = [ipaddress.ip_network("127.0.0.0/8")]
    assert address_problem("127.0.0.1", loopback) is None
    assert address_problem("::ffff:127.0.0.1", loopback) is None  # the IPv4 address it reaches is allowed
    assert "private" in address_problem("10.0.0.1", loopback)
    assert "loopback" in address_problem("::1", loopback)
    assert address_problem("fd00::1", [ipaddress.ip_network("fd00::/8")]) is None


def test_an_ip_literal_is_checked_without_a_lookup(no_network):
    with pytest.raises(URLError, match=r"127\.1\.2\.3 is a loopback address.*FENTA_ALLOW_PRIVATE_URLS"):
        checked_addresses("http://127.1.2.3:8080/x.mp4", _untrusted())
    with pytest.raises(URLError, match="the cloud metadata address"):
        checked_addresses("http://169.254.169.254/latest/meta-data/", _untrusted())
    assert checked_addresses("http://[2606:4700:4700::1111]/x", _untrusted()) == ["2606:4700:4700::1111"]
    assert checked_addresses("http://127.0.0.1/x", TRUSTED) == []  # the local user's own network


def test_a_host_with_one_refused_address_among_public_ones_is_refused():
    def resolve(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "10.0.0.7"]

    with pytest.raises(URLError, match=r"media\.example \(10\.0\.0\.7\) is a private address"):
        checked_addresses("https://media.example/x.mp4", _untrusted(), resolve)


def test_a_host_that_does_not_resolve_is_one_line():
    def resolve(host: str, port: int) -> list[str]:
        raise socket.gaierror(-2, "Name or service not known")

    with pytest.raises(URLError, match="cannot resolve the host of 'http://nowhere.example/x'"):
        checked_addresses("http://nowhere.example/x", _untrusted(), resolve)


# ------------------------------------------------------------------------------ URL syntax


@pytest.mark.parametrize(
    "url,why",
    [
        ("http://a..b.com/x.mp4", "empty label"),
        ("http://hooks..example.com/x", "empty label"),
        ("http://.example.com/x", "empty label"),
        ("http://[::1/x.mp4", "brackets"),
        ("http://::1]/x.mp4", "brackets"),
        ("https://exa mple.com/x", "space"),
        ("https://exa\tmple.com/x", "space"),
        ("http://example.com:99999/x", "port 99999 is out of range"),
        ("http://example.com:0/x", "port 0 is out of range"),
        ("http://xn--a.com/x", "IDNA"),
        ("http://-bad.example/x", "label"),
        ("http://bad-.example/x", "label"),
        ("http://exa%20mple.com/x", "label"),
        ("http:///x", "no host"),
        ("http://[::g]/x", "IPv6"),
        ("http://" + "a" * 64 + ".com/x", "label"),
        ("ftp://example.com/x", "only http:// and https://"),
        ("file:///etc/passwd", "only http:// and https://"),
        ("example.com/x.mp4", "only http:// and https://"),
        ("javascript:alert(1)", "only http:// and https://"),
    ],
)
def test_bad_urls_are_refused_in_one_line(no_network, url, why):
    with pytest.raises(URLError) as e:
        parse_url(url)
    assert why in str(e.value) and "\n" not in str(e.value), str(e.value)
    assert e.value.exit_code == 2


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/x.mp4",
        "HTTPS://Example.COM:65535/a b.mp4",
        "http://exämple.com/клип.mp4",
        "http://example.com./x",
        "http://[::1]:8080/x",
        "http://127.0.0.1:1/x",
        "http://a_b.example.com/x",
        "http://xn--exmple-cua.com/x",
    ],
)
def test_valid_urls_parse(no_network, url):
    assert parse_url(url).scheme in ("http", "https")


# ------------------------------------------------------------------------------ redirects and pinning


class Hops(FakeServer):
    """/hop/N redirects to /hop/N-1 ... /hop/0 serves a small body; /away?to=URL redirects there."""

    def __init__(self) -> None:
        super().__init__()
        self.route("GET", r"/hop/0", lambda req, m: Reply(200, b"media", {"Content-Type": "video/mp4"}))
        self.route(
            "GET", r"/hop/(\d+)", lambda req, m: Reply(302, b"", {"Location": f"/hop/{int(m.group(1)) - 1}"})
        )
        self.route("GET", r"/away", lambda req, m: Reply(302, b"", {"Location": req.q("to")}))


@pytest.fixture
def hops():
    with Hops() as server:
        yield server


def test_five_redirects_are_followed_and_a_sixth_is_refused_before_it_is_requested(hops):
    with open_stream(hops.url + "/hop/5", timeout=5) as resp:
        assert resp.read() == b"media"
    assert len(hops.requests) == 6
    hops.requests.clear()
    with pytest.raises(URLError, match="redirects more than 5 times"):
        with open_stream(hops.url + "/hop/6", timeout=5):
            pass
    assert [r.path for r in hops.requests] == [f"/hop/{n}" for n in range(6, 0, -1)]  # /hop/0 never asked


@pytest.mark.parametrize(
    "location",
    ["file:///etc/passwd", "ftp://127.0.0.1/x", "http://a..b.example/x", "http://127.0.0.1:99999/x"],
)
def test_a_redirect_to_a_bad_url_is_refused(hops, location):
    with pytest.raises(URLError):
        with open_stream(f"{hops.url}/away?to={location}", timeout=5):
            pass


def test_an_untrusted_redirect_to_a_refused_address_is_never_requested(hops):
    first = Hops().start(host="127.0.0.2")  # the allowed address stands in for a public one
    try:
        with pytest.raises(URLError, match="127.0.0.1 is a loopback address"):
            with open_stream(
                f"{first.url}/away?to={hops.url}/hop/0", policy=_untrusted("127.0.0.2/32"), timeout=5
            ):
                pass
        assert [r.path for r in first.requests] == ["/away"]
    finally:
        first.stop()
    assert hops.requests == []  # nothing reached 127.0.0.1


def _same_port_on(hosts: list[str]) -> list[FakeServer]:
    """One Hops server per loopback address, all on one port (so only the address tells them apart)."""
    for _ in range(20):
        with socket.socket() as probe:
            probe.bind((hosts[0], 0))
            port = probe.getsockname()[1]
        servers: list[FakeServer] = []
        try:
            for host in hosts:
                servers.append(Hops().start(port=port, host=host))
            return servers
        except OSError:
            for s in servers:
                s.stop()
    raise RuntimeError("no port free on every address")


def test_the_connection_goes_to_the_checked_address_whatever_dns_answers_later():
    checked, other = _same_port_on(["127.0.0.2", "127.0.0.3"])
    answers: list[str] = []

    def rebinding(host: str, port: int) -> list[str]:
        # First the address the policy allows (a stand-in for a public one), then a refused one.
        answer = "127.0.0.2" if not answers else "127.0.0.3"
        answers.append(answer)
        return [answer]

    port = checked.url.rsplit(":", 1)[1]
    try:
        with open_stream(
            f"http://media.example:{port}/hop/0",
            policy=_untrusted("127.0.0.2/32"),
            timeout=5,
            resolve=rebinding,
        ) as resp:
            assert resp.status_code == 200 and resp.read() == b"media"
            assert str(resp.url) == f"http://media.example:{port}/hop/0"
        assert answers == ["127.0.0.2"]  # looked up once: the connection used that answer
        assert [r.headers.get("Host") for r in checked.requests] == [f"media.example:{port}"]
        assert other.requests == []
        with pytest.raises(URLError, match=r"media\.example \(127\.0\.0\.3\) is a loopback address"):
            with open_stream(
                f"http://media.example:{port}/hop/0",
                policy=_untrusted("127.0.0.2/32"),
                timeout=5,
                resolve=rebinding,
            ):
                pass
        assert other.requests == [] and len(checked.requests) == 1
    finally:
        checked.stop()
        other.stop()


class _TLSServer:
    """HTTPS on 127.0.0.2 with a certificate (from a test CA) for the names given."""

    def __init__(self, ca: Any, *names: str) -> None:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = ThreadingHTTPServer(("127.0.0.2", 0), Handler)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(*names).configure_cert(context)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_pinned_https_connection_still_verifies_the_urls_host_name():
    import httpx
    import trustme

    ca = trustme.CA()
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    policy = _untrusted("127.0.0.2/32")

    def resolve(host: str, port: int) -> list[str]:
        return ["127.0.0.2"]

    right, wrong = _TLSServer(ca, "media.example"), _TLSServer(ca, "other.example")
    try:
        with open_stream(
            f"https://media.example:{right.port}/",
            policy=policy,
            timeout=5,
            resolve=resolve,
            verify=client_context,
        ) as resp:
            assert resp.read() == b"ok"
        with pytest.raises(httpx.ConnectError, match="certificate"):
            with open_stream(
                f"https://media.example:{wrong.port}/",
                policy=policy,
                timeout=5,
                resolve=resolve,
                verify=client_context,
            ):
                pass
    finally:
        right.stop()
        wrong.stop()


def test_a_pinned_request_tries_the_next_checked_address_when_one_does_not_answer():
    server = Hops().start(host="127.0.0.2")
    port = server.url.rsplit(":", 1)[1]
    try:

        def resolve(host: str, port: int) -> list[str]:
            return ["127.0.0.4", "127.0.0.2"]  # nothing listens on the first

        with open_stream(
            f"http://media.example:{port}/hop/0",
            policy=_untrusted("127.0.0.0/29"),
            timeout=5,
            resolve=resolve,
        ) as resp:
            assert resp.read() == b"media"
    finally:
        server.stop()


def test_a_redirect_to_a_location_httpx_cannot_even_read_is_one_line(hops):
    with pytest.raises(URLError, match="redirects to a URL that is not valid"):
        with open_stream(f"{hops.url}/away?to=http://xn--a.com/x", timeout=5):
            pass
