"""The `rag` command: index articles, ask questions, inspect an index."""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import json
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

from rag.answer import Answer, Status
from rag.changelog import changes_log, log_change
from rag.config import RETRIEVERS, Config, from_env, parse_day, validate
from rag.dates import format_day
from rag.errors import ConfigError, QuestionError, RagError
from rag.text import plural
from rag.verify import UNSUPPORTED_MARK, unsupported_reason


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--index",
        dest="index_dir",
        type=Path,
        metavar="DIR",
        help="index folder (default: index, or RAG_INDEX_DIR)",
    )


def _reranker(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--reranker",
        metavar="NAME",
        help="CrossEncoder that reorders the best paragraphs (needs its weights; or RAG_RERANKER)",
    )


def _llm(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--llm",
        dest="llm_url",
        metavar="URL",
        help="answer with this OpenAI-compatible chat server, e.g. http://127.0.0.1:11434/v1 "
        "(or RAG_LLM_URL; the key only from RAG_LLM_API_KEY)",
    )
    parser.add_argument(
        "--llm-model", metavar="NAME", help="the server's model (default: its first; RAG_LLM_MODEL)"
    )
    parser.add_argument(
        "--llm-timeout",
        type=float,
        metavar="SECONDS",
        help="give up on the LLM after this long and answer extractively (default 60)",
    )


