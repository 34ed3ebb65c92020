# The two set-up commands: `make run` (the system on its embedded default) and `make test`.
# Both create a virtualenv in .venv and install what they need into it, redis-server included.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
REDIS_PY_TESTS := $(VENV)/redis-py-tests

.PHONY: run test lint typecheck unit integration dev clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/pip install --quiet -e '.[test]' --config-settings editable_mode=strict
	touch $(STAMP)

# redis-py's own test suite, of the installed release (its sdist ships it): the integration
# tests run its tests of the served commands through the proxy.
$(REDIS_PY_TESTS)/.unpacked: $(STAMP)
	rm -rf $(REDIS_PY_TESTS) && mkdir -p $(REDIS_PY_TESTS)
	$(BIN)/pip download --quiet --no-deps --no-binary :all: --dest $(REDIS_PY_TESTS) \
		"redis==$$($(BIN)/python -c 'import redis; print(redis.__version__)')"
	tar -xzf $(REDIS_PY_TESTS)/redis-*.tar.gz -C $(REDIS_PY_TESTS)
	touch $@

# The editable install links each module file; re-linking picks up modules added since.
dev: $(STAMP) $(REDIS_PY_TESTS)/.unpacked
	$(BIN)/pip install --quiet --no-deps -e . --config-settings editable_mode=strict

run: dev
	$(BIN)/leaderless up

lint: dev
	$(BIN)/ruff check proxy replication config tests bench
	$(BIN)/ruff format --check proxy replication config tests bench

typecheck: dev
	$(BIN)/mypy

unit: dev
	$(BIN)/pytest -m "not integration"

integration: dev
	$(BIN)/pytest -m integration

# Two workers: every test starts its own servers on free ports, so tests share nothing.
test: lint typecheck
	$(BIN)/pytest -n 2

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .pytest_cache .ruff_cache
