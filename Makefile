# Two commands do all set-up on a fresh machine (Python 3.11 + pip):
#   make demo   -> local venv, install, run the tour of every pillar on built-in defaults
#   make test   -> local venv, install with test extras, run the test suite
PY ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
JOBS ?= 2

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

.PHONY: install demo test lint matrix
install: $(VENV)/.installed

demo: install
	$(BIN)/physlearning tour

test: install
	$(BIN)/python -m pytest -q -n $(JOBS) --dist loadfile

lint: install
	$(BIN)/ruff check src tests

matrix: install
	$(BIN)/physlearning matrix
