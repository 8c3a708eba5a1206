# The two Quickstart commands. Each creates (or reuses) .venv and installs what it needs first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[engine,dev]"
	touch $(STAMP)

# scribe's main job end to end on the embedded defaults (embedded engine, local stores).
demo: $(STAMP)
	SCRIBE_ENGINE=embedded $(BIN)/scribe doctor
	SCRIBE_ENGINE=embedded $(BIN)/scribe ask "In two sentences: why do payment APIs need idempotency keys?" --seed 42 --num-predict 96
	$(BIN)/scribe log -n 5

test: $(STAMP)
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) .scribe .pytest_cache .hypothesis
