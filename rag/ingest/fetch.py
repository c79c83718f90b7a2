"""Fetching a web page safely: public addresses only, checked before any connection is made.

A URL's host is resolved once; if any of its addresses is not public (loopback, private,
link-local, shared, multicast, reserved, unspecified, IPv4-mapped IPv6, unique local) the
request is refused with a one-line reason before a connection is opened. The connection then
goes to the checked address itself — the URL's host is kept only for the Host header and for
TLS (SNI and certificate checking) — so a second DNS answer cannot send it elsewhere (DNS
rebinding). Redirects are followed by hand, each checked the same way, at most MAX_REDIRECTS.

Odd spellings of an address are read as the system reads them: `127.1`, `2130706433` and
`0x7f.1` are all 127.0.0.1 (inet_aton), and `[::ffff:127.0.0.1]` is an IPv4-mapped IPv6 address.
"""

from __future__ import annotations

import email.message
import ipaddress
import socket
import time
from dataclasses import dataclass

import httpx

from rag.ingest.article import _SourceError

USER_AGENT = "rag-ingest/0.1 (question answering over articles)"
MAX_REDIRECTS = 5
# A whole download may take this many timeouts: a server that sends a byte now and then never
# trips the per-read timeout, and would otherwise hold the one indexing job for hours.
TOTAL_TIMEOUTS = 6
_REDIRECTS = (301, 302, 303, 307, 308)
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT (RFC 6598)
_ULA = ipaddress.ip_network("fc00::/7")  # unique local IPv6 (RFC 4193)
_HINT = "only public addresses are fetched (on the command line, --allow-private-urls allows it)"

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Fetched:
    """A downloaded page: where it ended up after redirects, its bytes and declared type."""

    url: str
    data: bytes
    content_type: str  # lower-case type/subtype; text/plain when the server names none
    charset: str | None


def address_kind(address: Address) -> str | None:
    """Why an address is not public ("loopback", "private", …), or None for a public one.

    address_kind(ip_address("127.0.0.1")) == "loopback"; address_kind(ip_address("1.1.1.1")) is None
    """
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return "IPv4-mapped IPv6"
        embedded = address.sixtofour or (address.teredo[1] if address.teredo else None)
        if embedded is not None and address_kind(embedded):
            return "IPv6 tunnel to an internal"
        if address in _ULA:
            return "unique local"
    if address.is_link_local:
        return "link-local"
    if isinstance(address, ipaddress.IPv4Address) and address in _SHARED:
        return "shared (carrier-grade NAT)"
    if address.is_multicast:
        return "multicast"
    if address.is_reserved:
        return "reserved"
    if address.is_private:
        return "private"
    if not address.is_global:
        return "special-purpose"
    return None


def literal_address(host: str) -> Address | None:
    """The address a host names by itself (no DNS), in any spelling the system accepts.

    literal_address("0x7f.1") == IPv4Address("127.0.0.1"); literal_address("example.com") is None
    """
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:  # inet_aton reads 127.1, 2130706433, 0x7f.1 and 0177.0.0.1 as a resolver would
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except (OSError, ValueError):
        return None


def resolve(host: str, port: int) -> list[Address]:
    """Every address a host stands for: the literal one, or the resolver's answers (one lookup)."""
    literal = literal_address(host)
    if literal is not None:
        return [literal]
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        detail = getattr(error, "strerror", None) or error
        raise _SourceError(host, f"could not connect: {host}: {detail}") from error
    found: list[Address] = []
    for *_, sockaddr in answers:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    if not found:
        raise _SourceError(host, f"could not connect: {host} has no address")
    return found


