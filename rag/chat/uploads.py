"""Uploads: only accepted file types, under a sanitized name inside the upload folder."""

from __future__ import annotations

import os
import re
import secrets
import unicodedata
from pathlib import Path

from rag.errors import UploadError

ALLOWED_UPLOADS = (".txt", ".md", ".html", ".htm", ".pdf", ".jsonl")
# Articles kept in the upload folder; each is at most the size limit, so this bounds its disk use.
MAX_UPLOADS = 1000


def safe_upload_name(name: str) -> str:
    """A name that stays inside the upload folder: safe_upload_name("../../x.txt") == "x.txt"."""
    base = unicodedata.normalize("NFKC", re.split(r"[\\/]", name)[-1])
    stem, suffix = os.path.splitext(base)
    if suffix.lower() not in ALLOWED_UPLOADS:
        raise UploadError(
            f"{name!r} is not an accepted file type; upload one of {' '.join(ALLOWED_UPLOADS)}."
        )
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip(".-_")[:80] or "upload"
    return stem + suffix.lower()


def store_upload(
    upload_dir: Path, name: str, data: bytes, max_bytes: int, *, max_files: int = MAX_UPLOADS
) -> Path:
    """Save uploaded bytes under upload_dir with a sanitized name; returns the stored path.

    Refuses data over max_bytes, and a new name once the folder holds max_files uploads.
    """
    if len(data) > max_bytes:
        raise UploadError(f"{name!r} is larger than the {max_bytes:,}-byte limit; split it first.")
    if not data:
        raise UploadError(f"{name!r} is empty; upload a file with the article's text.")
    folder = Path(upload_dir).resolve()
    target = folder / safe_upload_name(name)
    if target.parent != folder:  # cannot happen after safe_upload_name; checked all the same
        raise UploadError(f"{name!r} would be stored outside {folder}; rename the file.")
    folder.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        kept = sum(1 for p in folder.iterdir() if not p.name.startswith(".") and p.is_file())
        if kept >= max_files:
            raise UploadError(
                f"The upload folder {folder} already holds {kept:,} articles, the most it keeps; "
                "remove some in the Library first."
            )
    partial = target.with_name(f".{target.name}.{secrets.token_hex(4)}.part")
    partial.write_bytes(data)
    partial.replace(target)  # readers never see half a file
    return target
