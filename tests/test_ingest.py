"""Tests for rag.ingest on real files, a real local HTTP server and generated PDFs."""

from __future__ import annotations

import io
import json
import random
import socket
import threading
import zlib
from collections.abc import Callable, Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pypdf
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from rag.errors import IngestError
from rag.ingest import (
    Article,
    Block,
    Skipped,
    decode_text,
    parse_html,
    parse_pdf,
    parse_records,
    parse_text,
    read_sources,
)

REPO = Path(__file__).parents[1]
FIXTURES = Path(__file__).parent / "fixtures" / "ingest"
SEED = REPO / "data" / "sample" / "us-afghan-talks.txt"
SQUAD_DEV = Path(__file__).parents[2] / "shared" / "data" / "squad" / "dev-v1.1.json"
SEED_TITLE = (
    "US “unwilling to throw in the towel” on Afghan talks even as Taliban violence escalates"
)
# Smallest PNG header: binary data that a renamed image would start with.
PNG_BYTES = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489")


def articles(results: list[Article | Skipped]) -> list[Article]:
    return [r for r in results if isinstance(r, Article)]


def skips(results: list[Article | Skipped]) -> dict[str, str]:
    return {r.source: r.reason for r in results if isinstance(r, Skipped)}


def make_pdf(pages: list[list[str]], title: str | None = None, compress: bool = False) -> bytes:
    """A minimal hand-written PDF: one Helvetica text line per string, with a correct xref table;
    with compress, page contents are FlateDecode streams, as most real PDFs store them."""
    objects: list[bytes] = [b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    contents = []
    for lines in pages:
        ops = ["BT", "/F1 12 Tf", "14 TL", "72 720 Td"]
        for line in lines:
            escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            ops.append(f"({escaped}) Tj T*")
        stream = "\n".join([*ops, "ET"]).encode("latin-1")
        flate = b" /Filter /FlateDecode" if compress else b""
        stream = zlib.compress(stream) if compress else stream
        objects.append(b"<< /Length %d%s >>\nstream\n%s\nendstream" % (len(stream), flate, stream))
        contents.append(len(objects))
    pages_id = len(objects) + len(pages) + 1
    kids = []
    for content in contents:
        objects.append(
            b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 1 0 R >> >> /Contents %d 0 R >>" % (pages_id, content)
        )
        kids.append(b"%d 0 R" % len(objects))
    objects.append(b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(kids), len(kids)))
    objects.append(b"<< /Type /Catalog /Pages %d 0 R >>" % pages_id)
    trailer = b"<< /Size %d /Root %d 0 R" % (len(objects) + 2, len(objects))
    objects.append(b"<< /Title (%s) >>" % (title or "").encode("latin-1"))
    trailer += b" /Info %d 0 R >>" % len(objects) if title else b" >>"
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n%s\nendobj\n" % (number, body))
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    out.write(b"".join(b"%010d 00000 n \n" % offset for offset in offsets))
    out.write(b"trailer\n%s\nstartxref\n%d\n%%%%EOF\n" % (trailer, xref))
    return out.getvalue()


def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name.upper(), raising=False)
        monkeypatch.delenv(name, raising=False)  # loopback must not go through a proxy


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass  # keep request logs out of the test output


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A real HTTP server on loopback serving tmp_path/site; yields its base URL."""
    no_proxy(monkeypatch)
    root = tmp_path / "site"
    root.mkdir()
    (root / "library.html").write_bytes((FIXTURES / "page.html").read_bytes())
    (root / "notes.txt").write_text("Notes from the meeting\n\nThe council agreed to meet again.\n")
    (root / "logo.png").write_bytes(PNG_BYTES)
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def closed_port() -> int:
    """A loopback port with nothing listening on it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- the seed article, paragraph by paragraph -------------------------------------------------


