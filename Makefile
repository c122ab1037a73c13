# `make run` and `make test` set everything up themselves, starting from a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench messages clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/danvan run

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/pytest bench -p no:cacheprovider -s -q

# After adding or changing user-facing text: extract it, then translate the new entries
# in locale/vi and locale/en (tests fail while any entry is missing).
messages: $(STAMP)
	$(BIN)/pybabel extract --no-location --omit-header -k _ -k N_ -k ngettext:1,2 \
		-o locale/danvan.pot bot handlers storage
	$(BIN)/pybabel update --no-fuzzy-matching --ignore-obsolete -D danvan -i locale/danvan.pot -d locale

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis
