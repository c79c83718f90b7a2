"""Fetching URLs: internal addresses are refused before any connection, in every spelling, behind
any name and after any redirect; the connection goes to the address that was checked."""

from __future__ import annotations

import ipaddress
import json
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from rag.config import Config
from rag.ingest import Article, Skipped, read_sources
from rag.ingest.fetch import MAX_REDIRECTS, address_kind, literal_address
from rag.pipeline import index_sources
from tests.network import html_page, redirect, serve

SECRET = "The internal admin password is hunter2-velvet-otter."
PUBLIC = "93.184.215.14"  # a public address; the test network serves it from loopback
HINT = "only public addresses are fetched (on the command line, --allow-private-urls allows it)"


def only(results: list) -> Article | Skipped:
    [result] = results
    return result


# Every form names an internal address; none may be connected to.
ADDRESS_FORMS = {
    "http://127.0.0.1:{port}/admin.html": "127.0.0.1, a loopback address",
    "http://127.1:{port}/admin.html": "127.1 is 127.0.0.1, a loopback address",
    "http://2130706433:{port}/admin.html": "2130706433 is 127.0.0.1, a loopback address",
    "http://0x7f.1:{port}/admin.html": "0x7f.1 is 127.0.0.1, a loopback address",
    "http://017700000001:{port}/admin.html": "017700000001 is 127.0.0.1, a loopback address",
    "http://127.0.0.2:{port}/admin.html": "127.0.0.2, a loopback address",
    "http://[::1]:{port}/admin.html": "::1, a loopback address",
    "http://[::ffff:127.0.0.1]:{port}/admin.html": "::ffff:127.0.0.1, an IPv4-mapped IPv6 address",
    "http://localhost:{port}/admin.html": "localhost is 127.0.0.1, a loopback address",
    "http://0.0.0.0:{port}/admin.html": "0.0.0.0, an unspecified address",
    "http://0:{port}/admin.html": "0 is 0.0.0.0, an unspecified address",
    "http://[::]:{port}/admin.html": "::, an unspecified address",
    "http://10.0.0.5/": "10.0.0.5, a private address",
    "http://172.16.3.4/": "172.16.3.4, a private address",
    "http://192.168.1.1/": "192.168.1.1, a private address",
    "http://169.254.169.254/latest/meta-data/": "169.254.169.254, a link-local address",
    "http://[fe80::1]/": "fe80::1, a link-local address",
    "http://100.64.0.1/": "100.64.0.1, a shared (carrier-grade NAT) address",
    "http://224.0.0.1/": "224.0.0.1, a multicast address",
    "http://[ff02::1]/": "ff02::1, a multicast address",
    "http://240.0.0.1/": "240.0.0.1, a reserved address",
    "http://[fd12:3456::1]/": "fd12:3456::1, a unique local address",
    "http://[::ffff:10.0.0.1]/": "::ffff:10.0.0.1, an IPv4-mapped IPv6 address",
    "http://[2002:7f00:1::1]/": "2002:7f00:1::1, an IPv6 tunnel to an internal address",
    "http://192.0.2.7/": "192.0.2.7, a private address",
}


@pytest.mark.parametrize("form", ADDRESS_FORMS)
def test_every_spelling_of_an_internal_address_is_refused_before_connecting(network, form):
    with serve({"/admin.html": html_page("Admin", SECRET)}) as secret:
        url = form.format(port=secret.port)
        result = only(list(read_sources([url], timeout=2)))
        assert secret.requests == []
    assert network.connections == [], "a connection was opened before the refusal"
    assert isinstance(result, Skipped) and result.source == url
    assert result.reason.startswith(f"refused: {ADDRESS_FORMS[form]}"), result.reason
    assert result.reason.endswith(HINT) and "\n" not in result.reason


def test_a_dotted_octal_address_is_not_read_at_all(network):
    [result] = read_sources(["http://0177.0.0.1/admin.html"], timeout=2)
    assert result.reason == "the URL is not a valid address (Invalid IPv4 address: '0177.0.0.1')"
    assert network.connections == []