def test_seed_article_title_paragraphs_and_headings() -> None:
    [article] = read_sources([str(SEED)])
    assert isinstance(article, Article)
    assert article.source == str(SEED.resolve())
    assert article.title == SEED_TITLE
    texts = [b.text for b in article.blocks]
    # Counted by hand: 30 blank-line blocks, less the chrome+title block, "Source link",
    # two section headings and the repeated headline.
    assert len(article.blocks) == 25
    assert texts[0].startswith("However, experts and former diplomats")
    assert texts[-1].startswith("“I’m sorry, it’s brutal")
    for furniture in (
        "Skip to content",
        "Source link",
        SEED_TITLE,
        "‘A fantasy’",
        "‘The lion’s share’",
        "A fantasy",
        "The lion’s share",
    ):
        assert furniture not in texts
    fantasy, lion = "A fantasy", "The lion’s share"  # the quotes around them are dropped
    assert [b.heading for b in article.blocks] == [None] * 3 + [fantasy] * 8 + [lion] * 14
    assert texts[3].startswith("The State Department has acknowledged")
    lashkar = next(b for b in article.blocks if "Lashkar Gah" in b.text)
    assert lashkar == article.blocks[11]
    assert lashkar.heading == "The lion’s share"
    assert all("\n" not in t and "  " not in t for t in texts)


def test_seed_parse_text_matches_read_sources() -> None:
    article = parse_text(SEED.read_text(encoding="utf-8"), str(SEED))
    assert article.blocks == next(iter(read_sources([str(SEED)]))).blocks  # type: ignore[union-attr]


def test_text_rules_keep_real_sentences_and_long_paragraphs() -> None:
    text = (
        "Council notes\n\nSkip to content\n\nIt rained.\n\nBudget\n\n"
        "Readers who subscribe to the council newsletter, which is free and arrives every "
        "Monday, will get the full minutes.\n\nSubscribe\n\nAdvertisement\n"
    )
    article = parse_text(text, "/data/council-notes.txt")
    assert article.title == "Council notes"
    assert [(b.text, b.heading) for b in article.blocks] == [
        ("It rained.", None),
        (
            "Readers who subscribe to the council newsletter, which is free and arrives every "
            "Monday, will get the full minutes.",
            "Budget",
        ),
    ]


def test_text_without_title_line_uses_file_name_and_joins_wrapped_lines() -> None:
    text = "The meeting started late because the\nroom was double booked.\n\nIt ended at nine."
    article = parse_text(text, "/data/late_meeting-notes.txt")
    assert article.title == "Late meeting notes"
    assert [b.text for b in article.blocks] == [
        "The meeting started late because the room was double booked.",
        "It ended at nine.",
    ]


def test_unwrapped_lines_are_paragraphs_and_text_is_cleaned() -> None:
    long_line = "This paragraph is written on one long line, as scraped text often is, " * 2
    text = f"Title here\n{long_line}\n\u202eSecond\u00a0 line\x07 cafe\u0301.\n"
    article = parse_text(text, "x.txt")
    assert [b.text for b in article.blocks] == [long_line.strip(), "Second line café."]


def test_only_furniture_is_an_error_naming_the_file() -> None:
    with pytest.raises(IngestError, match=r"/data/menu\.txt: no article text found"):
        parse_text("Skip to content\n\nSubscribe\n\nSource link\n", "/data/menu.txt")


# --- markdown, HTML, PDF ----------------------------------------------------------------------


def test_markdown_title_headings_and_markup() -> None:
    [article] = read_sources([str(FIXTURES / "article.md")])
    assert isinstance(article, Article)
    assert article.title == "Growing tomatoes at home"
    assert [(b.text, b.heading) for b in article.blocks] == [
        (
            "Tomatoes want full sun, warm soil and steady water. Plant them after the last frost, "
            "when nights stay above ten degrees.",
            None,
        ),
        (
            "Cherry tomatoes ripen first and forgive mistakes; see the seed catalogue for a "
            "list of early types.",
            "Choosing a variety",
        ),
        ("Sungold, sweet and orange", "Choosing a variety"),
        ("Gardener's Delight", "Choosing a variety"),
        ("Feed every two weeks once the first fruit sets.", "Feeding"),
        ('feed = "tomato fertiliser"', "Feeding"),
    ]


def test_markdown_front_matter_and_setext_heading() -> None:
    text = (
        "---\ntitle: Notes\ndate: 2024-05-01\n---\nIntro text here.\n\n"
        "Part two\n---\n\nThe end came."
    )
    article = parse_text(text, "notes.md")
    assert (article.title, article.published) == ("Notes", "2024-05-01")
    assert [(b.text, b.heading) for b in article.blocks] == [
        ("Intro text here.", None),
        ("The end came.", "Part two"),
    ]


