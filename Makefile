# Two commands matter: `make demo` and `make test`. Each makes .venv if it is missing
# and installs what it needs into it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test test-any-date check clean bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test,postgres,semantic]'
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/awareness demo

# The suite runs on every core (pytest-xdist): its tests wait on real servers and child processes,
# and each has its own tmp folder, ports and PostgreSQL database. TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= auto
test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

check: $(VENV)/.installed-test
	$(BIN)/awareness profiles check profiles

# Issue 7: the national-scale benchmark (30 minutes or more on a 2-core machine; not part of
# `make test` or CI). Needs ../shared/tools/feedfarm.py; writes bench/results/<date>.md and .json.
# BENCH_ARGS=--quick runs it at a tenth of the size.
bench: $(VENV)/.installed-test
	$(BIN)/python bench/national.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache

# The suite on any date (issue 13): every Python process the tests start has its wall clock moved
# 400 days ahead, then 400 days back (tests/anydate/sitecustomize.py). CI runs it after `make test`.
ANY_DATE_SHIFTS ?= 400 -400
test-any-date: $(VENV)/.installed-test
	@for days in $(ANY_DATE_SHIFTS); do \
	  echo "--- the suite with the clock moved $$days days"; \
	  AWARENESS_TEST_CLOCK_SHIFT_DAYS=$$days PYTHONPATH=$(CURDIR)/tests/anydate \
	    $(BIN)/python -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) $(PYTEST_ARGS) || exit 1; \
	done
