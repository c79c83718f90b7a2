"""Question answering over articles with cited, extractive answers."""

__version__ = "0.1.0"