def test_html_page_main_text_without_chrome_or_script() -> None:
    [article] = read_sources([str(FIXTURES / "page.html")])
    assert isinstance(article, Article)
    assert article.title == "Town opens new library"
    everything = " ".join([article.title] + [f"{b.heading} {b.text}" for b in article.blocks])
    for unwanted in (
        "SECRET_SCRIPT_TEXT",
        "Subscribe",
        "Share on Facebook",
        "All rights reserved",
        "By Ana Lopez",
        "Home",
        "<",
    ):
        assert unwanted not in everything
    assert [b.heading for b in article.blocks] == [
        None,
        "What is inside",
        "What is inside",
        "Who paid for it",
    ]
    assert article.blocks[0].text.startswith("Riverside opened its new public library")
    assert "\n" not in article.blocks[0].text


def test_small_html_page_uses_plain_parser() -> None:
    html = (
        "<html><head><title>Tiny | Site</title><script>alert('SCRIPT')</script></head><body>"
        "<nav>Home</nav><h1>Tiny page</h1><p>One short &amp; plain paragraph.</p>"
        "<h2>Later</h2><p>Another.</p><script>var x = 'SCRIPT';</script></body></html>"
    )
    article = parse_html(html.encode("utf-8"), "tiny.html")
    assert article.title == "Tiny page"
    assert article.blocks == (
        Block("One short & plain paragraph.", None),
        Block("Another.", "Later"),
    )


def test_pdf_paragraphs_headings_and_hyphenation(tmp_path: Path) -> None:
    data = make_pdf(
        [
            [
                "Solar Sails Explained",
                "A solar sail uses the pressure of sun-",
                "light to push a spacecraft forward.",
                "Mission notes",
                "The first sail flew in 2010. It was small.",
            ],
            ["A second page ends the report."],
        ],
        title="Solar sails",
    )
    assert "sun-" in pypdf.PdfReader(io.BytesIO(data)).pages[0].extract_text()
    (tmp_path / "sails.pdf").write_bytes(data)
    [article] = read_sources([str(tmp_path / "sails.pdf")])
    assert isinstance(article, Article)
    assert article.title == "Solar sails"
    assert [(b.text, b.heading) for b in article.blocks] == [
        (
            "A solar sail uses the pressure of sunlight to push a spacecraft forward.",
            "Solar Sails Explained",
        ),
        ("The first sail flew in 2010. It was small.", "Mission notes"),
        ("A second page ends the report.", "Mission notes"),
    ]


def test_pdf_title_from_first_line_without_metadata() -> None:
    article = parse_pdf(make_pdf([["Annual Report", "Sales rose by a tenth."]]), "r.pdf")
    assert (article.title, [b.text for b in article.blocks]) == (
        "Annual Report",
        ["Sales rose by a tenth."],
    )


def test_encrypted_and_corrupt_pdfs_are_skipped(tmp_path: Path) -> None:
    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(make_pdf([["Secret text."]]))))
    writer.encrypt(user_password="secret", algorithm="RC4-128")
    writer.write(tmp_path / "locked.pdf")
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4\nthis is not really a pdf")
    (tmp_path / "fine.txt").write_text("A fine note.\n")
    results = list(read_sources([str(tmp_path)]))
    assert [a.title for a in articles(results)] == ["Fine"]
    reasons = skips(results)
    assert reasons[str(tmp_path / "locked.pdf")].startswith("PDF is encrypted")
    assert reasons[str(tmp_path / "broken.pdf")].startswith("not a readable PDF")
    with pytest.raises(IngestError, match=r"broken\.pdf"):
        parse_pdf(b"%PDF-1.4\nnope", "broken.pdf")


# --- JSON, JSONL, SQuAD ----------------------------------------------------------------------


