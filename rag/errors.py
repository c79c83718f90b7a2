"""The project's error types; each message is one sentence: what failed, where, what to do."""


class RagError(Exception):
    """Base class for every error the rag package raises on purpose."""


class IngestError(RagError):
    """A source could not be read or parsed."""


class IndexFormatError(RagError):
    """An index on disk is missing, corrupt, or was built with other settings."""


class ConfigError(RagError):
    """A setting has a value the program cannot use."""


class IndexWriteError(RagError):
    """An index could not be written (disk full, file too large, no permission); the previous
    generation is left live and untouched."""


class VectorStoreError(RagError):
    """The server that holds an index's vectors (Milvus) cannot be reached or refused a request."""


class AccessError(RagError):
    """A login may not do this (change the library), or has sent too much for now."""


class QuestionError(RagError):
    """The question cannot be answered as asked (empty, for instance)."""


class LLMError(RagError):
    """The language model could not be reached or gave no usable reply."""


class UploadError(RagError):
    """An article offered to the library cannot be accepted (type, size, or nothing given)."""