def test_address_kinds_and_literal_spellings():
    assert literal_address("0x7f.1") == ipaddress.IPv4Address("127.0.0.1")
    assert literal_address("2130706433") == ipaddress.IPv4Address("127.0.0.1")
    assert literal_address("news.example") is None
    assert address_kind(ipaddress.ip_address("::ffff:127.0.0.1")) in (
        "IPv4-mapped IPv6",
        "loopback",
    )
    assert address_kind(ipaddress.ip_address("1.1.1.1")) is None
    assert address_kind(ipaddress.ip_address("2606:4700:4700::1111")) is None
    assert address_kind(ipaddress.ip_address(PUBLIC)) is None


def test_a_name_that_resolves_to_a_private_address_is_refused(network):
    network.name("intranet.example", ["10.1.2.3"])
    network.name("mixed.example", [PUBLIC, "127.0.0.1"])  # one bad address is enough
    network.name("v6.example", ["fd00::7"])
    urls = ["http://intranet.example/wiki", "https://mixed.example/", "http://v6.example/"]
    results = list(read_sources(urls, timeout=2))
    assert [r.reason for r in results] == [
        f"refused: intranet.example is 10.1.2.3, a private address; {HINT}",
        f"refused: mixed.example is 127.0.0.1, a loopback address; {HINT}",
        f"refused: v6.example is fd00::7, a unique local address; {HINT}",
    ]
    assert network.connections == []


def test_a_public_page_is_fetched_from_the_checked_address_with_its_own_host(network):
    page = html_page("Harbour news", "The ferry to Quenby now leaves at dawn every day.")
    with serve({"/story.html": page}) as site:
        network.route(PUBLIC, 80, site.port)
        # A rebinding resolver: the second answer would point at loopback. There is none.
        network.name("news.example", [PUBLIC], ["127.0.0.1"])
        article = only(list(read_sources(["http://news.example/story.html"], timeout=5)))
        assert site.requests == [("/story.html", "news.example")]
    assert isinstance(article, Article), article
    assert article.title == "Harbour news" and article.url == "http://news.example/story.html"
    assert network.lookups.count("news.example") == 1
    assert network.connections == [(PUBLIC, 80)]


def test_a_redirect_to_an_internal_address_is_refused_before_connecting(network):
    with serve({"/admin.html": html_page("Admin", SECRET)}) as secret:
        network.name("news.example", [PUBLIC])
        targets = {
            "/to-loopback": f"{secret.url}/admin.html",
            "/to-metadata": "http://169.254.169.254/latest/meta-data/",
            "/to-name": "http://intranet.example/",
            "/to-odd": f"http://0x7f.1:{secret.port}/admin.html",
            "/to-file": "file:///etc/passwd",
        }
        network.name("intranet.example", ["192.168.0.10"])
        public_pages = {path: redirect(target) for path, target in targets.items()}
        with serve(public_pages) as site:
            network.route(PUBLIC, 80, site.port)
            urls = [f"http://news.example{path}" for path in targets]
            results = list(read_sources(urls, timeout=2))
        assert secret.requests == []
    reasons = [r.reason for r in results]
    assert reasons == [
        f"refused: redirected to {secret.url}/admin.html, but 127.0.0.1, a loopback address; "
        "only public addresses are fetched",
        "refused: redirected to http://169.254.169.254/latest/meta-data/, but 169.254.169.254, "
        "a link-local address; only public addresses are fetched",
        "refused: redirected to http://intranet.example/, but intranet.example is "
        "192.168.0.10, a private address; only public addresses are fetched",
        f"refused: redirected to http://0x7f.1:{secret.port}/admin.html, but 0x7f.1 is "
        "127.0.0.1, a loopback address; only public addresses are fetched",
        "refused: redirected to file:/etc/passwd, which is not http(s); only web pages are fetched",
    ]
    assert set(network.connections) == {(PUBLIC, 80)}


def test_the_owner_allows_a_private_host_but_not_where_it_redirects(network):
    wiki = html_page("Team wiki", "The staging database is rebuilt every Sunday night.")
    with (
        serve({"/admin.html": html_page("Admin", SECRET)}) as other,
        serve(
            {
                "/wiki.html": wiki,
                "/moved": redirect("/wiki.html", 301),
                "/away": redirect(f"{other.url}/admin.html"),
            }
        ) as intranet,
    ):
        allowed = [f"{intranet.url}/wiki.html", f"{intranet.url}/moved", f"{intranet.url}/away"]
        page, moved, away = read_sources(allowed, timeout=5, allow_private_urls=True)
        assert other.requests == []
        assert [r[0] for r in intranet.requests] == ["/wiki.html", "/moved", "/wiki.html", "/away"]
    assert isinstance(page, Article) and page.title == "Team wiki"
    assert isinstance(moved, Article) and moved.url == f"{intranet.url}/wiki.html"
    assert away == Skipped(
        f"{intranet.url}/away",
        f"refused: redirected to {other.url}/admin.html, but 127.0.0.1, a loopback address; "
        "private addresses are fetched only from the host and port given",
    )