def test_jsonl_malformed_line_skips_only_that_line() -> None:
    path = FIXTURES / "records.jsonl"
    results = list(read_sources([str(path)]))
    base = str(path.resolve())
    assert [type(r).__name__ for r in results] == ["Article", "Skipped", "Article", "Skipped"]
    bridge, market = articles(results)
    assert bridge.source == f"{base}#a1"
    assert (bridge.title, bridge.url, bridge.published) == (
        "Bridge reopens",
        "https://example.org/bridge",
        "2024-03-01",
    )
    assert [b.text for b in bridge.blocks] == [
        "The old bridge reopened to traffic on Monday.",
        "Repairs took two years.",
    ]
    assert market.source == f"{base}#3"
    assert skips(results)[f"{base}#2"].startswith("line 2 is not valid JSON")
    assert skips(results)[f"{base}#https://example.org/empty"] == "record has no text"


def test_beir_corpus_records_use_id_and_allow_empty_titles() -> None:
    data = (
        b'{"_id": "4983", "title": "", "text": "Alterations of white matter."}\n'
        b'{"_id": "5836", "title": "Induction of myelodysplasia", "text": "Some text."}\n'
    )
    first, second = parse_records(data, "/corpus.jsonl")
    assert isinstance(first, Article) and isinstance(second, Article)
    assert (first.source, first.title) == ("/corpus.jsonl#4983", "4983")
    assert (second.source, second.title) == ("/corpus.jsonl#5836", "Induction of myelodysplasia")


def test_json_list_and_single_record() -> None:
    listed = list(
        parse_records(b'[{"title": "A", "text": "Alpha."}, 7, {"text": "Beta."}]', "/x.json")
    )
    assert [(type(r).__name__, r.source) for r in listed] == [
        ("Article", "/x.json#1"),
        ("Skipped", "/x.json#2"),
        ("Article", "/x.json#3"),
    ]
    assert listed[2].title == "X #3"  # type: ignore[union-attr]
    with pytest.raises(IngestError, match=r"/e\.json: no records found"):
        list(parse_records(b"[]", "/e.json"))
    [single] = parse_records('{"title": "Só", "text": "Um."}'.encode(), "/one.json")
    assert single == Article("/one.json", "Só", (Block("Um.", None),))


def test_squad_mini_fixture_keeps_every_context() -> None:
    path = FIXTURES / "squad-mini.json"
    results = list(read_sources([str(path)]))
    base = str(path.resolve())
    assert results == [
        Article(
            f"{base}#Super_Bowl_50",
            "Super Bowl 50",
            (Block("Super Bowl 50 was an American football game.", None), Block("Short.", None)),
        ),
        Article(f"{base}#Warsaw", "Warsaw", (Block("Short.", None),)),
    ]


def test_squad_dev_set_maps_one_block_per_context() -> None:
    assert SQUAD_DEV.exists(), (
        f"SQuAD dev set missing at {SQUAD_DEV}; the shared data folder must sit beside the checkout"
    )
    results = list(read_sources([str(SQUAD_DEV)]))
    found = articles(results)
    assert len(results) == len(found) == 48
    assert sum(len(a.blocks) for a in found) == 2067
    squad = json.loads(SQUAD_DEV.read_text(encoding="utf-8"))
    assert [b.text for a in found for b in a.blocks] == [
        p["context"].strip() for entry in squad["data"] for p in entry["paragraphs"]
    ]


# --- decoding, bad inputs, folders, URLs -----------------------------------------------------


def test_decode_text_handles_boms_and_legacy_encodings() -> None:
    assert decode_text("\ufeffhello".encode(), "a.txt") == "hello"
    assert decode_text("hé".encode("utf-16"), "a.txt") == "hé"
    sample = "He said “hello” to the café owner — it’s naïve."
    assert decode_text(sample.encode("cp1252"), "a.txt") == sample
    assert (
        decode_text("Crème brûlée, à la française.".encode("latin-1"), "a.txt")
        == "Crème brûlée, à la française."
    )
    with pytest.raises(IngestError, match=r"logo\.txt: binary file, not text"):
        decode_text(PNG_BYTES, "logo.txt")
    with pytest.raises(IngestError, match="binary file"):
        decode_text(bytes(range(1, 32)) * 20, "ctl.txt")