def fetch(url: str, *, timeout: float, max_bytes: int, allow_private: bool = False) -> Fetched:
    """Download url (http or https), following at most MAX_REDIRECTS redirects; every address on
    the way must be public, except — with allow_private — those of url's own host and port (the
    owner named that one; a redirect elsewhere is checked as usual). Raises _SourceError with
    a one-line reason."""
    current = _parse_url(url, url)
    trusted = _origin(current) if allow_private else None
    with httpx.Client(
        timeout=httpx.Timeout(timeout), follow_redirects=False, trust_env=False
    ) as client:
        for hop in range(MAX_REDIRECTS + 1):
            address = _checked_address(url, current, trusted, redirected=hop > 0)
            try:
                response = _send(client, current, address)
                try:
                    location = response.headers.get("location")
                    if response.status_code in _REDIRECTS and location:
                        current = _parse_url(url, str(current.join(location)), redirect=True)
                        continue
                    if response.status_code >= 300:
                        raise _SourceError(
                            url, f"HTTP {response.status_code} {response.reason_phrase}"
                        )
                    data = _read_capped(response, max_bytes, timeout * TOTAL_TIMEOUTS)
                    if data is None:
                        raise _SourceError(
                            url,
                            f"the download took longer than {timeout * TOTAL_TIMEOUTS:g} s; "
                            "download it yourself or raise RAG_TIMEOUT",
                        )
                    content_type = response.headers.get("content-type", "")
                finally:
                    response.close()
            except httpx.TimeoutException as error:
                raise _SourceError(
                    url, f"could not connect: timed out after {timeout:g} s"
                ) from error
            except (httpx.HTTPError, httpx.InvalidURL, OSError) as error:
                raise _SourceError(url, f"could not connect: {_cause(error)}") from error
            if len(data) > max_bytes:
                raise _SourceError(
                    url,
                    f"response is larger than the {_size_limit(max_bytes)} limit; "
                    "download and split it or raise --max-bytes",
                )
            header = email.message.Message()
            header["content-type"] = content_type
            return Fetched(
                str(current), data, header.get_content_type(), header.get_content_charset()
            )
    raise _SourceError(
        url, f"more than {MAX_REDIRECTS} redirects; link to the page they end at instead"
    )


def _parse_url(source: str, url: str, *, redirect: bool = False) -> httpx.URL:
    where = f"refused: redirected to {url}, which" if redirect else "the URL"
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError) as error:
        raise _SourceError(source, f"{where} is not a valid address ({error})") from error
    if parsed.scheme not in ("http", "https"):
        raise _SourceError(source, f"{where} is not http(s); only web pages are fetched")
    if not parsed.host:
        raise _SourceError(source, f"{where} names no host; give a full address")
    return parsed


def _origin(url: httpx.URL) -> tuple[str, int]:
    return url.raw_host.decode("ascii").lower(), url.port or (443 if url.scheme == "https" else 80)


def _checked_address(
    source: str, url: httpx.URL, trusted: tuple[str, int] | None, *, redirected: bool
) -> Address:
    """The address to connect to for url, once every address its host has is checked; the
    trusted origin (host, port) may be private."""
    host, port = _origin(url)
    addresses = resolve(host, port)
    if (host, port) == trusted:
        return addresses[0]
    for address in addresses:
        kind = address_kind(address)
        if kind is not None:
            named = host if _is_plain_ip(host) else f"{host} is {address}"
            kind = f"{'an' if kind[0] in 'aeiouI' and kind != 'unique local' else 'a'} {kind}"
            if not redirected:
                raise _SourceError(source, f"refused: {named}, {kind} address; {_HINT}")
            hint = (
                "private addresses are fetched only from the host and port given"
                if trusted
                else "only public addresses are fetched"
            )
            raise _SourceError(
                source, f"refused: redirected to {url}, but {named}, {kind} address; {hint}"
            )
    return addresses[0]


def _is_plain_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _send(client: httpx.Client, url: httpx.URL, address: Address) -> httpx.Response:
    """Send a GET for url to address, with url's host in the Host header and for TLS."""
    extensions = {"sni_hostname": url.raw_host.decode("ascii")} if url.scheme == "https" else {}
    request = client.build_request(
        "GET",
        url.copy_with(host=str(address)),
        headers={"Host": url.netloc.decode("ascii"), "User-Agent": USER_AGENT},
        extensions=extensions,
    )
    return client.send(request, stream=True)


def _read_capped(response: httpx.Response, max_bytes: int, seconds: float) -> bytes | None:
    """The body, but never more than max_bytes + 1 bytes of it (enough to know it is too big);
    None when it takes longer than seconds."""
    chunks: list[bytes] = []
    size = 0
    deadline = time.monotonic() + seconds
    for chunk in response.iter_bytes():
        if time.monotonic() > deadline:
            return None
        chunks.append(chunk)
        size += len(chunk)
        if size > max_bytes:
            break
    return b"".join(chunks)[: max_bytes + 1]


def _cause(error: BaseException) -> str:
    """The most telling words of a connection failure: the OS's own, when there are some."""
    seen = error
    while seen is not None:
        if isinstance(seen, OSError) and seen.strerror:
            return seen.strerror
        seen = seen.__cause__ or seen.__context__
    return " ".join(str(error).split()) or type(error).__name__


def _size_limit(max_bytes: int) -> str:
    return f"{max_bytes / 1e6:g} MB" if max_bytes >= 1_000_000 else f"{max_bytes:,} bytes"
