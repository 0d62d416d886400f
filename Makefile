# Two entry points: `make demo` and `make test`. Both run the idempotent setup first.
SHELL := /bin/bash
VENV ?= $(CURDIR)/.venv
export MEMSTACK_VENV := $(VENV)

.PHONY: setup demo test lint format clean-build

setup:
	@bash scripts/setup.sh

demo: setup
	@bash scripts/demo.sh

test: setup lint
	@bash scripts/run_tests.sh

lint: setup
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .

format: setup
	@$(VENV)/bin/ruff check --fix .
	@$(VENV)/bin/ruff format .

clean-build:
	rm -rf build install log