def test_bad_inputs_are_skipped_while_the_batch_goes_on(tmp_path: Path, site: str) -> None:
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "logo.txt").write_bytes(PNG_BYTES)
    (tmp_path / "noise.txt").write_bytes(random.Random(7).randbytes(4096))
    (tmp_path / "legacy.txt").write_bytes(
        "Café news\n\nShe said “it’s ready” at the café.\n".encode("cp1252")
    )
    (tmp_path / "bad.jsonl").write_bytes(b'{"title": "Ok", "text": "Fine."}\n{oops\n')
    (tmp_path / "report.docx").write_bytes(b"PK\x03\x04")
    dead = f"http://127.0.0.1:{closed_port()}/article.html"
    inputs = [
        str(tmp_path / n)
        for n in (
            "empty.txt",
            "logo.txt",
            "noise.txt",
            "legacy.txt",
            "bad.jsonl",
            "report.docx",
            "missing.txt",
        )
    ]
    results = list(
        read_sources(
            [*inputs, dead, f"{site}/nope.html", f"{site}/logo.png", str(SEED)],
            timeout=2,
            allow_private_urls=True,  # the test servers are on loopback
        )
    )
    reasons = skips(results)
    assert reasons == {
        str(tmp_path / "empty.txt"): "file is empty",
        str(tmp_path / "logo.txt"): "binary file, not text; convert it to text, HTML or PDF first",
        str(tmp_path / "noise.txt"): "binary file, not text; convert it to text, HTML or PDF first",
        f"{tmp_path / 'bad.jsonl'}#2": "line 2 is not valid JSON (Expecting property name "
        "enclosed in double quotes)",
        str(tmp_path / "report.docx"): "unsupported file type '.docx'; use .txt, .md, .markdown, "
        ".html, .htm, .pdf, .jsonl, .json",
        str(tmp_path / "missing.txt"): "no such file or folder",
        dead: "could not connect: Connection refused",
        f"{site}/nope.html": "HTTP 404 File not found",
        f"{site}/logo.png": "unsupported content type image/png; link to an HTML page, PDF, "
        "JSON or plain text instead",
    }
    legacy, ok, seed = articles(results)
    assert legacy.title == "Café news"
    assert legacy.blocks == (Block("She said “it’s ready” at the café.", None),)
    assert (ok.title, seed.title) == ("Ok", SEED_TITLE)


def test_timeout_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    no_proxy(monkeypatch)
    with socket.socket() as silent:  # accepts connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/slow"
        [result] = read_sources([url], timeout=0.5, allow_private_urls=True)
    assert result == Skipped(url, "could not connect: timed out after 0.5 s")


def test_url_ingestion_from_local_server(site: str) -> None:
    page, notes = read_sources(
        [f"{site}/library.html", f"{site}/notes.txt"], allow_private_urls=True
    )
    assert isinstance(page, Article) and isinstance(notes, Article)
    assert (page.source, page.url, page.title) == (
        f"{site}/library.html",
        f"{site}/library.html",
        "Town opens new library",
    )
    assert len(page.blocks) == 4
    assert "SECRET_SCRIPT_TEXT" not in " ".join(b.text for b in page.blocks)
    assert (notes.title, notes.blocks) == (
        "Notes from the meeting",
        (Block("The council agreed to meet again.", None),),
    )


def test_size_limit_and_twenty_megabyte_file(tmp_path: Path) -> None:
    rng = random.Random(0)
    words = ["the", "river", "city", "council", "budget", "school", "road", "vote", "was", "on"]
    variants = [" ".join(rng.choice(words) for _ in range(60)) + "." for _ in range(100)]
    paragraphs = [f"Paragraph {i} says {variants[i % 100]}" for i in range(70_000)]
    big = tmp_path / "big.txt"
    big.write_text("Big report\n\n" + "\n\n".join(paragraphs), encoding="utf-8")
    assert big.stat().st_size > 20_000_000
    [article] = read_sources([str(big)])
    assert isinstance(article, Article)
    assert (article.title, len(article.blocks)) == ("Big report", 70_000)
    [skipped] = read_sources([str(big)], max_bytes=20_000_000)
    assert skipped == Skipped(
        str(big), "file is larger than the 20 MB limit; split it or raise --max-bytes"
    )


