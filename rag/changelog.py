"""The library's change log: one JSON line per change to an index, kept beside it
(`index-changes.jsonl` for `index/`): when, which login, what was added, updated or removed, and
what was refused. The chat app and `rag index` both append to it."""

from __future__ import annotations

import datetime
import json
import threading
from pathlib import Path

_appending = threading.Lock()  # one line at a time from this process's threads


def changes_log(index_dir: Path) -> Path:
    """Where an index's change log lives, beside it.

    changes_log(Path("index")) == Path("index-changes.jsonl")
    """
    index_dir = Path(index_dir)
    return index_dir.parent / f"{index_dir.name}-changes.jsonl"


def log_change(
    path: Path, action: str, login: str | None, client: str | None, **details: object
) -> None:
    """Append one record {"time", "login", "client", "action", **details} to the log at path."""
    record = {
        "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "login": login,
        "client": client,
        "action": action,
        **details,
    }
    line = json.dumps(record, ensure_ascii=False) + "\n"
    with _appending:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as log:
            log.write(line)
