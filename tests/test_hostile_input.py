"""Hostile input: every parser, file name and question gives a result or a clear error, never an
unhandled exception, and a huge source is refused without being read into memory."""

from __future__ import annotations

import json
import re
import resource
import threading
import unicodedata
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rag.chat import ALLOWED_UPLOADS, safe_upload_name, store_upload
from rag.errors import IngestError, QuestionError, UploadError
from rag.ingest import Article, Skipped, parse_pdf, parse_records, parse_text, read_sources
from tests.test_ingest import NASTY_TEXT, assert_clean, make_pdf, no_proxy

FUZZ = settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Characters that have broken text handling elsewhere: controls, bidi overrides and isolates,
# zero-width joiners, a BOM, a lone surrogate, line and paragraph separators, combining marks.
ODD = "\x00\x07\x1b\x7f\u0085\u200b\u200d\u200e\u200f\u202a\u202b\u202e\u2066\u2069\ufeff"
ODD += "\ud800\u2028\u2029\u0301\U0001f600"
ODD_TEXT = st.text(alphabet=st.sampled_from(ODD) | st.characters(), max_size=200)


def result_or(error: type[Exception], call: Callable[[], object]) -> object:
    """The call's result, or None when it raised `error` (the clear one); anything else fails."""
    try:
        return call()
    except error as raised:
        assert str(raised) and "\n" not in str(raised), f"unclear error: {raised!r}"
        return None


# --- PDF: random bytes and damaged real PDFs ---------------------------------------------------


REAL_PDFS = [
    make_pdf([["Solar Sails Explained", "A solar sail uses the pressure of sun-", "light."]]),
    make_pdf([["Annual Report", "Sales rose."], ["Page two (with parentheses)."]], title="R"),
    make_pdf(
        [["Harbour report", "The harbour logged 40 ships in May.", "Trade rose."]], compress=True
    ),
]


@st.composite
def damaged_pdfs(draw) -> bytes:
    """A real PDF with random bytes overwritten, inserted or cut off."""
    data = bytearray(draw(st.sampled_from(REAL_PDFS)))
    for _ in range(draw(st.integers(1, 6))):
        action = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "repeat"]))
        at = draw(st.integers(0, len(data) - 1))
        if action == "flip":
            data[at] = draw(st.integers(0, 255))
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=40))
        elif action == "delete":
            del data[at : at + draw(st.integers(1, 40))]
        elif action == "truncate":
            del data[at:]
        else:
            data[at:at] = data[at : at + 50] * draw(st.integers(2, 50))
        if len(data) < 2:
            break
    return bytes(data)


