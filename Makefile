# Two entry points work on a fresh clone with only Python 3.11+ and make:
#   make demo   grade submissions_example/ into reports/
#   make test   run the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test test-quick lint validate clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	# An editable install leaves the package uncompiled, and where bytecode is not
	# written (PYTHONDONTWRITEBYTECODE) every process would compile it anew: compile it
	# once, as installing a wheel does.
	$(BIN)/python -m compileall -q grader
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/grader grade submissions_example/ --rubric rubrics/hw2.toml --out reports/

validate: $(STAMP)
	$(BIN)/grader validate rubrics/hw2.toml

test: $(STAMP)
	$(BIN)/python -m pytest

test-quick: $(STAMP)
	$(BIN)/python -m pytest -m "not kernel"

lint: $(STAMP)
	$(BIN)/ruff check grader tests reference benchmarks
	$(BIN)/mypy

clean:
	rm -rf $(VENV) reports .pytest_cache .mypy_cache .ruff_cache
