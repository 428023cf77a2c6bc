# The whole developer set-up: `make run` and `make test` (see README.md).
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install run test lint schemas clean

install:
	@bash deploy/local/install.sh

run: install
	@$(PY) -m deploy.local.run

test: install
	@$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	@$(VENV)/bin/ruff check .

schemas: install
	@$(PY) -m topics.registry

clean:
	rm -rf data .pytest_cache
