"""One settings object, built once by the CLI or the app: flags > RAG_* variables > defaults."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from rag.dates import window_error
from rag.errors import ConfigError
from rag.text import is_http_url

DEFAULT_MODEL = "all-MiniLM-L6-v2"
RETRIEVERS = ("hybrid", "dense", "bm25")  # rag.retrieve: fused, vectors only, keywords only


@dataclass(frozen=True)
class Config:
    """Every user-facing setting; stage functions take only the fields they need."""

    index_dir: Path = Path("index")
    model: str | None = None  # None: the index's model, or the default for a new index
    # Where `rag index` puts the vectors: "faiss" (files in the index folder) or
    # "milvus://HOST:PORT[/NAME]"; None: the index's store, or faiss for a new index. Readers
    # take the store from the index's manifest.
    store: str | None = None
    k: int = 5
    # None means "use the threshold stored with the index for its model".
    min_score: float | None = None
    reranker: str | None = None  # a CrossEncoder that reorders the best paragraphs
    # Publication dates: questions are asked as of a day (None: today), and may search only a
    # window of publication days (either end open).
    as_of: dt.date | None = None
    since: dt.date | None = None
    until: dt.date | None = None
    bf16: bool = True
    timeout: float = 10.0
    max_bytes: int = 10_000_000
    batch_size: int = 64
    # LLM answers: any OpenAI-compatible chat-completions server; None keeps answers extractive.
    llm_url: str | None = None
    llm_model: str | None = None  # None: the first model the server lists
    llm_api_key: str | None = field(default=None, repr=False)
    llm_timeout: float = 60.0
    # URLs: only public addresses are fetched unless the owner allows private ones (rag index).
    allow_private_urls: bool = False
    # The chat app: sharing, logins, uploads and how much one login may ask of it.
    share: bool = False
    auth: tuple[str, ...] = field(default=(), repr=False)  # visitors' logins, "user:pass" each
    admin_auth: str | None = field(default=None, repr=False)  # the owner's "user:pass"
    uploads: Path | None = None  # None: uploads/ beside the index
    queue_size: int = 64  # requests waiting at once; more get "busy, try again in a moment"
    ask_rate: int = 30  # questions per login (or client, without a login) per minute
    add_rate: int = 20  # library changes per login (or client) per minute

    def with_overrides(self, **values: object) -> Config:
        """Return a copy with the given fields replaced, ignoring values that are None."""
        return replace(self, **{k: v for k, v in values.items() if v is not None})


def llm_url_error(url: str) -> str:
    """The one sentence for an LLM address that is not an http(s) URL."""
    return (
        f"the LLM URL {url!r} is not an http(s) URL; "
        "give the server's address, such as http://127.0.0.1:11434/v1."
    )


def parse_day(raw: str) -> dt.date:
    """A day written YYYY-MM-DD; ValueError with a one-line reason otherwise."""
    try:
        return dt.date.fromisoformat(raw.strip())
    except ValueError:
        raise ValueError(
            f"{raw!r} is not a date; write it as YYYY-MM-DD, such as 2021-07-28"
        ) from None


def _parse(name: str, raw: str, kind: Callable[[str], object]) -> object:
    if kind is bool:
        lowered = raw.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise ConfigError(f"RAG_{name.upper()}={raw!r} is not a yes/no value; use 1 or 0.")
    if kind is parse_day:
        try:
            return parse_day(raw)
        except ValueError as error:
            raise ConfigError(f"RAG_{name.upper()}: {error}.") from None
    try:
        return kind(raw)
    except ValueError:
        raise ConfigError(
            f"RAG_{name.upper()}={raw!r} is not a valid {kind.__name__}; fix or unset it."
        ) from None


_KINDS = {
    "reranker": str,
    "index_dir": Path,
    "model": str,
    "store": str,
    "k": int,
    "min_score": float,
    "as_of": parse_day,
    "since": parse_day,
    "until": parse_day,
    "bf16": bool,
    "timeout": float,
    "max_bytes": int,
    "batch_size": int,
    "llm_url": str,
    "llm_model": str,
    "llm_api_key": str,
    "llm_timeout": float,
    "allow_private_urls": bool,
    "share": bool,
    "auth": lambda raw: (raw,),
    "admin_auth": str,
    "uploads": Path,
    "queue_size": int,
    "ask_rate": int,
    "add_rate": int,
}


def from_env(env: Mapping[str, str] | None = None) -> Config:
    """Build the defaults overlaid with RAG_* environment variables (e.g. RAG_INDEX_DIR, RAG_K)."""
    env = os.environ if env is None else env
    values: dict[str, object] = {}
    for item in fields(Config):
        raw = env.get(f"RAG_{item.name.upper()}")
        if raw not in (None, ""):
            values[item.name] = _parse(item.name, raw, _KINDS[item.name])
    config = Config(**values)
    validate(config)
    return config


def validate(config: Config) -> None:
    """Raise ConfigError for values no stage can use."""
    if config.k < 1:
        raise ConfigError(f"k must be at least 1, got {config.k}.")
    if config.min_score is not None and not 0.0 <= config.min_score <= 1.0:
        raise ConfigError(f"min_score is a probability between 0 and 1, got {config.min_score}.")
    if config.timeout <= 0:
        raise ConfigError(f"timeout must be positive, got {config.timeout}.")
    if config.llm_timeout <= 0:
        raise ConfigError(f"llm_timeout must be positive, got {config.llm_timeout}.")
    if config.llm_url and not is_http_url(config.llm_url):
        raise ConfigError(llm_url_error(config.llm_url))
    for name in ("queue_size", "ask_rate", "add_rate"):
        if getattr(config, name) < 1:
            raise ConfigError(f"{name} must be at least 1, got {getattr(config, name)}.")
    if error := window_error(config.since, config.until):
        raise ConfigError(error)
    if config.store is not None:
        from rag.store.vectors import store_error  # only when set: it imports FAISS

        if error := store_error(config.store):
            raise ConfigError(error)
    if config.batch_size < 1:
        raise ConfigError(f"batch_size must be at least 1, got {config.batch_size}.")