def _day(raw: str) -> dt.date:
    """An argparse type for YYYY-MM-DD days; a bad one is a one-line usage error."""
    try:
        return parse_day(raw)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _dates(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--as-of",
        type=_day,
        metavar="DATE",
        help="answer as on this day (YYYY-MM-DD): articles published later are not used, and "
        "those published near it are preferred (default: today, or RAG_AS_OF)",
    )
    parser.add_argument(
        "--since",
        type=_day,
        metavar="DATE",
        help="use only articles published on or after this day; undated ones are left out "
        "(or RAG_SINCE)",
    )
    parser.add_argument(
        "--until",
        type=_day,
        metavar="DATE",
        help="use only articles published on or before this day; undated ones are left out "
        "(or RAG_UNTIL)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every sub-command."""
    parser = argparse.ArgumentParser(
        prog="rag", description="Ask questions about a set of articles; answers cite paragraphs."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    index = commands.add_parser(
        "index",
        help="add articles (files, folders, URLs) to an index",
        description="Add new and changed articles to the index; unchanged ones are not "
        "re-embedded.",
    )
    index.add_argument(
        "sources",
        nargs="+",
        metavar="PATH|URL",
        help="files (.txt .md .html .pdf .jsonl .json), folders or http(s) URLs",
    )
    _common(index)
    index.add_argument(
        "--model",
        help="sentence-transformers model name or path (default: all-MiniLM-L6-v2, or RAG_MODEL)",
    )
    index.add_argument(
        "--prune",
        action="store_true",
        help="remove indexed articles whose source is no longer among PATH|URL",
    )
    index.add_argument(
        "--rebuild",
        action="store_true",
        help="start a new index instead of updating the existing one",
    )
    index.add_argument(
        "--store",
        help="where the vectors go: faiss (files in the index folder) or "
        "milvus://HOST:PORT[/NAME] (default: the index's store, faiss for a new one; "
        "or RAG_STORE); another store than the index's needs --rebuild",
    )
    index.add_argument("--max-bytes", type=int, help="largest file or page to read, in bytes")
    index.add_argument(
        "--allow-private-urls",
        action="store_true",
        default=None,
        help="also fetch URLs on private addresses (an intranet, this machine); the chat app "
        "never does (or RAG_ALLOW_PRIVATE_URLS=1)",
    )

    ask = commands.add_parser(
        "ask",
        help="answer a question with cited sentences",
        description="Answer a question from the index. Without QUESTION, ask interactively; "
        "with '-', read one question per line from stdin.",
    )
    ask.add_argument(
        "question", nargs="?", help="the question, or '-' to read questions from stdin"
    )
    _common(ask)
    _reranker(ask)
    _dates(ask)
    ask.add_argument("--k", type=int, help="number of paragraphs to retrieve (default 5, or RAG_K)")
    ask.add_argument(
        "--min-score",
        type=float,
        help="abstain when the probability that the passages answer is below this, 0-1 "
        "(default: the answerability model's, or RAG_MIN_SCORE)",
    )
    ask.add_argument("--model", help="refuse the index unless it was built with this model")
    ask.add_argument("--json", action="store_true", help="print one JSON object per question")
    ask.add_argument(
        "--history",
        type=Path,
        metavar="FILE",
        help="conversation file (JSON lines, as --json prints): earlier turns resolve follow-up "
        "questions, and each new turn is appended",
    )
    _llm(ask)

    evaluate = commands.add_parser(
        "eval",
        help="measure retrieval and answer quality on SQuAD or BEIR data",
        description="Index a SQuAD-format file or a BEIR folder into its own index (reused when "
        "unchanged), ask every question through the normal search and answer code, "
        "and report recall@1/5/20, MRR@10, nDCG@10, answer-in-citation, abstention "
        "quality and latency.",
    )
    evaluate.add_argument("data", type=Path, help="SQuAD .json file or BEIR folder")
    evaluate.add_argument(
        "--index",
        dest="index_dir",
        type=Path,
        metavar="DIR",
        help="index folder for this dataset (default: index/eval/<name>)",
    )
    evaluate.add_argument(
        "--retriever",
        choices=RETRIEVERS,
        action="append",
        help="retriever to evaluate; repeat for an ablation (default: hybrid)",
    )
    evaluate.add_argument("--limit", type=int, help="ask only the first N questions")
    evaluate.add_argument(
        "--holdout",
        type=float,
        metavar="FRACTION",
        help="leave this share of the corpus out (seeded); its questions become unanswerable",
    )
    evaluate.add_argument("--seed", type=int, default=0, help="seed of --holdout (default 0)")
    evaluate.add_argument(
        "--half",
        choices=("fit", "check"),
        help="ask only the questions of the fixed half the learned parts are fitted on, or the "
        "other (SQuAD: by article; news: by date; SciFact: odd/even id)",
    )
    evaluate.add_argument(
        "--no-dates",
        action="store_true",
        help="ignore publication dates (by default a dated question is asked as of its date)",
    )
    evaluate.add_argument(
        "--as-of",
        type=_day,
        metavar="DATE",
        help="ask every question as of this day (YYYY-MM-DD) instead of its own date, as an "
        "archive is asked later",
    )
    _reranker(evaluate)
    evaluate.add_argument("--k", type=int, help="paragraphs given to the answer (default 5)")
    evaluate.add_argument("--min-score", type=float, help="abstention threshold (0-1) to evaluate")
    evaluate.add_argument("--model", help="sentence-transformers model name or path")
    evaluate.add_argument(
        "--output",
        type=Path,
        metavar="FILE",
        help="where to write the results JSON (default: <index>/results.json)",
    )
    evaluate.add_argument(
        "--json", action="store_true", help="print the results as one JSON object on stdout"
    )

    serve = commands.add_parser(
        "serve",
        help="open the chat app in the browser (ask, library, settings, API)",
        description="Serve the browser chat over the index; on a first start with no index, "
        "build one from the sample articles. --share (or RAG_SHARE=1) asks for a public "
        "link and always requires a login: --auth user:pass, RAG_AUTH, or a generated password.",
    )
    _common(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: local)")
    serve.add_argument("--port", type=int, help="port (default: 7860, or the next free one)")
    serve.add_argument(
        "--share", action="store_true", default=None, help="also open a public Gradio share link"
    )
    serve.add_argument(
        "--auth",
        metavar="USER:PASS",
        action="append",
        help="require a login; repeat for one login per person (or RAG_AUTH); these logins "
        "may ask questions",
    )
    serve.add_argument(
        "--admin-auth",
        metavar="USER:PASS",
        help="the owner's login, the only one that may add or remove articles when the app "
        "has a login (or RAG_ADMIN_AUTH; generated and printed when missing)",
    )
    serve.add_argument(
        "--queue-size",
        type=int,
        metavar="N",
        help="requests that may wait at once; more are told the app is busy (default 64)",
    )
    serve.add_argument(
        "--ask-rate",
        type=int,
        metavar="N",
        help="questions a minute per login, or per client without a login (default 30)",
    )
    serve.add_argument(
        "--add-rate",
        type=int,
        metavar="N",
        help="library changes a minute per login, or per client (default 20)",
    )
    serve.add_argument(
        "--uploads",
        type=Path,
        metavar="DIR",
        help="folder for uploaded articles (default: uploads/ beside the index, or RAG_UPLOADS)",
    )
    _reranker(serve)
    _dates(serve)
    _llm(serve)
    serve.add_argument("--k", type=int, help="default number of sources (default 5, or RAG_K)")
    serve.add_argument("--max-bytes", type=int, help="largest upload or page to read, in bytes")

    info = commands.add_parser(
        "info",
        help="show what an index holds and how it was built",
        description="Show an index's manifest and its articles.",
    )
    _common(info)
    info.add_argument("--json", action="store_true", help="print the manifest as JSON")
    return parser


def _config(args: argparse.Namespace) -> Config:
    config = from_env().with_overrides(
        index_dir=getattr(args, "index_dir", None),
        model=getattr(args, "model", None),
        store=getattr(args, "store", None),
        k=getattr(args, "k", None),
        min_score=getattr(args, "min_score", None),
        max_bytes=getattr(args, "max_bytes", None),
        reranker=getattr(args, "reranker", None),
        as_of=getattr(args, "as_of", None),
        since=getattr(args, "since", None),
        until=getattr(args, "until", None),
        llm_url=getattr(args, "llm_url", None),
        llm_model=getattr(args, "llm_model", None),
        llm_timeout=getattr(args, "llm_timeout", None),
        allow_private_urls=getattr(args, "allow_private_urls", None),
        share=getattr(args, "share", None),
        auth=tuple(args.auth) if getattr(args, "auth", None) else None,
        admin_auth=getattr(args, "admin_auth", None),
        uploads=getattr(args, "uploads", None),
        queue_size=getattr(args, "queue_size", None),
        ask_rate=getattr(args, "ask_rate", None),
        add_rate=getattr(args, "add_rate", None),
    )
    validate(config)
    return config


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        config = _config(args)
        handlers = {"index": _index, "ask": _ask, "info": _info, "eval": _eval, "serve": _serve}
        return handlers[args.command](args, config)
    except RagError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _index(args: argparse.Namespace, config: Config) -> int:
    from rag.pipeline import index_sources

    def skipped(item) -> None:
        print(f"skipped {item.source}: {item.reason}", file=sys.stderr)

    report = index_sources(
        config, args.sources, prune=args.prune, rebuild=args.rebuild, on_skip=skipped
    )
    if report.added or report.updated or report.removed:
        log_change(
            changes_log(Path(config.index_dir)),
            "index",
            f"{_user()} (command line)",
            None,
            what=list(args.sources),
            added=report.added,
            updated=report.updated,
            removed=report.removed,
        )
    print(report.summary())
    if report.skipped:
        print("Skipped:", file=sys.stderr)
        for item in report.skipped:
            print(f"  {item.source}: {item.reason}", file=sys.stderr)
    added = len(report.added) + len(report.updated) + report.unchanged
    return 0 if added or not report.skipped else 1


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in this environment (some containers)
        return "unknown user"


def format_answer(answer: Answer, width: int = 100) -> str:
    """Render an answer and its numbered sources for a terminal, cited sentences in »…«, the
    marked answer phrase on a line of its own ("Answer: Zalmay Khalilzad [1]"): each source is
    headed `[n] Title › ¶ 3 · 28 Jul 2021` (the day when the article has one), then
    `also reported on 21 Jul 2021, …` when other versions of the paragraph were left out."""
    lines = [textwrap.fill(answer.text, width)]
    if not answer.abstained:
        # The marked answer phrase, as the app shows it in bold (with the day a weekday names).
        for c in answer.citations:
            if c.answer_phrase:
                day = format_day(c.answer_day)
                lines.append(f"Answer: {c.answer_phrase}{f' ({day})' if day else ''} [{c.n}]")
    if answer.asked:
        lines.append(f"(asked as: {answer.asked})")
    if answer.supported is not None:
        backed, claims = answer.support_counts()
        lines.append(f"({backed} of {claims} sentences supported by the sources)")
        for verdict in answer.sentences:
            if verdict.status == Status.UNSUPPORTED:
                why = f"{UNSUPPORTED_MARK} “{verdict.text}” {unsupported_reason(verdict)}"
                lines.append(textwrap.fill(why, width, subsequent_indent="  "))
    if answer.note:
        lines.append(textwrap.fill(f"Note: {answer.note}", width))
    lines.append("")
    lines.append("Closest passages:" if answer.abstained else "Sources:")
    for c in answer.citations:
        heading = f" ({c.heading})" if c.heading else ""
        day = f" · {format_day(c.published)}" if format_day(c.published) else ""
        lines.append(f"[{c.n}] {c.article_title} › ¶ {c.paragraph_index}{heading}{day}")
        if also := [format_day(d) for d in c.also if format_day(d)]:
            lines.append(f"    also reported on {', '.join(also)}")
        marked = (
            c.paragraph_text[: c.sentence_start]
            + "»"
            + c.sentence
            + "«"
            + c.paragraph_text[c.sentence_end :]
        )
        lines.append(textwrap.fill(marked, width, initial_indent="    ", subsequent_indent="    "))
    return "\n".join(lines)


def read_history(path: Path | None) -> list:
    """The turns recorded in a conversation file (one answer JSON per line); none if absent."""
    from rag.followup import Turn

    if path is None or not path.exists():
        return []
    turns = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            if not isinstance(data, dict) or "question" not in data:
                raise ValueError
            if "error" not in data:
                turns.append(Turn.from_answer(Answer.from_dict(data)))
        except (KeyError, TypeError, ValueError):
            raise ConfigError(
                f"{path} line {number} is not an answer record (one JSON object per line, as "
                "`rag ask --json` prints); fix or remove that line."
            ) from None
    return turns


def _ask(args: argparse.Namespace, config: Config) -> int:
    from rag.followup import Turn
    from rag.llm import from_config
    from rag.pipeline import Pipeline

    pipeline = Pipeline(config)
    llm = from_config(config)
    history = read_history(args.history)
    conversation = args.history is not None or args.question is None

    def answer_one(question: str) -> None:
        answer = None
        try:
            for event in pipeline.ask_stream(
                question, history=history if conversation else (), llm=llm
            ):
                if isinstance(event, str):
                    if not args.json:  # the draft streams to stderr; the checked answer follows
                        print(event, end="", file=sys.stderr, flush=True)
                else:
                    answer = event
        except QuestionError as error:
            if args.json:
                print(json.dumps({"question": question, "error": str(error)}), flush=True)
            else:
                print(f"error: {error}", file=sys.stderr)
            return
        if answer.mode == "llm" and not args.json:
            print("\n", file=sys.stderr, flush=True)
        record = answer.to_dict()
        if args.json:
            print(json.dumps(record, ensure_ascii=False), flush=True)
        else:
            print(format_answer(answer), flush=True)
        history.append(Turn.from_answer(answer))
        if args.history is not None:
            with args.history.open("a", encoding="utf-8") as file:
                file.write(json.dumps(record, ensure_ascii=False) + "\n")

    if args.question == "-":
        for line in sys.stdin:
            if line.strip():
                answer_one(line.strip())
        return 0
    if args.question is not None:
        answer_one(args.question)
        return 0
    print(
        f"Ask about the {plural(len(pipeline.articles()), 'indexed article')}; follow-up questions "
        "are understood (empty line or Ctrl-D quits).",
        file=sys.stderr,
    )
    while True:
        try:
            question = input("? ").strip()
        except EOFError:
            return 0
        if not question:
            return 0
        answer_one(question)
        print()


def _eval(args: argparse.Namespace, config: Config) -> int:
    from rag.evaluate import evaluate, format_table

    if args.index_dir is None:
        name = args.data.resolve().stem
        if args.holdout is not None:
            name += f"-holdout{args.holdout:g}-seed{args.seed}"
        config = config.with_overrides(index_dir=Path("index") / "eval" / name)
    retrievers = args.retriever or ["hybrid"]
    results = [
        evaluate(
            config,
            args.data,
            retriever=r,
            limit=args.limit,
            held_out=args.holdout,
            seed=args.seed,
            part=args.half,
            dates=not args.no_dates,
            as_of=args.as_of,
        )
        for r in retrievers
    ]
    output = args.output or Path(config.index_dir) / "results.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    payload = results[0] if len(results) == 1 else results
    output.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps(payload))
    else:
        print(format_table(results))
        print(f"\nResults written to {output}")
    return 0


def _info(args: argparse.Namespace, config: Config) -> int:
    from rag.pipeline import describe_vectors, open_index

    index = open_index(config)
    manifest = index.manifest
    if args.json:
        print(manifest.to_json(), end="")
        return 0
    print(
        f"Index {config.index_dir} ({index.generation.name}, format {manifest.format}, "
        f"built {manifest.created})"
    )
    print(f"  model      {manifest.model} ({manifest.dimension}-d, normalized)")
    print(f"  articles   {manifest.articles}")
    print(f"  paragraphs {manifest.paragraphs}")
    print(f"  sentences  {manifest.sentences}")
    print(f"  vectors    {describe_vectors(manifest.vectors)}")
    print(f"  ranker     {manifest.ranker}")
    for article in index.articles()[:50]:
        day = f", {format_day(article.published)}" if format_day(article.published) else ""
        print(f"  - {article.title} ({article.paragraphs} ¶{day}) {article.source}")
    if manifest.articles > 50:
        print(f"  … and {manifest.articles - 50} more")
    return 0


def _serve(args: argparse.Namespace, config: Config) -> int:
    from rag.chat import serve

    return serve(config, host=args.host, port=args.port)


if __name__ == "__main__":
    sys.exit(main())
