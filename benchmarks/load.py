"""Load: many gradio_client sessions asking at once, with an article upload in the middle and a
visitor flooding the app beyond its rate limit.

Starts the app (`rag serve`) on 127.0.0.1 over a fresh index of the sample article, with a login
for each session (as a shared app has), a flooder's login and the owner's, then:

- baseline: the owner's session asks the questions one after another;
- load: `--sessions` sessions (default 20) each ask `--questions` questions (default 10) at
  once; when half the questions are answered, the owner uploads an article through
  `/add_article`, and afterwards the app must answer from it. Meanwhile the flooder sends
  questions from `--flood` threads (default 8) as fast as it can until the sessions are done:
  beyond `--ask-rate` a minute (default 30) each is refused with the rate message.

Prints throughput and p50/p95/p99 latency of both, their ratio, the upload's duration and what
the flooder got. Any error of the sessions or the owner (an exception, an `error` reply, no
answer, a question not asked before `--timeout`) is counted, as is any reply to the flooder other
than an answer or the rate message; the exit status is 1 unless there were none. The run is
bounded in questions and in time and stops the app by itself.

    python benchmarks/load.py [--sessions 20] [--questions 10] [--flood 8] [--timeout 600]
                              [--store milvus://HOST:PORT/NAME]

With --store the index keeps its vectors there (a Milvus server: the same run over the Milvus
store, to set beside a run over FAISS).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import queue
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from gradio_client import Client

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
QUESTIONS = (
    "Who is the US special envoy for Afghanistan?",
    "Which provincial capitals did the Taliban advance on?",
    "What did Ned Price say about diplomacy?",
    "Who is Bill Roggio?",
    "What does Ronald Neumann think about the talks in Qatar?",
    "Where do Taliban political leaders meet US officials?",
    "What did P. Michael McKinley say about the negotiations in Doha?",
    "Who was deputy chief of mission at the US embassy in Kabul?",
    "What have State Department officials warned the Taliban about?",
    "What did Khalilzad say the Taliban demand?",
)
UPLOAD = (
    "Quenby harbour report\n\n"
    "The new lighthouse at Quenby harbour was designed by the engineer Marta Olsen. It was "
    "switched on in March after two years of building.\n\n"
    "The harbour board paid 4 million euros for the lighthouse and its keeper's cottage.\n"
)
UPLOAD_QUESTION = ("Who designed the lighthouse at Quenby harbour?", "Marta Olsen")


@dataclass
class Tally:
    """Latencies and errors of one phase, from many threads."""

    seconds: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ask(self, client: Client, question: str, deadline: float) -> None:
        """Ask one question; a reply without an answer, an exception or the deadline is an error."""
        started = time.perf_counter()
        try:
            job = client.submit(question, api_name="/ask")
            reply = job.result(timeout=max(deadline - time.monotonic(), 0.001))
            problem = reply.get("error") if "answer" not in reply else None
        except Exception as error:  # any failure is what this benchmark counts
            problem = f"{type(error).__name__}: {error}"
        took = time.perf_counter() - started
        with self.lock:
            if problem:
                self.errors.append(f"{question!r}: {problem}")
            else:
                self.seconds.append(took)

    def report(self, name: str, wall: float) -> str:
        ms = np.array(self.seconds) * 1000 if self.seconds else np.zeros(1)
        p50, p95, p99 = np.percentile(ms, [50, 95, 99])
        return (
            f"{name:<10} {len(self.seconds):4d} answered  {len(self.errors):3d} errors  "
            f"{len(self.seconds) / wall:6.1f} q/s   p50 {p50:7.1f} ms   p95 {p95:7.1f} ms   "
            f"p99 {p99:7.1f} ms   ({wall:.1f} s)"
        )


@dataclass
class Flood:
    """What one visitor sending too many questions got back."""

    sent: int = 0
    answered: int = 0
    limited: int = 0
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ask(self, client: Client, question: str, deadline: float) -> None:
        """Ask one question; an answer or the rate message is expected, anything else is not."""
        try:
            job = client.submit(question, api_name="/ask")
            reply = job.result(timeout=max(deadline - time.monotonic(), 0.001))
        except Exception as error:  # counted: the flooder must get an answer or the message
            reply = {"error": f"{type(error).__name__}: {error}"}
        with self.lock:
            self.sent += 1
            if "answer" in reply:
                self.answered += 1
            elif str(reply.get("error", "")).startswith("You have sent "):
                self.limited += 1
            else:
                self.errors.append(f"flooder {question!r}: {reply}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


OWNER = ("owner", "owner-load-test")
FLOODER = ("flooder", "flooder-load-test")


def session_login(n: int) -> tuple[str, str]:
    return f"reader{n}", f"reader{n}-load-test"


def start_app(
    folder: Path, deadline: float, args: argparse.Namespace
) -> tuple[subprocess.Popen, str]:
    """`rag serve` on a free loopback port; returns the process and its URL once it serves."""
    port = free_port()
    env = os.environ | {"GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1"}
    for name in ("RAG_SHARE", "RAG_AUTH", "RAG_ADMIN_AUTH", "RAG_QUEUE_SIZE", "RAG_ADD_RATE"):
        env.pop(name, None)
    logins = [session_login(n) for n in range(args.sessions)] + [FLOODER]
    process = subprocess.Popen(
        [sys.executable, "-m", "rag.cli", "serve", "--index", str(folder / "index")]
        + ["--uploads", str(folder / "uploads"), "--port", str(port)]
        + [part for user, password in logins for part in ("--auth", f"{user}:{password}")]
        + ["--admin-auth", ":".join(OWNER), "--ask-rate", str(args.ask_rate)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in process.stdout], daemon=True).start()
    seen = []
    while not any(line.startswith("Serving the chat on") for line in seen):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            sys.exit("the app did not start:\n" + "".join(seen))
        with contextlib.suppress(queue.Empty):
            seen.append(lines.get(timeout=1))
    return process, f"http://127.0.0.1:{port}/"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--questions", type=int, default=10, help="per session")
    parser.add_argument("--flood", type=int, default=8, help="the flooder's threads")
    parser.add_argument("--ask-rate", type=int, default=30, help="questions a minute per login")
    parser.add_argument("--timeout", type=float, default=600, help="seconds for the whole run")
    parser.add_argument("--store", help="where the index keeps its vectors (default: FAISS)")
    args = parser.parse_args()
    deadline = time.monotonic() + args.timeout

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        index = ["index", str(SAMPLE), "--index", str(folder / "index")]
        if args.store:
            index += ["--store", args.store]
        indexed = subprocess.run(
            [sys.executable, "-m", "rag.cli", *index],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        if indexed.returncode != 0:
            sys.exit(indexed.stderr)
        process, url = start_app(folder, deadline, args)
        try:
            return run(url, args, deadline)
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def run(url: str, args: argparse.Namespace, deadline: float) -> int:
    def session(login: tuple[str, str]) -> Client:
        return Client(url, auth=login, verbose=False, analytics_enabled=False, download_files=False)

    asked = [QUESTIONS[i % len(QUESTIONS)] for i in range(args.questions)]
    warm = session(OWNER)
    Tally().ask(warm, QUESTIONS[0], deadline)  # first calls pay for lazy initialisation

    baseline = Tally()
    started = time.perf_counter()
    for question in asked:
        baseline.ask(warm, question, deadline)
    baseline_wall = time.perf_counter() - started

    clients = [session(session_login(n)) for n in range(args.sessions)]
    flooder = session(FLOODER)
    load = Tally()
    total = args.sessions * args.questions
    # The sessions, the uploader, the flooder's threads and this thread.
    gate = threading.Barrier(args.sessions + 2 + args.flood)
    upload: dict[str, float | str] = {}
    sessions_done = threading.Event()
    flood = Flood()

    def flood_app(n: int) -> None:
        gate.wait()
        while not sessions_done.is_set() and time.monotonic() < deadline and flood.sent < 5000:
            flood.ask(flooder, QUESTIONS[n % len(QUESTIONS)], deadline)

    def ask_all(client: Client, offset: int) -> None:
        gate.wait()
        for i in range(args.questions):
            load.ask(client, asked[(i + offset) % len(asked)], deadline)

    def add_article() -> None:
        gate.wait()
        while len(load.seconds) + len(load.errors) < total // 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        upload["during"] = len(load.seconds)
        began = time.perf_counter()
        try:
            job = warm.submit("", None, UPLOAD, api_name="/add_article")
            report = job.result(timeout=max(deadline - time.monotonic(), 0.001))
            if len(report.get("added", [])) != 1:
                upload["error"] = f"upload not added: {report}"
        except Exception as error:  # counted, not raised: the run goes on
            upload["error"] = f"upload failed: {type(error).__name__}: {error}"
        upload["seconds"] = time.perf_counter() - began
        upload["answered_meanwhile"] = len(load.seconds) - upload["during"]

    threads = [
        threading.Thread(target=ask_all, args=(c, n), daemon=True) for n, c in enumerate(clients)
    ]
    threads.append(threading.Thread(target=add_article, daemon=True))
    flooding = [
        threading.Thread(target=flood_app, args=(n,), daemon=True) for n in range(args.flood)
    ]
    for thread in threads + flooding:
        thread.start()
    gate.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join(timeout=max(deadline - time.monotonic(), 0.001) + 30)
    load_wall = time.perf_counter() - started
    sessions_done.set()
    for thread in flooding:
        thread.join(timeout=max(deadline - time.monotonic(), 0.001) + 30)
    missing = total - len(load.seconds) - len(load.errors)
    load.errors += [f"not asked before the {args.timeout:g} s deadline"] * missing
    if "error" in upload:
        load.errors.append(str(upload["error"]))
    after = warm.submit(UPLOAD_QUESTION[0], api_name="/ask").result(timeout=60)
    if UPLOAD_QUESTION[1] not in after.get("answer", ""):
        load.errors.append(f"the uploaded article is not answered: {after}")

    print(
        f"{args.sessions} sessions x {args.questions} questions over the sample article; "
        f"{total} questions under load, one upload in the middle"
    )
    print(baseline.report("1 session", baseline_wall))
    print(load.report(f"{args.sessions} sessions", load_wall))
    base50, load50 = np.percentile(baseline.seconds or [0], 50), np.percentile(load.seconds, 50)
    print(
        f"ratio under load / one session: p50 {load50 / base50:.2f}x latency, "
        f"{len(load.seconds) / load_wall / (len(baseline.seconds) / baseline_wall):.2f}x "
        "throughput"
    )
    print(
        f"flooder ({args.flood} threads, --ask-rate {args.ask_rate}): {flood.sent} questions "
        f"sent, {flood.answered} answered, {flood.limited} refused with the rate message, "
        f"{len(flood.errors)} other replies"
    )
    print(
        f"upload: {upload.get('seconds', float('nan')):.2f} s, sent after "
        f"{upload.get('during', 0)} answers; {upload.get('answered_meanwhile', 0)} questions "
        "answered while it was indexed; answered from it afterwards: "
        f"{UPLOAD_QUESTION[1] in after.get('answer', '')}"
    )
    if flood.answered > args.ask_rate * (load_wall / 60 + 1):
        load.errors.append(f"the flooder got {flood.answered} answers, beyond its rate")
    for error in load.errors[:10] + baseline.errors[:10] + flood.errors[:10]:
        print("error:", error)
    errors = len(load.errors) + len(baseline.errors) + len(flood.errors)
    print(f"errors: {errors}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
