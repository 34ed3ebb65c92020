# The two set-up commands: `make run` (the system on its embedded default) and `make test`.
# Both create a virtualenv in .venv and install what they need into it, redis-server included.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
REDIS_PY_TESTS := $(VENV)/redis-py-tests

.PHONY: run test lint typecheck deploy-check unit integration dev clients clean

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

# The client suites (tests/clients): their Python packages in a virtualenv of their own (so
# that their pytest plugins stay out of the project's runs), with the project's redis-py release;
# Django's and Flask-Caching's sdists, which ship their tests; the Node.js clients from the
# committed lockfile.
CLIENTS_VENV := $(VENV)/clients
CLIENT_SOURCES := $(VENV)/client-sources
NODE_CLIENTS := tests/clients/node
DJANGO := django==5.2.19
FLASK_CACHING := flask-caching==2.5.1

$(CLIENTS_VENV)/.installed: $(STAMP)
	rm -rf $(CLIENTS_VENV)
	$(BIN)/python -m venv $(CLIENTS_VENV)
	$(CLIENTS_VENV)/bin/pip install --quiet \
		"redis==$$($(BIN)/python -c 'import redis; print(redis.__version__)')" hiredis \
		"$(DJANGO)" "$(FLASK_CACHING)" "flask[async]" \
		pytest pytest-asyncio pytest-timeout pytest-xprocess
	touch $@

$(CLIENT_SOURCES)/.unpacked: $(STAMP)
	rm -rf $(CLIENT_SOURCES) && mkdir -p $(CLIENT_SOURCES)
	$(BIN)/pip download --quiet --no-deps --no-binary :all: --dest $(CLIENT_SOURCES) \
		"$(DJANGO)" "$(FLASK_CACHING)"
	for sdist in $(CLIENT_SOURCES)/*.tar.gz; do tar -xzf $$sdist -C $(CLIENT_SOURCES); done
	touch $@

$(NODE_CLIENTS)/node_modules/.package-lock.json: $(NODE_CLIENTS)/package-lock.json
	cd $(NODE_CLIENTS) && npm ci --no-audit --no-fund --loglevel=error

# Each suite on a reference server and through a proxy over three replicas, compared.
clients: dev $(CLIENTS_VENV)/.installed $(CLIENT_SOURCES)/.unpacked \
		$(NODE_CLIENTS)/node_modules/.package-lock.json
	$(BIN)/pytest -m clients tests/clients

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

# The deploy files, offline (no Docker engine or cluster needed): the Dockerfile's lint, the
# compose file against the Compose specification, the manifests against Kubernetes' schemas.
K8S_VERSION := 1.33.0
deploy-check: dev
	$(BIN)/hadolint docker/Dockerfile
	$(BIN)/check-jsonschema --builtin-schema vendor.compose-spec docker/compose.yaml
	$(BIN)/kubernetes-validate --strict --quiet --kubernetes-version $(K8S_VERSION) docker/k8s/*.yaml

unit: dev
	$(BIN)/pytest -m "not integration"

integration: dev
	$(BIN)/pytest -m "integration and not clients"

# Two workers: every test starts its own servers on free ports, so tests share nothing.
test: lint typecheck deploy-check
	$(BIN)/pytest -n 2

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .pytest_cache .ruff_cache
