"""Rendering for the page: article text, names and questions are data, never markup."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from html import escape

from rag.answer import Answer, Citation, Status
from rag.dates import format_day
from rag.pipeline import ArticleInfo
from rag.text import plural
from rag.verify import UNSUPPORTED_MARK, unsupported_reason

STREAM_WORDS = 3


def inert(text: str) -> str:
    """Text as one HTML paragraph that displays literally: inert("<b>") == "<p>&lt;b&gt;</p>".

    Escaped, markup in an article is shown as text; as an HTML block, Markdown leaves it alone.
    """
    return f"<p>{_escape(text)}</p>"


def _escape(text: str) -> str:
    """HTML-escaped text on one line: "a\n\n![x](y)" -> "a<br><br>![x](y)".

    A blank line would end the HTML block and hand the rest to Markdown, which would turn an
    article's ![image](https://…) into a request from every reader's browser.
    """
    lines = escape(text).replace("\r\n", "\n").replace("\r", "\n")
    return lines.replace("\n", "<br>")


def answer_html(answer: Answer) -> str:
    """The answer's text with its marks, then how much of it the sources support, and any note.

    Each unsupported mark says why on hover (the sentences' verdicts are in text order).
    """
    mark = escape(f"[{UNSUPPORTED_MARK} unsupported]")
    reasons = [unsupported_reason(s) for s in answer.sentences if s.status == Status.UNSUPPORTED]
    pieces = inert(answer.text).split(mark)
    html = pieces[0]
    for at, piece in enumerate(pieces[1:]):
        reason = reasons[at] if at < len(reasons) else "No retrieved paragraph supports this."
        html += f'<span class="rag-unsupported" title="{escape(reason)}">{mark}</span>{piece}'
    if answer.asked:
        html += f'<p class="rag-asked"><em>{escape(f"Understood as: {answer.asked}")}</em></p>'
    if answer.supported is not None:
        backed, claims = answer.support_counts()
        html += (
            f'<p class="rag-check"><em>{backed} of {claims} sentences supported by the '
            "sources (checked sentence by sentence).</em></p>"
        )
    if answer.note:
        html += f'<p class="rag-note"><em>{escape(f"Note: {answer.note}")}</em></p>'
    return html


def sources_html(answer: Answer, show_scores: bool = False) -> str:
    """The sources of an answer, each `[n] Title › ¶ n · 28 Jul 2021` (the day when the article
    has one) and its paragraph, cited sentence marked; then "also reported on …" with the days of
    other versions of the paragraph that were left out."""
    items = []
    for c in answer.citations:
        head = f"<strong>{_escape(f'[{c.n}] {c.article_title} › ¶ {c.paragraph_index}')}</strong>"
        if day := format_day(c.published):
            head += f' · <span class="rag-published">{_escape(day)}</span>'
        if c.heading:
            head += f" · <em>{_escape(c.heading)}</em>"
        if show_scores:
            head += f" · score {c.score:.3f}"
        text = c.paragraph_text
        paragraph = (
            _escape(text[: c.sentence_start])
            + "<mark>"
            + _cited_html(c)
            + "</mark>"
            + _escape(text[c.sentence_end :])
        )
        also = [format_day(d) for d in c.also if format_day(d)]
        if also:
            head += f'<br><span class="rag-also">also reported on {_escape(", ".join(also))}</span>'
        items.append(f'<div class="rag-source"><p>{head}</p><p>{paragraph}</p></div>')
    # One line, no blank lines: Markdown passes an HTML block through as it is.
    return '<div class="rag-sources">' + "".join(items) + "</div>"


def _cited_html(c: Citation) -> str:
    """The cited sentence, its answer phrase (when one is marked) in bold inside the highlight,
    with the calendar day a marked weekday names."""
    start, end = c.answer_start, c.answer_end
    if start is None or end is None or not c.sentence_start <= start < end <= c.sentence_end:
        return _escape(c.sentence)
    text = c.paragraph_text
    day = format_day(c.answer_day)
    return (
        _escape(text[c.sentence_start : start])
        + f'<strong class="rag-answer">{_escape(text[start:end])}</strong>'
        + (f'<span class="rag-day"> ({day})</span>' if day else "")
        + _escape(text[end : c.sentence_end])
    )


def turn_messages(turn: Mapping, show_scores: bool = False) -> list[dict]:
    """The chat messages of one question and its reply, rendered from the stored answer data."""
    messages = [{"role": "user", "content": inert(turn["question"])}]
    if "error" in turn:
        return messages + [{"role": "assistant", "content": inert(turn["error"])}]
    answer = Answer.from_dict(turn["answer"])
    messages.append({"role": "assistant", "content": answer_html(answer)})
    if answer.citations:
        title = "Nearest passages (not an answer)" if answer.abstained else "Sources"
        messages.append(
            {
                "role": "assistant",
                "content": sources_html(answer, show_scores),
                "metadata": {"title": title, "status": "done"},
            }
        )
    return messages


def chat_history(transcript: Sequence[Mapping], show_scores: bool = False) -> list[dict]:
    """All chat messages of a transcript (a list of turns: question plus answer data or error)."""
    messages = []
    for turn in transcript or []:
        try:
            messages += turn_messages(turn, show_scores)
        except (KeyError, TypeError, ValueError):
            continue  # a turn saved in another shape (an older version): leave it out
    return messages


def stream_prefixes(text: str, words: int = STREAM_WORDS) -> Iterator[str]:
    """Growing prefixes of text, a few words at a time: "a b c d" → "a b c", "a b c d"."""
    parts = text.split(" ")
    for end in range(words, len(parts) + words, words):
        yield " ".join(parts[:end])


def library_html(articles: Sequence[ArticleInfo], show_source: Callable[[str], str] = str) -> str:
    """The library as an HTML table: title, publication day (empty when unknown), source,
    paragraphs, when added."""
    if not articles:
        return "<p>No articles are indexed yet: add some below.</p>"
    rows = "".join(
        f"<tr><td>{escape(a.title)}</td><td>{escape(format_day(a.published))}</td>"
        f"<td>{escape(show_source(a.source))}</td><td>{a.paragraphs}</td>"
        f"<td>{escape(a.added_at.replace('T', ' ').rstrip('Z'))} UTC</td></tr>"
        for a in articles
    )
    total = sum(a.paragraphs for a in articles)
    return (
        f"<p>{plural(len(articles), 'article')}, {plural(total, 'paragraph')}.</p>"
        '<table class="rag-library"><thead><tr><th>Title</th><th>Published</th><th>Source</th>'
        f"<th>Paragraphs</th><th>Added</th></tr></thead><tbody>{rows}</tbody></table>"
    )


@dataclass(frozen=True)
class Example:
    """An example under the chat: what its button says, and the question it asks."""

    label: str  # "Article: …" or "Section: …", so the reader sees what it is about
    question: str


def example_questions(
    titles: Sequence[str], headings: Sequence[str], limit: int = 4
) -> list[Example]:
    """Examples for these articles, each labelled with the headline or section heading it asks
    about: Example("Section: The lion’s share", "What does the article say about ‘The lion’s
    share’?")."""

    def short(text: str, limit: int = 70) -> str:
        text = " ".join(text.split()).strip("\"'‘’“”«» ")
        return text if len(text) <= limit else text[: limit - 3].rsplit(" ", 1)[0] + "…"

    # A headline is kept whole up to 100 characters: cut short, it loses the words that find its
    # article, and the example would be refused as unanswerable.
    examples = [
        Example(f"Article: {short(t, 100)}", f"What is ‘{short(t, 100)}’ about?")
        for t in titles[:2]
        if short(t)
    ]
    examples += [
        Example(f"Section: {short(h)}", f"What does the article say about ‘{short(h)}’?")
        for h in headings
        if short(h)
    ]
    return list(dict.fromkeys(examples))[:limit]
