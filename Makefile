# The README's commands. Everything installs itself: pipenv into a private tool folder (.tools),
# the locked dependencies into .venv. Pass job options with ARGS, e.g. `make run ARGS="--dry-run"`.

PYTHON ?= python3
TOOLS := .tools
PIPENV := $(TOOLS)/bin/pipenv
PIPENV_VERSION := 2026.10.3
VENV_STAMP := .venv/.synced
# devpi (conformance tests) has a venv of its own: devpi-common 4 needs a newer packaging than Pipfile.lock pins.
DEVPI := $(TOOLS)/devpi
DEVPI_STAMP := $(DEVPI)/.installed
export THOTH_TEST_DEVPI_BIN ?= $(CURDIR)/$(DEVPI)/bin

export PIPENV_VENV_IN_PROJECT := 1
export PIPENV_IGNORE_VIRTUALENVS := 1
export PIPENV_VERBOSITY := -1
export PIPENV_NOSPIN := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

RUN := $(PIPENV) run
ARGS ?=
PYTEST_ARGS ?=

.PHONY: help bootstrap run psql promtool devpi test test-unit test-integration test-e2e test-faults test-conformance lint bench clean

help:
	@echo "make run        run the job on config/thoth.yaml (embedded database unless one is configured)"
	@echo "make psql       psql on the embedded database that make run wrote (psql options in ARGS)"
	@echo "make test       lint + the whole test suite (what CI runs)"
	@echo "make test-faults  only the fault-matrix tests"
	@echo "make test-conformance  only the tests against real index servers (pypiserver, dumb-pypi, devpi)"
	@echo "make lint       ruff + mypy --strict (package, tests, bench)"
	@echo "make bench      the benchmark (not part of make test)"
	@echo "make bootstrap  install pipenv and the locked dependencies"

$(PIPENV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet "pipenv==$(PIPENV_VERSION)"

$(VENV_STAMP): Pipfile.lock | $(PIPENV)
	$(PIPENV) sync --dev
	touch $@

bootstrap: $(VENV_STAMP)

run: bootstrap
	$(RUN) python3 ./app.py $(ARGS)

# Starts the embedded server when no run keeps it going; --data-dir DIR first in ARGS for another folder.
psql: bootstrap
	$(RUN) python3 -m thoth.package_releases.embedded_psql $(ARGS)

# promtool (Debian's prometheus package) runs the alerts' unit tests. CI runs as root on Debian and must
# have it: there a failed install fails the target. Elsewhere the install is tried with sudo, and when
# that fails the alert tests are skipped (they fail instead under CI=true).
promtool:
	@if ! command -v promtool >/dev/null 2>&1; then \
	  echo "promtool is missing: installing Debian's prometheus package"; \
	  if [ "$$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi; \
	  { $$sudo apt-get update && $$sudo env DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y --no-install-recommends prometheus; } \
	  || { [ "$$CI" != true ] && echo "could not install promtool: the alert tests will be skipped"; }; \
	fi

# devpi-server and devpi-client for the conformance tests, pinned in tests/conformance/devpi-requirements.txt.
# Under CI=true a failed install fails the target (and the devpi tests fail); elsewhere they are skipped.
$(DEVPI_STAMP): tests/conformance/devpi-requirements.txt
	@rm -rf $(DEVPI)
	@{ $(PYTHON) -m venv $(DEVPI) \
	  && $(DEVPI)/bin/pip install --quiet -r tests/conformance/devpi-requirements.txt && touch $@; } \
	  || { [ "$$CI" != true ] && echo "could not install devpi: its conformance tests will be skipped"; }

devpi: $(DEVPI_STAMP)

lint: bootstrap
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy --strict thoth/package_releases tests bench app.py

test: lint promtool devpi
	$(RUN) pytest $(PYTEST_ARGS)

test-unit: bootstrap promtool
	$(RUN) pytest tests/unit $(PYTEST_ARGS)

test-integration: bootstrap
	$(RUN) pytest tests/integration $(PYTEST_ARGS)

test-e2e: bootstrap
	$(RUN) pytest tests/e2e $(PYTEST_ARGS)

test-conformance: bootstrap devpi
	$(RUN) pytest -m conformance $(PYTEST_ARGS)

test-faults: bootstrap
	$(RUN) pytest -m faults $(PYTEST_ARGS)

bench: bootstrap
	$(RUN) python3 bench/run.py $(ARGS)

clean:
	rm -rf $(TOOLS) .venv .pytest_cache .mypy_cache .ruff_cache
