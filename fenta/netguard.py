"""Requests to URLs someone gave fenta (an asset URL, a webhook receiver): where they may go, checked.

    with netguard.open_stream(url, policy=policy, timeout=60) as resp:   # a GET; redirects followed here
        for chunk in resp.iter_bytes(): ...

Always: http(s) only, a URL that parses (a host of valid labels or an IP address, a port in 1-65535),
at most `MAX_REDIRECTS` redirects, each one checked like the first URL.

Under an untrusted policy (`fenta.policy`) every hop's host is resolved once, every address it
resolves to is checked with `address_problem` (loopback, private, link-local, multicast, unspecified,
reserved, shared or cloud-metadata addresses are refused unless inside `policy.allowed_networks`),
and the connection is made to the address that was checked: the request goes to that IP while the
URL's host name stays in the Host header and in TLS (SNI and the certificate check, through httpcore's
`sni_hostname` request extension). So DNS cannot answer one address for the check and another for the
connection. Environment proxies are not used then: a proxy would resolve the name itself.

The trusted local user's requests go wherever their own network takes them (proxies included).
Results from the configured providers (Pexels, KIE) do not come through here: those services were
chosen by the operator, not named by a workflow.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import ssl
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from .errors import URLError
from .policy import TRUSTED, Network, Policy

if TYPE_CHECKING:
    import httpx

__all__ = [
    "MAX_REDIRECTS",
    "Resolver",
    "system_resolver",
    "address_problem",
    "parse_url",
    "literal_problem",
    "checked_addresses",
    "client",
    "open_stream",
]

#: Redirects followed at most (each hop checked like the first URL).
MAX_REDIRECTS = 5

#: host, port -> the addresses it resolves to, best first (`system_resolver`: getaddrinfo).
Resolver = Callable[[str, int], Sequence[str]]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_ip = ipaddress.ip_address
_net = ipaddress.ip_network

#: Instance metadata services (AWS, GCP, Azure, OCI; AWS over IPv6; Alibaba): they hand out credentials.
_METADATA = {_ip("169.254.169.254"), _ip("fd00:ec2::254"), _ip("100.100.100.200")}
_PRIVATE = (_net("10.0.0.0/8"), _net("172.16.0.0/12"), _net("192.168.0.0/16"), _net("fc00::/7"))
_SHARED = _net("100.64.0.0/10")  # carrier-grade NAT: inside a provider's network
_SITE_LOCAL = _net("fec0::/10")  # deprecated, still routed inside some networks
_NAT64 = _net("64:ff9b::/96")  # the well-known NAT64 prefix: the last 32 bits are the IPv4 address reached
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to (getaddrinfo's order, duplicates left out)."""
    found: list[str] = []
    for *_, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        address = str(sockaddr[0])
        if address not in found:
            found.append(address)
    return found


def _inside(ip: IPAddress, networks: Iterable[Network]) -> bool:
    return any(ip.version == net.version and ip in net for net in networks)


def _embedded_ipv4(ip: IPAddress) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address reaches: IPv4-mapped (`::ffff:a.b.c.d`), 6to4 (`2002::/16`),
    NAT64 (`64:ff9b::/96`) and Teredo (server and client)."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return []
    if ip.ipv4_mapped is not None:
        return [ip.ipv4_mapped]
    if ip.sixtofour is not None:
        return [ip.sixtofour]
    if ip in _NAT64:
        return [ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)]
    if ip.teredo is not None:
        return list(ip.teredo)
    return []


