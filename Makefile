# `make sheet` builds the French correction sheet (PDF) into build/; `make test` runs the tests.
# Both create the virtual environment .venv on first use.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: sheet docs test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

sheet: $(STAMP)
	$(BIN)/derive sheet --lang fr --format md,tex,pdf --out build

# The rendered Markdown sheets and their figures, committed for readers (a test fails when stale).
docs: $(STAMP)
	$(BIN)/derive sheet --lang fr --format md --out docs
	$(BIN)/derive sheet --lang en --format md --out docs

test: $(STAMP)
	$(BIN)/python -m pytest -q

clean:
	rm -rf build .derive-cache