@FUZZ
@given(st.one_of(st.binary(max_size=2000), damaged_pdfs()))
@example(b"%PDF-1.4\n" + b"[" * 100_000)
@example(b"%PDF-1.4\n1 0 obj\n<<" * 5_000)
@example(REAL_PDFS[2][: len(REAL_PDFS[2]) // 2])
def test_pdf_parser_property(data: bytes) -> None:
    assert_clean(result_or(IngestError, lambda: parse_pdf(data, "fuzz.pdf")))


def test_pdf_with_more_text_than_the_limit_is_refused() -> None:
    data = make_pdf([["The first page holds forty characters."]] * 3)
    assert len(parse_pdf(data, "three.pdf", max_chars=200).blocks) == 3
    with pytest.raises(IngestError, match=r"three\.pdf: PDF holds more than 100 characters"):
        parse_pdf(data, "three.pdf", max_chars=100)


# A 3 kB PDF whose page draws 100,000 text operators: about five seconds of pypdf's CPU time.
SLOW_PDF = make_pdf([["a"] * 100_000], compress=True)


def test_a_pdf_that_takes_too_long_to_read_is_stopped() -> None:
    with pytest.raises(IngestError, match=r"slow\.pdf: PDF took more than 1 s of CPU time"):
        parse_pdf(SLOW_PDF, "slow.pdf", max_seconds=1)
    assert parse_pdf(REAL_PDFS[1], "fine.pdf", max_seconds=1).title == "R"


def test_a_slow_pdf_in_a_folder_is_skipped_and_the_rest_is_read(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr("rag.ingest.pdf.MAX_PDF_SECONDS", 1)
    (tmp_path / "slow.pdf").write_bytes(SLOW_PDF)
    (tmp_path / "fine.pdf").write_bytes(REAL_PDFS[0])
    found = {Path(item.source).name: item for item in read_sources([str(tmp_path)])}
    assert isinstance(found["slow.pdf"], Skipped)
    assert found["slow.pdf"].reason.startswith("PDF took more than 1 s of CPU time to read")
    assert isinstance(found["fine.pdf"], Article)


# --- Markdown: deep nesting, huge lines, unclosed constructs -----------------------------------

MARKDOWN = [
    *"\n #>*-_`~=|[]()!\\:",
    "\n\n",
    "```",
    "~~~",
    "---\n",
    "# ",
    "###### ",
    "> > > ",
    "1. ",
    "- ",
    "[x](",
    "![i](",
    "<https://",
    "**",
    "__",
    "title: ",
    "\u202e",
    "\x00",
    "Word. ",
]


@FUZZ
@given(st.lists(st.sampled_from(MARKDOWN) | ODD_TEXT, max_size=60).map("".join))
@example(">" * 50_000 + " deep")
@example("- " * 20_000 + "nested item")
@example("#" * 10_000 + " heading\n\nText.")
@example("---\ntitle: " + "t" * 100_000 + "\n---\nBody." + "x" * 200_000)
@example("```\nnever closed\n\n" + "code line\n" * 10_000)
@example("[" * 30_000 + "](" * 30_000)
@example("*" * 50_000 + "emphasis" + "_" * 50_000)
def test_markdown_parser_property(text: str) -> None:
    assert_clean(result_or(IngestError, lambda: parse_text(text, "fuzz.md", markdown=True)))


# --- JSON and JSONL, SQuAD shapes with wrong types ---------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | ODD_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ODD_TEXT, inner, max_size=4),
    max_leaves=12,
)


def maybe(value: st.SearchStrategy) -> st.SearchStrategy:
    """A value of the expected shape, or any other JSON value in its place."""
    return st.one_of(value, JSON_VALUES)


SQUAD = st.fixed_dictionaries(
    {
        "data": maybe(
            st.lists(
                maybe(
                    st.fixed_dictionaries(
                        {
                            "title": maybe(ODD_TEXT),
                            "paragraphs": maybe(
                                st.lists(
                                    maybe(
                                        st.fixed_dictionaries(
                                            {"context": maybe(ODD_TEXT), "qas": JSON_VALUES}
                                        )
                                    ),
                                    max_size=3,
                                )
                            ),
                        }
                    )
                ),
                max_size=3,
            )
        )
    },
    optional={"version": JSON_VALUES},
)
RECORD = st.fixed_dictionaries(
    {},
    optional={
        "title": maybe(ODD_TEXT),
        "text": maybe(ODD_TEXT),
        "url": maybe(ODD_TEXT),
        "published": maybe(ODD_TEXT),
        "_id": JSON_VALUES,
        "id": JSON_VALUES,
    },
)


def check_records(data: bytes, source: str, *, verbatim: bool = False) -> None:
    """Articles or reasons; SQuAD contexts are kept verbatim (answer offsets point into them)."""
    results = result_or(IngestError, lambda: list(parse_records(data, source)))
    for item in results or []:
        assert isinstance(item, (Article, Skipped))
        if isinstance(item, Skipped):
            assert item.reason and "\n" not in item.reason
        elif verbatim:
            assert item.title and all(b.text.strip() for b in item.blocks)
        else:
            assert_clean(item)


@FUZZ
@given(SQUAD)
@example({"data": [{"title": "T", "paragraphs": [{"context": "x" * 1_000_000}]}]})
@example({"data": [{"paragraphs": [{"context": None}]}, 7, {"paragraphs": "not a list"}]})
@example({"data": [{"title": ["not", "text"], "paragraphs": [{"context": "Fine text."}]}]})
@example({"data": [{"title": "T", "paragraphs": [{"context": "Text."}, {"context": " "}]}]})
def test_squad_json_property(document: object) -> None:
    check_records(json.dumps(document).encode("utf-8", "surrogatepass"), "fuzz.json", verbatim=True)


@FUZZ
@given(st.one_of(st.lists(RECORD, max_size=4), RECORD, JSON_VALUES))
def test_record_json_property(document: object) -> None:
    check_records(json.dumps(document).encode("utf-8", "surrogatepass"), "fuzz.json")


@FUZZ
@given(
    st.lists(
        st.one_of(
            RECORD.map(lambda r: json.dumps(r).encode("utf-8", "surrogatepass")),
            JSON_VALUES.map(lambda v: json.dumps(v).encode("utf-8", "surrogatepass")),
            st.binary(max_size=80),
        ),
        max_size=8,
    ).map(b"\n".join)
)
@example(b'{"title": "A", "text": "' + b"x" * 2_000_000 + b'"}\n{"text": "B."}')
@example(b"[" * 100_000 + b"\n" + b'{"text": "after the deep line"}')
@example(b'\xef\xbb\xbf{"text": "BOM first"}\n\xef\xbb\xbf{"text": "BOM again"}\n\x00\n\r\n')
def test_jsonl_property(data: bytes) -> None:
    check_records(data, "fuzz.jsonl")


def test_deeply_nested_squad_json_is_a_clear_error() -> None:
    nested = b'{"data": [{"title": "T", "paragraphs": ' + b"[" * 200_000 + b"]" * 200_000 + b"}]}"
    with pytest.raises(IngestError, match="deep.json: JSON is nested too deeply to read"):
        list(parse_records(nested, "/data/deep.json"))


# --- any bytes, any type, any encoding, through the file reader --------------------------------

ENCODINGS = [
    "utf-8",
    "utf-16-le",
    "utf-16-be",
    "utf-32",
    "cp1252",
    "shift_jis",
    "koi8-r",
    "gb18030",
]


@FUZZ
@given(
    suffix=st.sampled_from([".txt", ".md", ".html", ".json", ".jsonl", ".pdf"]),
    data=st.one_of(
        st.binary(min_size=1, max_size=3000),
        st.tuples(NASTY_TEXT, st.sampled_from(ENCODINGS)).map(
            lambda pair: pair[0].encode(pair[1], "replace") or b"x"
        ),
    ),
)
@example(suffix=".txt", data="Заголовок\n\nТекст статьи о порте.".encode("koi8-r"))
@example(suffix=".md", data="# 見出し\n\n港の記事です。".encode("shift_jis"))
@example(suffix=".txt", data="Title\n\nBody text.".encode("utf-32"))
@example(suffix=".html", data=b"<p>" + b"a" * 3_000_000 + b"</p>")
def test_any_file_gives_articles_or_reasons(tmp_path_factory, suffix: str, data: bytes) -> None:
    path = tmp_path_factory.mktemp("fuzz") / f"input{suffix}"
    path.write_bytes(data)
    for item in read_sources([str(path)]):
        assert isinstance(item, (Article, Skipped))
        if isinstance(item, Article):
            assert_clean(item)
        else:
            assert item.reason and "\n" not in item.reason
            assert not item.reason.startswith("unexpected "), item.reason  # a bug, not input


@pytest.mark.parametrize(
    "name",
    [
        "..txt",
        "...txt",
        "-rf.txt",
        "line\nbreak.txt",
        "tab\there.md",
        "right\u202eto\u202cleft.md",
        "zero\u200bwidth\x7f.txt",
        "x" * 250 + ".md",
    ],
)
@pytest.mark.parametrize("titled", [True, False])
def test_odd_file_names_on_disk_are_read(tmp_path, name, titled):
    path = tmp_path / name
    path.write_text(("A title\n\n" if titled else "") + "Some body text about the harbour.\n")
    [article] = read_sources([str(path)])
    assert isinstance(article, Article) and article.source == str(path)
    assert_clean(article)
    # Without a title line the title comes from the name: on one line, without controls.
    if titled:
        assert article.title == "A title"
    else:
        assert not any(unicodedata.category(c) == "Cc" for c in article.title), article.title
        assert "\u202e" not in article.title and article.title.strip()


# --- upload names ------------------------------------------------------------------------------

NAME_PARTS = ["..", "/", "\\", "\x00", ".", " ", "\u202e", "~", "$", "*", "txt", "md", "pdf", "a"]
SAFE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,80}\.(txt|md|html|htm|pdf|jsonl)")


@FUZZ
@given(st.lists(st.sampled_from(NAME_PARTS) | ODD_TEXT, max_size=30).map("".join))
@example("../../../etc/passwd.txt")
@example("..\\..\\windows\\win.ini.md")
@example("a\x00.txt")
@example("report.txt\x00.sh")
@example("evil\u202etxt.exe")
@example("x" * 1000 + ".txt")
@example("/" * 1000 + "y.md")
@example(".." + "/.." * 300 + "/z.pdf")
@example(".txt")
@example("..")
def test_upload_names_property(tmp_path_factory, name: str) -> None:
    folder = tmp_path_factory.mktemp("uploads") / "uploads"
    safe = result_or(UploadError, lambda: safe_upload_name(name))
    if safe is None:
        return
    assert SAFE_NAME.fullmatch(safe), safe
    assert safe.endswith(ALLOWED_UPLOADS)
    stored = store_upload(folder, name, b"A title\n\nSome text.", 1000)
    assert stored.parent == folder.resolve() and stored.name == safe
    assert [p.name for p in folder.parent.rglob("*") if p.is_file()] == [safe]


def test_a_nul_in_a_name_never_reaches_the_file_system(tmp_path):
    stored = store_upload(tmp_path, "re\x00port\x00.md", b"Text.", 100)
    assert stored == tmp_path.resolve() / "re-port.md"


# --- questions ---------------------------------------------------------------------------------


# Lone surrogates included: JSON can carry them, and the tokenizer would reject them.
QUESTIONS = ODD_TEXT | NASTY_TEXT


@settings(FUZZ, max_examples=20)  # each is a full answer: embedding, retrieval, extraction
@given(QUESTIONS)
@example("")
@example(" \t\n\u00a0\u2028")
@example("x" * 100_000)
@example("Who is the US special envoy for Afghanistan? " * 2_500)
@example("\u202eWho is the envoy?\u202c \x00\x1b[31m")
@example("<script>alert(1)</script> ' OR 1=1; DROP TABLE articles; --")
@example("\ud800 \udfff")  # only lone surrogates: no text at all
def test_any_question_gets_an_answer_or_a_clear_refusal(seed_pipeline, question: str) -> None:
    answer = result_or(QuestionError, lambda: seed_pipeline.ask(question))
    if answer is None:
        text = re.sub("[\ud800-\udfff]", "", question)  # lone surrogates are not text
        assert not text.split(), "only a question with no text may be refused"
        return
    data = answer.to_dict()
    json.dumps(data)  # the API and the page can always send it
    for citation in data["citations"]:
        text = citation["paragraph_text"]
        assert text[citation["sentence_start"] : citation["sentence_end"]] == citation["sentence"]


# --- a huge source is refused without being read -----------------------------------------------


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_a_huge_file_is_refused_without_reading_it(tmp_path):
    huge = tmp_path / "huge.txt"
    with huge.open("wb") as file:
        file.truncate(100 * 10**9)  # 100 GB, sparse: reading it would exhaust any memory
    peak = _peak_rss_mb()
    [skipped] = read_sources([str(huge)], max_bytes=10_000_000)
    assert skipped == Skipped(
        str(huge), "file is larger than the 10 MB limit; split it or raise --max-bytes"
    )
    assert _peak_rss_mb() - peak < 50


class _Endless(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()  # no length: the body ends when the server stops sending
        chunk = b"All work and no play makes a dull article. " * 1000
        try:
            while True:
                self.wfile.write(chunk)
        except OSError:
            pass  # the reader hung up, as it should

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_an_endless_download_is_cut_at_the_limit(monkeypatch):
    no_proxy(monkeypatch)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Endless)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/stream.txt"
    peak = _peak_rss_mb()
    try:
        [skipped] = read_sources([url], max_bytes=5_000_000, timeout=10, allow_private_urls=True)
    finally:
        server.shutdown()
        server.server_close()
    assert skipped == Skipped(
        url,
        "response is larger than the 5 MB limit; download and split it or raise --max-bytes",
    )
    assert _peak_rss_mb() - peak < 100