def _own_problem(ip: IPAddress) -> str | None:
    checks: list[tuple[bool, str]] = [
        (ip in _METADATA, "the cloud metadata address"),
        (ip.is_loopback, "a loopback address"),
        (ip.is_unspecified, "an unspecified address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_multicast, "a multicast address"),
        (_inside(ip, _PRIVATE), "a private address"),
        (_inside(ip, (_SHARED,)), "a shared (carrier-grade NAT) address"),
        (_inside(ip, (_SITE_LOCAL,)), "a site-local address"),
        (ip.is_reserved, "a reserved address"),
        (ip.is_private or not ip.is_global, "a special-purpose address, not a public one"),
    ]
    return next((why for hit, why in checks if hit), None)


def address_problem(address: str | IPAddress, allowed: Iterable[Network] = ()) -> str | None:
    """Why an untrusted request may not connect to `address` (None: it may). Pure: opens nothing.

    Refused: loopback, private (10/8, 172.16/12, 192.168/16, fc00::/7), shared (100.64/10),
    link-local (169.254/16, fe80::/10), cloud metadata, multicast, unspecified, reserved and other
    special-purpose addresses; an IPv6 form of an IPv4 address (`::ffff:127.0.0.1`, 6to4, NAT64,
    Teredo) is judged by the IPv4 address it reaches. An address inside `allowed` (the operator's
    `FENTA_ALLOW_PRIVATE_URLS`) is never refused.
    """
    ip = _ip(str(address).split("%", 1)[0])  # a zone index (fe80::1%eth0) names no other address
    allowed = tuple(allowed)
    if _inside(ip, allowed):
        return None
    inner = _embedded_ipv4(ip)
    if inner:
        for v4 in inner:
            if _inside(v4, allowed):
                continue
            why = _own_problem(v4)
            if why:
                return f"{why} ({ip} reaches {v4})"
        return None
    return _own_problem(ip)


def _host_problem(raw_host: str) -> str | None:
    """Why a URL's host (ASCII, as httpx encodes it) is no host name or IP address (None: it is one)."""
    if not raw_host:
        return "it has no host"
    if ":" in raw_host:  # an IPv6 literal (httpx keeps the brackets off)
        try:
            _ip(raw_host.replace("%25", "%"))
        except ValueError:
            return f"'[{raw_host}]' is not an IPv6 address"
        return None
    name = raw_host.removesuffix(".")
    if len(name) > 253:
        return "the host name is longer than 253 characters"
    for label in name.split("."):
        if not label:
            return f"the host '{raw_host}' has an empty label (two dots in a row, or a dot at the start)"
        if not _LABEL.match(label):
            return (
                f"the host '{raw_host}' has a label that is not letters, digits and inner hyphens: '{label}'"
            )
        if label.startswith("xn--"):
            import idna

            try:
                idna.decode(label)
            except (idna.IDNAError, UnicodeError):
                return f"the host '{raw_host}' has a label that is not valid IDNA: '{label}'"
    return None


def parse_url(url: str) -> httpx.URL:
    """`url` parsed, when it is an http(s) URL with a valid host and port.

    Raises:
        URLError: one line saying what is wrong (scheme, host, IDNA, port), naming the URL.
    """
    import httpx

    text = str(url)
    scheme = text.split(":", 1)[0].lower() if ":" in text else ""
    if scheme not in ("http", "https") or "://" not in text:
        raise URLError(f"only http:// and https:// URLs are fetched, not '{text}'")
    netloc = text.split("://", 1)[1].split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    why: str | None = None
    if netloc.count("[") != netloc.count("]"):
        why = "the brackets around an IPv6 address do not match (write it as http://[::1]:8080/...)"
    elif any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in netloc):
        why = "the host contains a space or a control character"
    parsed = None
    if why is None:
        try:
            parsed = httpx.URL(text)
        except (httpx.InvalidURL, ValueError) as e:  # bad IDNA raises idna's UnicodeError, a ValueError
            why = str(e).splitlines()[0] if str(e) else type(e).__name__
    if parsed is not None:
        if parsed.port is not None and not 1 <= parsed.port <= 65535:
            why = f"the port {parsed.port} is out of range (1-65535)"
        else:
            why = _host_problem(parsed.raw_host.decode("ascii", errors="replace"))
    if why is not None or parsed is None:
        raise URLError(f"'{text}' is not a valid URL: {why}")
    return parsed


def literal_problem(url: str, policy: Policy) -> str | None:
    """Why `policy` may not reach `url`, judged without DNS (None: no objection yet). Only a host that
    is an IP address or `localhost` can be judged so: a validation step refuses those at once, and a
    host name is still resolved and checked when it is fetched (`checked_addresses`).

    Raises:
        URLError: the URL is not a valid http(s) URL.
    """
    parsed = parse_url(url)
    if policy.trusted:
        return None
    host = parsed.host.split("%", 1)[0]
    if host == "localhost" or host.endswith(".localhost"):  # RFC 6761: always loopback
        host = "127.0.0.1"
    try:
        ip = _ip(host)
    except ValueError:
        return None
    why = address_problem(ip, policy.allowed_networks)
    if why is None:
        return None
    return (
        f"'{url}' is refused: {parsed.host} is {why}; untrusted input may reach only public addresses "
        "(the operator can allow ranges with FENTA_ALLOW_PRIVATE_URLS)"
    )


def _port(url: httpx.URL) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


def checked_addresses(url: str | httpx.URL, policy: Policy, resolve: Resolver | None = None) -> list[str]:
    """The addresses an untrusted request to `url` may connect to, best first: every address its host
    resolves to, when none is refused (a host that also resolves to a private address is refused
    as a whole). A trusted policy checks only the URL itself and resolves nothing ([]).

    Raises:
        URLError: a bad URL, a host that does not resolve, or one refused address (naming it).
    """
    parsed = parse_url(str(url))
    if policy.trusted:
        return []
    host = parsed.host
    try:
        addresses = [_ip(host.split("%", 1)[0])]
    except ValueError:  # a name, not an address
        addresses = _resolved(url, parsed, resolve)
    for ip in addresses:
        why = address_problem(ip, policy.allowed_networks)
        if why:
            shown = host if str(ip) == host else f"{host} ({ip})"
            raise URLError(
                f"'{url}' is refused: {shown} is {why}; untrusted input may reach only public addresses "
                "(the operator can allow ranges with FENTA_ALLOW_PRIVATE_URLS)"
            )
    return [str(ip) for ip in addresses]