def test_redirects_are_limited(network):
    chain = {f"/r{i}": redirect(f"/r{i + 1}") for i in range(MAX_REDIRECTS)}
    chain[f"/r{MAX_REDIRECTS}"] = html_page("End", "The last page of the chain is here.")
    with serve(chain | {"/loop": redirect("/loop")}) as site:
        ends, looped = read_sources(
            [f"{site.url}/r0", f"{site.url}/loop"], timeout=5, allow_private_urls=True
        )
        assert [path for path, _ in site.requests].count("/loop") == MAX_REDIRECTS + 1
    assert isinstance(ends, Article) and ends.title == "End"
    assert looped == Skipped(
        f"{site.url}/loop",
        f"more than {MAX_REDIRECTS} redirects; link to the page they end at instead",
    )


def test_rag_index_needs_allow_private_urls_for_an_intranet_page(network, tmp_path, embedder):
    wiki = html_page("Team wiki", "The staging database is rebuilt every Sunday night.")
    with serve({"/wiki.html": wiki}) as intranet:
        url = f"{intranet.url}/wiki.html"
        config = Config(index_dir=tmp_path / "index")
        refused = index_sources(config, [url], embedder=embedder)
        assert refused.added == [] and intranet.requests == []
        assert refused.skipped[0].reason.startswith("refused: 127.0.0.1, a loopback address")
        allowed = Config(index_dir=tmp_path / "index", allow_private_urls=True)
        assert index_sources(allowed, [url], embedder=embedder).added == [url]


def test_the_cli_flag_allows_private_urls(network, tmp_path, capsys):
    from rag.cli import main

    with serve({"/wiki.html": html_page("Team wiki", "The wiki moved to the new server.")}) as s:
        url = f"{s.url}/wiki.html"
        index = ["index", url, "--index", str(tmp_path / "index")]
        assert main(index) == 1
        assert f"skipped {url}: refused: 127.0.0.1, a loopback address" in capsys.readouterr().err
        assert main([*index, "--allow-private-urls"]) == 0
    assert "1 added" in capsys.readouterr().out
    [change] = map(json.loads, (tmp_path / "index-changes.jsonl").read_text().splitlines())
    assert (change["action"], change["what"], change["added"]) == ("index", [url], [url])
    assert change["login"].endswith(" (command line)")


def test_https_connects_to_the_checked_address_and_names_the_host_for_tls(network, tmp_path):
    """The TLS handshake goes to the checked address but carries the URL's host name (SNI), and
    the certificate is verified: this self-signed one is refused."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=secure.example"]
        + ["-addext", "subjectAltName=DNS:secure.example"],
        check=True,
        capture_output=True,
    )
    names: list[str | None] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda sock, name, ctx: names.append(name)
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        network.name("secure.example", [PUBLIC])
        network.route(PUBLIC, 443, server.server_address[1])
        [result] = read_sources(["https://secure.example/story.html"], timeout=5)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    assert isinstance(result, Skipped), result
    assert result.reason.startswith("could not connect: ") and "certificate verify failed" in (
        result.reason
    )
    assert names == ["secure.example"]
    assert network.connections == [(PUBLIC, 443)]


class _Drip(BaseHTTPRequestHandler):
    """Sends a byte now and then, never slower than a read timeout, never done."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        try:
            for _ in range(2000):  # bounded: 2000 × 0.05 s at most, then the server gives up
                self.wfile.write(b"x")
                self.wfile.flush()
                threading.Event().wait(0.05)
        except OSError:
            pass  # the reader hung up, as it should

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_a_download_that_drips_forever_is_cut_after_a_few_timeouts(network):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Drip)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/drip.txt"
    try:
        [result] = read_sources([url], timeout=0.5, allow_private_urls=True)
    finally:
        server.shutdown()
        server.server_close()
    assert result == Skipped(
        url, "the download took longer than 3 s; download it yourself or raise RAG_TIMEOUT"
    )
