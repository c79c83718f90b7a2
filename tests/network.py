"""A test network that never leaves the machine: a resolver that answers from a table, sockets
that may connect only to loopback (or to a "public" address the test routes to a loopback
server), and small HTTP servers on 127.0.0.1 that record what they were asked."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

_CONNECT = socket.socket.connect
_CONNECT_EX = socket.socket.connect_ex
_GETADDRINFO = socket.getaddrinfo


@dataclass
class Network:
    """What the test resolver answers, where "public" addresses are served, and what was tried."""

    names: dict[str, list[list[str]]] = field(default_factory=dict)  # host → answers, in turn
    routes: dict[tuple[str, int], int] = field(default_factory=dict)  # (address, port) → port
    lookups: list[str] = field(default_factory=list)
    connections: list[tuple[str, int]] = field(default_factory=list)
    escaped: list[tuple[str, int]] = field(default_factory=list)

    def name(self, host: str, *answers: list[str]) -> None:
        """Make host resolve to each answer in turn (the last one repeats)."""
        self.names[host] = list(answers)

    def route(self, address: str, port: int, local_port: int) -> None:
        """Serve the public address:port from a server on 127.0.0.1:local_port."""
        self.routes[(address, port)] = local_port

    def _target(self, address: tuple) -> tuple:
        host, port = str(address[0]), int(address[1])
        self.connections.append((host, port))
        if (host, port) in self.routes:
            return ("127.0.0.1", self.routes[(host, port)])
        if not ipaddress.ip_address(host.split("%", 1)[0]).is_loopback:
            self.escaped.append((host, port))
            raise ConnectionRefusedError(111, f"the test network blocks {host}:{port}")
        return address

    def _lookup(self, host, port, family=0, type=0, proto=0, flags=0):
        name = host.decode() if isinstance(host, bytes) else str(host)
        self.lookups.append(name)
        if name in self.names:
            answers = self.names[name]
            current = answers.pop(0) if len(answers) > 1 else answers[0]
            return [
                (
                    socket.AF_INET6 if ":" in a else socket.AF_INET,
                    socket.SOCK_STREAM,
                    socket.IPPROTO_TCP,
                    "",
                    (a, port or 0, 0, 0) if ":" in a else (a, port or 0),
                )
                for a in current
            ]
        try:  # addresses written as numbers are read, never looked up
            return _GETADDRINFO(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)
        except socket.gaierror:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None


@pytest.fixture
def network(monkeypatch) -> Iterator[Network]:
    """The test network; the test fails if anything tried to connect outside the machine."""
    net = Network()
    net.name("localhost", ["127.0.0.1"])

    def connect(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            target = net._target(address)
            if target[0] == "127.0.0.1" and sock.family == socket.AF_INET6:
                target = ("::ffff:127.0.0.1", target[1], 0, 0)
            return _CONNECT(sock, target)
        return _CONNECT(sock, address)

    def connect_ex(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            address = net._target(address)
        return _CONNECT_EX(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", net._lookup)
    yield net
    assert net.escaped == [], f"connections left the machine: {net.escaped}"


@dataclass
class Page:
    """One response of a test server."""

    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "text/html"})


@dataclass
class Site:
    """A running test server: its URL and the requests (path, Host header) it received."""

    url: str
    port: int
    requests: list[tuple[str, str]]


@contextlib.contextmanager
def serve(pages: dict[str, Page]) -> Iterator[Site]:
    """An HTTP server on 127.0.0.1 serving pages by path (404 otherwise); stops on exit."""
    requests: list[tuple[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append((self.path, self.headers.get("Host", "")))
            page = pages.get(self.path, Page(b"not here", 404, {"Content-Type": "text/plain"}))
            self.send_response(page.status)
            for name, value in page.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(page.body)))
            self.end_headers()
            self.wfile.write(page.body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    try:
        yield Site(f"http://127.0.0.1:{port}", port, requests)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def html_page(title: str, text: str) -> Page:
    """A small article page."""
    body = (
        f"<html><head><title>{title}</title></head><body><article><h1>{title}</h1>"
        f"<p>{text}</p></article></body></html>"
    )
    return Page(body.encode("utf-8"))


def redirect(location: str, status: int = 302) -> Page:
    """A redirect to location."""
    return Page(b"", status, {"Location": location, "Content-Type": "text/plain"})