def test_folder_walk_is_sorted_recursive_and_skips_hidden_and_unknown(tmp_path: Path) -> None:
    for name in ("b.txt", "a/z.md", "a/y.json.bak", ".hidden/x.txt", "c/.secret.txt", "A.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(f"{Path(name).stem} body text.\n")
    results = list(read_sources([str(tmp_path)]))
    assert [r.source for r in results] == [str(tmp_path / n) for n in ("A.txt", "a/z.md", "b.txt")]
    assert all(isinstance(r, Article) for r in results)
    empty = tmp_path / "c"
    assert [r.reason for r in read_sources([str(empty)])] == [  # type: ignore[union-attr]
        "folder holds no .txt, .md, .markdown, .html, .htm, .pdf, .jsonl, .json files"
    ]


def test_content_hash_tracks_content_not_source() -> None:
    one = Article("a.txt", "T", (Block("x", None),))
    assert one.content_hash == Article("b.txt", "T", (Block("x", None),)).content_hash
    assert len(one.content_hash) == 64
    changed = [
        Article("a.txt", "T", (Block("x", "h"),)),
        Article("a.txt", "U", (Block("x", None),)),
        Article("a.txt", "T", (Block("y", None),)),
        Article("a.txt", "T", (Block("x", None),), url="u"),
        Article("a.txt", "T", (Block("x", None),), published="2024"),
    ]
    assert len({one.content_hash, *(a.content_hash for a in changed)}) == 6


# --- properties: odd input gives a result or an IngestError, nothing else ---------------------

NASTY = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=300)
MARKUP = [*'\n #*_`[]()->|"“\u202e\x00\x07\ufeff\ud800', "\n\n", "```", "](", "Skip to content"]
MARKUP += ["Title", "Word.", "<p>", "</p>", "<script>", "<h1>", "{", "}", ":", "[[", "\\u0000"]
NASTY_TEXT = st.one_of(NASTY, st.lists(st.sampled_from(MARKUP), max_size=80).map("".join))
PROPERTY = settings(max_examples=60, deadline=None, database=None)


def result_or_ingest_error(call: Callable[[], object]) -> object:
    """The call's result, or None when it raised IngestError; any other exception fails."""
    try:
        return call()
    except IngestError:
        return None


def assert_clean(article: object) -> None:
    if article is not None:
        assert isinstance(article, Article) and article.blocks and article.title
        assert all(
            b.text and "\x00" not in b.text and "\u202e" not in b.text for b in article.blocks
        )
        assert len(article.content_hash) == 64


@PROPERTY
@given(NASTY_TEXT)
@example("x" * 200_000 + "\n\n" + "y " * 50_000)
@example("\u202eevil\u202c\n\nText.\x00\x1b")
def test_parse_text_property(text: str) -> None:
    assert_clean(result_or_ingest_error(lambda: parse_text(text, "random.txt")))
    assert_clean(result_or_ingest_error(lambda: parse_text(text, "random.md")))


@PROPERTY
@given(st.one_of(NASTY_TEXT, st.binary(max_size=300)))
@example("<div>" * 10_000)
@example(b'<?xml version="1.0" encoding="utf-8"?><html><body><p>x</p></body></html>')
@example("<![if x]><p>" + "\x00" * 10)
def test_parse_html_property(html: str | bytes) -> None:
    article = result_or_ingest_error(lambda: parse_html(html, "random.html"))
    assert_clean(article)
    assert "<script" not in str(article)


@PROPERTY
@given(st.one_of(st.binary(max_size=300), NASTY_TEXT.map(lambda t: t.encode("utf-8", "replace"))))
@example(b"[" * 10_000 + b"]" * 10_000)
@example(b'{"data": [' * 5_000)
@example(b"1" * 5_000)
@example(b'{"title": 1, "text": ["x"]}\n{"text": "\\ud800"}\n' + b"[" * 10_000)
def test_parse_records_property(data: bytes) -> None:
    for source in ("random.json", "random.jsonl"):
        results = result_or_ingest_error(lambda s=source: list(parse_records(data, s)))
        assert results is None or all(isinstance(r, (Article, Skipped)) for r in results)


@PROPERTY
@given(st.binary(max_size=2000))
@example("\u202e".encode() * 1000)
def test_decode_text_property(data: bytes) -> None:
    text = result_or_ingest_error(lambda: decode_text(data, "random.txt"))
    assert text is None or isinstance(text, str)
    if text is not None:
        assert_clean(result_or_ingest_error(lambda: parse_text(text, "random.txt")))
