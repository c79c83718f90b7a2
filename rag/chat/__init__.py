"""The browser chat: a Gradio face over the pipeline — chat with cited sources, a library of the
indexed articles, settings, and a JSON API (`ask`, `add_article`, `remove_article`).

Everything shown in the page that came from an article, a file name or a question is escaped
here (`inert`, `html.escape`), so markup in an article is displayed as text and never runs.

Modules, from the page's parts to the server that runs it:

    render.py    inert, sources_html, chat_history…: article text, names and questions as HTML
    uploads.py   safe_upload_name, store_upload: accepted types, sanitized names, atomic saves
    limits.py    RateLimit: how many questions and library changes one login may send
    service.py   ChatService: questions, the library and uploads over one index
    page.py      build_app: the Chat, Library and Settings tabs and the JSON API
    launch.py    serve: the login, the first index, the server and its share link
"""

from __future__ import annotations

from rag.chat.launch import (
    CSS,
    DEFAULT_USER,
    SAMPLE_DIR,
    SHARE_LIFETIME,
    SHARE_TIMEOUT,
    Login,
    decide_login,
    decide_logins,
    ensure_index,
    open_share_link,
    serve,
    start,
)
from rag.chat.page import STREAM_DELAY, build_app
from rag.chat.render import (
    STREAM_WORDS,
    Example,
    chat_history,
    example_questions,
    inert,
    library_html,
    sources_html,
    stream_prefixes,
    turn_messages,
)
from rag.chat.service import MAX_K, ChatService, report_dict
from rag.chat.uploads import ALLOWED_UPLOADS, safe_upload_name, store_upload

__all__ = [
    "ALLOWED_UPLOADS",
    "CSS",
    "DEFAULT_USER",
    "MAX_K",
    "SAMPLE_DIR",
    "SHARE_LIFETIME",
    "SHARE_TIMEOUT",
    "STREAM_DELAY",
    "STREAM_WORDS",
    "ChatService",
    "Example",
    "Login",
    "build_app",
    "chat_history",
    "decide_login",
    "decide_logins",
    "ensure_index",
    "example_questions",
    "inert",
    "library_html",
    "open_share_link",
    "report_dict",
    "safe_upload_name",
    "serve",
    "sources_html",
    "start",
    "store_upload",
    "stream_prefixes",
    "turn_messages",
]
