"""The index on disk: vectors with explicit ids, SQLite for text and offsets, a manifest.

Layout of an index folder:

    index/CURRENT            name of the live generation, replaced atomically
    index/gen-000007/        manifest.json, index.sqlite, keyword matrices, and the vectors:
                             paragraphs.faiss, sentences.faiss (+ paragraphs.hnsw.* when large),
                             or rows in Milvus collections that the manifest names
    index/.lock              held by the one writer at a time

A writer builds the next generation in a temporary folder, renames it into place, then swaps
CURRENT; a crash at any point leaves the previous generation untouched and live.
"""

from rag.store.layout import FORMAT_VERSION, Manifest, current_generation
from rag.store.reader import ArticleInfo, Index, Passage

# The writer needs the parsers and the entity tagger; reading an index (asking) does not, so it is
# imported only when first named: `from rag.store import Writer`.
_LAZY = {"Writer", "sentence_id"}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        from rag.store import writer

        return getattr(writer, name)
    raise AttributeError(f"module 'rag.store' has no attribute {name!r}")


__all__ = [
    "FORMAT_VERSION",
    "ArticleInfo",
    "Index",
    "Manifest",
    "Passage",
    "Writer",
    "current_generation",
    "sentence_id",
]
