# Two commands matter: `make demo` and `make test`. Each makes .venv if it is missing
# and installs what it needs into it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test check clean bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test,postgres]'
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/awareness demo

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

check: $(VENV)/.installed-test
	$(BIN)/awareness profiles check profiles

# Issue 7: the national-scale benchmark (30 minutes or more on a 2-core machine; not part of
# `make test` or CI). Needs ../shared/tools/feedfarm.py; writes bench/results/<date>.md and .json.
# BENCH_ARGS=--quick runs it at a tenth of the size.
bench: $(VENV)/.installed-test
	$(BIN)/python bench/national.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache
