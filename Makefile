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

# scribe's main job end to end on the embedded defaults (embedded engine, local Chroma store):
# index the sample notes, search them, then outline and critique a draft grounded in them.
DEMO_ENV := SCRIBE_ENGINE=embedded
DRAFT := notes/drafts/idempotency-in-payment-flows.md
demo: $(STAMP)
	$(DEMO_ENV) $(BIN)/scribe doctor
	$(DEMO_ENV) $(BIN)/scribe index
	$(DEMO_ENV) $(BIN)/scribe search "retry charged the card twice" -k 3
	$(DEMO_ENV) $(BIN)/scribe outline $(DRAFT) --model "gemma3:270m@seed=7,num_predict=200"
	$(DEMO_ENV) $(BIN)/scribe critique $(DRAFT) --model "gemma3:270m@seed=7"
	$(BIN)/scribe log -n 5

test: $(STAMP)
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) .scribe .pytest_cache .hypothesis
