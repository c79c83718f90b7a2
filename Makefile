# Two commands on a fresh machine: `make run` (index the sample article, start the app) and
# `make test` (the whole test suite). Both create the virtualenv on first use.

VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench system-deps clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# The CPU build of torch first: any other torch request pulls a multi-GB CUDA build.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

run: $(STAMP)
	$(BIN)/rag index data/sample
	$(BIN)/python app.py

# The browser tests drive Debian's Chromium; install it when it is missing.
system-deps:
	@test -x /usr/bin/chromium || { \
	  echo "Installing chromium for the browser tests (apt)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

test: $(STAMP) system-deps
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check rag tests benchmarks app.py
	$(BIN)/ruff format --check rag tests benchmarks app.py

bench: $(STAMP)
	$(BIN)/python benchmarks/indexing.py
	$(BIN)/python benchmarks/latency.py

clean:
	rm -rf $(VENV) index build *.egg-info
