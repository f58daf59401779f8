# pollbridge: `make demo` runs the main job locally, `make test` runs every test.
# Each target creates what it needs (virtual environments, packages) by itself.

PYTHON313 ?= $(shell command -v python3.13 >/dev/null 2>&1 && PYENV_VERSION=3.13.0 python3.13 -c 'import sys; print(sys.executable)' 2>/dev/null || echo python3.13)
PY313_BIN := $(dir $(PYTHON313))
VENV := .venv
SAM_VENV := .venv-sam
PY := $(VENV)/bin/python
SAM := $(SAM_VENV)/bin/sam
export SAM_CLI_TELEMETRY := 0
export PYENV_VERSION := 3.13.0

TASKS ?= 5
SPEED ?= 600
CHAOS_TASKS ?= 1000

.PHONY: help venv sam-venv demo load test unit integration template e2e lint typecheck check build validate \
        localcloud invoke-segment invoke-poll bench clean chaos

help:
	@echo "make demo        run the main job: tasks through the real handlers on the local cloud (TASKS=, SPEED=)"
	@echo "make test        every test: unit, integration, template, end to end"
	@echo "make load        1,000 tasks on the local cloud, the benchmark in BENCHMARKS.md"
	@echo "make chaos       1,000 tasks with every fault at once, invariants checked (CHAOS_TASKS=)"
	@echo "make localcloud  keep a local cloud running for devtools.invoke / devtools.ops"
	@echo "make check       ruff + mypy;  make build / validate: sam build / sam validate --lint"

$(VENV)/.installed: requirements/dev.txt requirements/runtime.txt layers/common/requirements.txt
	$(PYTHON313) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements/dev.txt
	echo "$(CURDIR)/layers/common" > $$($(PY) -c 'import sysconfig; print(sysconfig.get_path("purelib"))')/pollbridge-layer.pth
	touch $@

$(SAM_VENV)/.installed: requirements/sam.txt
	$(PYTHON313) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/python -m pip install --quiet -r requirements/sam.txt
	touch $@

venv: $(VENV)/.installed
sam-venv: $(SAM_VENV)/.installed

demo: venv
	$(PY) -m devtools.demo --tasks $(TASKS) --speed $(SPEED)

load: venv
	$(PY) -m devtools.demo --tasks 1000 --speed $(SPEED) --arrival-minutes 60

chaos: venv
	$(PY) -m devtools.chaos --tasks $(CHAOS_TASKS)

localcloud: venv
	$(PY) -m devtools.serve --aws-port 4566 --vendor-port 8081

invoke-segment: venv
	$(PY) -m devtools.invoke SegmentFunction -e events/segment.json --env-vars events/env.json

invoke-poll: venv
	$(PY) -m devtools.invoke PollFunction -e events/poll.json --env-vars events/env.json

test: venv sam-venv
	$(PY) -m pytest

unit: venv
	$(PY) -m pytest tests/unit -q

integration: venv
	$(PY) -m pytest tests/integration -q

template: venv sam-venv
	$(PY) -m pytest tests/template -q

e2e: venv sam-venv
	$(PY) -m pytest tests/e2e -q

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: venv
	$(VENV)/bin/mypy

check: lint typecheck

validate: sam-venv
	$(SAM) validate --lint

build: sam-venv
	PATH="$(PY313_BIN):$$PATH" $(SAM) build

bench: load

clean:
	rm -rf $(VENV) $(SAM_VENV) .aws-sam .localcloud .pytest_cache .mypy_cache .ruff_cache