def _resolved(url: str | httpx.URL, parsed: httpx.URL, resolve: Resolver | None) -> list[IPAddress]:
    """The addresses the host of `url` (parsed) resolves to.

    Raises:
        URLError: the host does not resolve, or resolves to no address.
    """
    try:
        addresses = [
            _ip(a.split("%", 1)[0])
            for a in (resolve or system_resolver)(parsed.raw_host.decode("ascii"), _port(parsed))
        ]
    except (OSError, UnicodeError, ValueError) as e:
        raise URLError(f"cannot resolve the host of '{url}': {e}", unresolved=True) from None
    if not addresses:
        raise URLError(f"cannot resolve the host of '{url}': no address", unresolved=True)
    return addresses


def _pinned_transport(policy: Policy, resolve: Resolver | None, verify: ssl.SSLContext | bool) -> Any:
    import httpx

    class PinnedTransport(httpx.BaseTransport):
        """Checks each request's host and connects to the checked address, never resolving it again."""

        def __init__(self) -> None:
            self._inner = httpx.HTTPTransport(verify=verify, trust_env=False)

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            addresses = checked_addresses(request.url, policy, resolve)
            if addresses == [request.url.host.split("%", 1)[0]]:  # an IP literal: nothing to pin
                return self._inner.handle_request(request)
            last: httpx.ConnectError | None = None
            for address in addresses:  # the next checked address when one cannot be reached
                pinned = httpx.Request(
                    request.method,
                    request.url.copy_with(host=address),
                    headers=request.headers,
                    stream=request.stream,
                    extensions={**request.extensions, "sni_hostname": request.url.raw_host.decode("ascii")},
                )  # the Host header is the original's: the URL's host name
                try:
                    return self._inner.handle_request(pinned)
                except httpx.ConnectError as e:
                    e.request, last = request, e
            raise last or httpx.ConnectError("no address to connect to", request=request)

        def close(self) -> None:
            self._inner.close()

    return PinnedTransport()


def client(
    policy: Policy = TRUSTED,
    *,
    timeout: float,
    resolve: Resolver | None = None,
    headers: dict[str, str] | None = None,
    verify: ssl.SSLContext | bool = True,
) -> httpx.Client:
    """An httpx client that follows no redirects by itself; under an untrusted policy each request's
    host is checked and the connection pinned to the checked address.

    Args:
        resolve: How host names are looked up (default: the system's getaddrinfo).
        verify: TLS verification, as httpx takes it (an `ssl.SSLContext` trusting another CA).
    """
    import httpx

    if policy.trusted:
        return httpx.Client(follow_redirects=False, timeout=timeout, headers=headers, verify=verify)
    transport = _pinned_transport(policy, resolve, verify)
    return httpx.Client(
        follow_redirects=False, timeout=timeout, headers=headers, transport=transport, trust_env=False
    )


@contextmanager
def open_stream(
    url: str,
    *,
    policy: Policy = TRUSTED,
    timeout: float,
    resolve: Resolver | None = None,
    max_redirects: int = MAX_REDIRECTS,
    headers: dict[str, str] | None = None,
    verify: ssl.SSLContext | bool = True,
) -> Iterator[httpx.Response]:
    """GET `url` and yield the response (body not read yet) after following at most `max_redirects`
    redirects, each checked like `url`; the response is closed on leaving.

    Raises:
        URLError: a bad URL (first or redirected to), more than `max_redirects` redirects, or, under an
            untrusted policy, a host that resolves to a refused address.
        httpx.HTTPError: the connection or the exchange failed.
    """
    first = parse_url(url)
    with client(policy, timeout=timeout, resolve=resolve, headers=headers, verify=verify) as http:
        request = http.build_request("GET", first)
        for _ in range(max_redirects + 1):
            try:
                response = http.send(request, stream=True)
            except ValueError as e:  # a Location with bad IDNA (httpx raises no ValueError of its own)
                raise URLError(f"'{url}' redirects to a URL that is not valid: {e}") from None
            if response.next_request is None:
                try:
                    yield response
                finally:
                    response.close()
                return
            response.close()
            request = response.next_request
            parse_url(str(request.url))
        raise URLError(f"'{url}' redirects more than {max_redirects} times")
