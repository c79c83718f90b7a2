"""The browser chat over your articles: `python app.py [--index DIR] [--port N] [--share]`.

The same as `rag serve`; the app itself lives in the rag.chat package, so the installed `rag`
command can start it too. In Python: `build_app(ChatService(Config())).launch()`.
"""

import sys

from rag.chat import ChatService, build_app
from rag.cli import main

__all__ = ["ChatService", "build_app", "main"]

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))
