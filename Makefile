# The whole developer set-up: `make run` and `make test` (see README.md).
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install run test bench lint schemas clean

install:
	@bash deploy/local/install.sh

run: install
	@$(PY) -m deploy.local.run

# The suite runs in TEST_WORKERS processes (pytest-xdist), each with its own stack of servers;
# `auto`: three for every two cores, at most 8, as many as the memory holds (tests/conftest.py).
TEST_WORKERS ?= auto

test: install
	@$(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

# Benchmarks (figures, never pass/fail): wrk is the load generator.
bench: install
	@command -v wrk >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq; $$SUDO apt-get install -y -qq --no-install-recommends wrk >/dev/null; }
	@$(PY) -m bench

lint: install
	@$(VENV)/bin/ruff check .

schemas: install
	@$(PY) -m topics.registry

clean:
	rm -rf data .pytest_cache
