# `make sheet` builds the French correction sheet (PDF) into build/; `make test` runs the tests
# (`make test-fast` leaves out the slow ones, `make lint` runs ruff). All create .venv on first use.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: sheet docs test test-fast lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# docs/evidence holds the experiment and certificate results behind docs/: copied into the cache
# (without overwriting), they spare a fresh clone the long runs while the code is unchanged.
SEED_CACHE := mkdir -p .derive-cache && cp -Rn docs/evidence/. .derive-cache/ 2>/dev/null || true

sheet: $(STAMP)
	$(SEED_CACHE)
	$(BIN)/derive sheet --lang fr --format md,tex,pdf --out build

# The rendered Markdown sheets, their figures and evidence, committed for readers (a test fails when stale).
docs: $(STAMP)
	$(SEED_CACHE)
	rm -rf docs/figures docs/evidence  # seeded into the cache above; the builds write back what they quote
	$(BIN)/derive sheet --lang fr --format md --out docs --evidence docs/evidence
	$(BIN)/derive sheet --lang en --format md --out docs --evidence docs/evidence

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf build .derive-cache
