"""The `rag` command: index articles, ask questions, inspect an index."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

from rag.answer import Answer
from rag.config import Config, from_env, validate
from rag.errors import RagError


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--index", dest="index_dir", type=Path, metavar="DIR",
                        help="index folder (default: index, or RAG_INDEX_DIR)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every sub-command."""
    parser = argparse.ArgumentParser(
        prog="rag", description="Ask questions about a set of articles; answers cite paragraphs.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    index = commands.add_parser(
        "index", help="add articles (files, folders, URLs) to an index",
        description="Add new and changed articles to the index; unchanged ones are not re-embedded.")
    index.add_argument("sources", nargs="+", metavar="PATH|URL",
                       help="files (.txt .md .html .pdf .jsonl .json), folders or http(s) URLs")
    _common(index)
    index.add_argument("--model", help="sentence-transformers model name or path "
                       "(default: all-MiniLM-L6-v2, or RAG_MODEL)")
    index.add_argument("--prune", action="store_true",
                       help="remove indexed articles whose source is no longer among PATH|URL")
    index.add_argument("--rebuild", action="store_true",
                       help="start a new index instead of updating the existing one")
    index.add_argument("--max-bytes", type=int, help="largest file or page to read, in bytes")

    ask = commands.add_parser(
        "ask", help="answer a question with cited sentences",
        description="Answer a question from the index. Without QUESTION, ask interactively; "
                    "with '-', read one question per line from stdin.")
    ask.add_argument("question", nargs="?", help="the question, or '-' to read questions from stdin")
    _common(ask)
    ask.add_argument("--k", type=int, help="number of paragraphs to retrieve (default 5, or RAG_K)")
    ask.add_argument("--min-score", type=float,
                     help="abstain when the best sentence scores below this (default: the index's)")
    ask.add_argument("--model", help="refuse the index unless it was built with this model")
    ask.add_argument("--json", action="store_true", help="print one JSON object per question")

    info = commands.add_parser("info", help="show what an index holds and how it was built",
                               description="Show an index's manifest and its articles.")
    _common(info)
    info.add_argument("--json", action="store_true", help="print the manifest as JSON")
    return parser


def _config(args: argparse.Namespace) -> Config:
    config = from_env().with_overrides(
        index_dir=getattr(args, "index_dir", None), model=getattr(args, "model", None),
        k=getattr(args, "k", None), min_score=getattr(args, "min_score", None),
        max_bytes=getattr(args, "max_bytes", None),
    )
    validate(config)
    return config


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        config = _config(args)
        return {"index": _index, "ask": _ask, "info": _info}[args.command](args, config)
    except RagError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _index(args: argparse.Namespace, config: Config) -> int:
    from rag.pipeline import index_sources

    def skipped(item) -> None:
        print(f"skipped {item.source}: {item.reason}", file=sys.stderr)

    report = index_sources(config, args.sources, prune=args.prune, rebuild=args.rebuild,
                           on_skip=skipped)
    print(report.summary())
    if report.skipped:
        print("Skipped:", file=sys.stderr)
        for item in report.skipped:
            print(f"  {item.source}: {item.reason}", file=sys.stderr)
    added = len(report.added) + len(report.updated) + report.unchanged
    return 0 if added or not report.skipped else 1


def format_answer(answer: Answer, width: int = 100) -> str:
    """Render an answer and its numbered sources for a terminal, cited sentences in »…«."""
    lines = [textwrap.fill(answer.text, width), ""]
    lines.append("Closest passages:" if answer.abstained else "Sources:")
    for c in answer.citations:
        heading = f" ({c.heading})" if c.heading else ""
        lines.append(f"[{c.n}] {c.article_title} › ¶ {c.paragraph_index}{heading}")
        marked = (c.paragraph_text[:c.sentence_start] + "»" + c.sentence + "«"
                  + c.paragraph_text[c.sentence_end:])
        lines.append(textwrap.fill(marked, width, initial_indent="    ", subsequent_indent="    "))
    return "\n".join(lines)


def _ask(args: argparse.Namespace, config: Config) -> int:
    from rag.pipeline import Pipeline, QuestionError

    pipeline = Pipeline(config)

    def answer_one(question: str) -> None:
        try:
            answer = pipeline.ask(question)
        except QuestionError as error:
            if args.json:
                print(json.dumps({"question": question, "error": str(error)}), flush=True)
            else:
                print(f"error: {error}", file=sys.stderr)
            return
        if args.json:
            print(json.dumps(answer.to_dict(), ensure_ascii=False), flush=True)
        else:
            print(format_answer(answer), flush=True)

    if args.question == "-":
        for line in sys.stdin:
            if line.strip():
                answer_one(line.strip())
        return 0
    if args.question is not None:
        answer_one(args.question)
        return 0
    print(f"Ask about the {len(pipeline.index.articles())} indexed articles (empty line or "
          "Ctrl-D quits).", file=sys.stderr)
    while True:
        try:
            question = input("? ").strip()
        except EOFError:
            return 0
        if not question:
            return 0
        answer_one(question)
        print()


def _info(args: argparse.Namespace, config: Config) -> int:
    from rag.store import Index

    index = Index.open(Path(config.index_dir), model=config.model)
    manifest = index.manifest
    if args.json:
        print(manifest.to_json(), end="")
        return 0
    print(f"Index {config.index_dir} ({index.generation.name}, format {manifest.format}, "
          f"built {manifest.created})")
    print(f"  model      {manifest.model} ({manifest.dimension}-d, normalized)")
    print(f"  articles   {manifest.articles}")
    print(f"  paragraphs {manifest.paragraphs}")
    print(f"  sentences  {manifest.sentences}")
    print(f"  abstain    below {manifest.abstain_threshold}")
    for article in index.articles()[:50]:
        print(f"  - {article.title} ({article.paragraphs} ¶) {article.source}")
    if manifest.articles > 50:
        print(f"  … and {manifest.articles - 50} more")
    return 0


if __name__ == "__main__":
    sys.exit(main())
