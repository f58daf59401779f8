# pollbridge: `make demo` runs the main job locally, `make test` runs every test.
# Each target creates what it needs (virtual environments, packages) by itself.

PYTHON313 ?= $(shell command -v python3.13 >/dev/null 2>&1 && PYENV_VERSION=3.13.0 python3.13 -c 'import sys; print(sys.executable)' 2>/dev/null || echo python3.13)
PY313_BIN := $(dir $(PYTHON313))
VENV := .venv
SAM_VENV := .venv-sam
SCAN_VENV := .venv-scan
PY := $(VENV)/bin/python
SAM := $(SAM_VENV)/bin/sam
# Every virtual environment installs a lock pinned with hashes (`make lock` writes them from *.in).
PIP_INSTALL := -m pip install --quiet --require-hashes
LOCK := $(VENV)/bin/uv pip compile --quiet --generate-hashes --python-version 3.13 \
        --python-platform x86_64-manylinux_2_28 --custom-compile-command "make lock" $(LOCK_FLAGS)
export SAM_CLI_TELEMETRY := 0
export PYENV_VERSION := 3.13.0

TASKS ?= 5
SPEED ?= 600
CHAOS_TASKS ?= 1000
MODE ?= eventbridge
TOOLKIT ?= v0.2
PROVIDER ?= http

.PHONY: help venv sam-venv scan-venv demo load chaos burst capacity test unit integration template e2e lint typecheck scan check \
        build validate lock localcloud invoke-segment invoke-poll bench bench-scaling load-10k clean engine

help:
	@echo "make demo        run the main job: tasks through the real handlers on the local cloud (TASKS=, SPEED=,"
	@echo "                 PROVIDER=http|transcribe|rekognition-text; MODE=platform: the platform schedules"
	@echo "                 the polls and posts them to the webhook; MODE=aiware: an aiWARE stand-in runs them"
	@echo "                 through the engine toolkit's calls, engine/forwarder.py and a local Function URL;"
	@echo "                 TOOLKIT=v0.2|v3)"
	@echo "make test        every test: unit, integration, template, end to end"
	@echo "make load        1,000 tasks on the local cloud, the benchmark in BENCHMARKS.md"
	@echo "make bench       the benchmarks of BENCHMARKS.md (timing, cold start, warm); make bench-scaling: 1k and 10k tasks"
	@echo "make chaos       1,000 tasks with every fault at once, invariants checked (CHAOS_TASKS=)"
	@echo "make burst       5,000 tasks within a minute against a vendor admitting 50 jobs: the summary (BURST_ARGS=)"
	@echo "make capacity    the capacity model: which AWS quota binds first, at how many tasks a day (docs/capacity.md;"
	@echo "                 ARGS=\"--tasks-per-day N --media-mix main|short-clips|long-queues|SECONDS --provider ...\")"
	@echo "make localcloud  keep a local cloud running for devtools.invoke / devtools.ops"
	@echo "make check       ruff + mypy + scan;  make scan: cfn-lint (with serverless rules) and checkov on the template"
	@echo "make build       sam build;  make validate: sam validate --lint"
	@echo "make engine      the aiWARE engine image pollbridge-engine:<PROVIDER> (engine/: Veritone's toolkit and the"
	@echo "                 forwarder to the webhook; PROVIDER=http|transcribe|rekognition-text picks the manifest; needs Docker)"
	@echo "make lock        regenerate the hashed locks from requirements/*.in and layers/common/requirements.in"
	@echo "                 (keeps current pins where it can; LOCK_FLAGS=--upgrade takes the newest)"

# requirements/dev.txt holds the layer's runtime lock too (layers/common/requirements.txt is its subset).
$(VENV)/.installed: requirements/dev.txt
	rm -rf $(VENV)
	$(PYTHON313) -m venv $(VENV)
	$(PY) $(PIP_INSTALL) -r requirements/dev.txt
	echo "$(CURDIR)/layers/common" > $$($(PY) -c 'import sysconfig; print(sysconfig.get_path("purelib"))')/pollbridge-layer.pth
	touch $@

$(SAM_VENV)/.installed: requirements/sam.txt
	rm -rf $(SAM_VENV)
	$(PYTHON313) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python $(PIP_INSTALL) -r requirements/sam.txt
	touch $@

$(SCAN_VENV)/.installed: requirements/scan.txt
	rm -rf $(SCAN_VENV)
	$(PYTHON313) -m venv $(SCAN_VENV)
	$(SCAN_VENV)/bin/python $(PIP_INSTALL) -r requirements/scan.txt
	touch $@

venv: $(VENV)/.installed
sam-venv: $(SAM_VENV)/.installed
scan-venv: $(SCAN_VENV)/.installed

demo: venv
	$(PY) -m devtools.demo --tasks $(TASKS) --speed $(SPEED) --mode $(MODE) --provider $(PROVIDER) --toolkit $(TOOLKIT)

load: venv
	$(PY) -m devtools.demo --tasks 1000 --speed $(SPEED) --arrival-minutes 60

# The same arrival window with ten times the tasks: ten times the work at once (BENCHMARKS.md).
load-10k: venv
	$(PY) -m devtools.demo --tasks 10000 --speed $(SPEED) --arrival-minutes 60

chaos: venv
	$(PY) -m devtools.chaos --tasks $(CHAOS_TASKS)

burst: venv
	$(PY) -m devtools.burst $(BURST_ARGS)

capacity: venv
	$(PY) -m devtools.capacity $(ARGS)

localcloud: venv
	$(PY) -m devtools.serve --aws-port 4566 --vendor-port 8081

invoke-segment: venv
	$(PY) -m devtools.invoke SegmentFunction -e events/segment.json --env-vars events/env.json

invoke-poll: venv
	$(PY) -m devtools.invoke PollFunction -e events/poll.json --env-vars events/env.json

test: venv sam-venv scan-venv
	$(PY) -m pytest

unit: venv
	$(PY) -m pytest tests/unit -q

integration: venv
	$(PY) -m pytest tests/integration -q

template: venv sam-venv scan-venv
	$(PY) -m pytest tests/template -q

e2e: venv sam-venv
	$(PY) -m pytest tests/e2e -q

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: venv
	$(VENV)/bin/mypy

# IaC scanning of template.yaml: findings are fixed in the template or suppressed there, each with a reason.
scan: scan-venv
	$(SCAN_VENV)/bin/cfn-lint --append-rules cfn_lint_serverless.rules -- template.yaml
	$(SCAN_VENV)/bin/checkov --quiet --compact --skip-download --framework cloudformation --file template.yaml

check: lint typecheck scan

# $(call compile_lock,INPUT,LOCK[,more uv arguments]): uv starts from the current pins (a copy of the
# lock) and the lock is replaced only if it changed, so that an unchanged lock reinstalls nothing.
define compile_lock
	cp $(2) $(2).new
	$(LOCK) $(1) $(3) -o $(2).new
	if cmp -s $(2).new $(2); then rm $(2).new; else mv $(2).new $(2); fi
endef

# The dev lock is compiled first; the layer's lock is its subset (same versions as the tests use).
lock: venv
	$(call compile_lock,requirements/dev.in,requirements/dev.txt)
	$(call compile_lock,layers/common/requirements.in,layers/common/requirements.txt,--constraint requirements/dev.txt)
	$(call compile_lock,requirements/sam.in,requirements/sam.txt)
	$(call compile_lock,requirements/scan.in,requirements/scan.txt)

validate: sam-venv
	$(SAM) validate --lint

build: sam-venv
	PATH="$(PY313_BIN):$$PATH" $(SAM) build

# The aiWARE engine image (engine/README.md); its manifest follows PROVIDER.
ENGINE_MANIFEST = $(if $(filter http,$(PROVIDER)),manifest.json,manifests/$(PROVIDER).json)

engine:
	@test -f engine/$(ENGINE_MANIFEST) || { echo "make engine: no engine/$(ENGINE_MANIFEST) for PROVIDER=$(PROVIDER) (http, transcribe or rekognition-text)" >&2; exit 1; }
	@docker info >/dev/null 2>&1 || { echo "make engine: Docker is not available ('docker info' failed): start Docker, or build where it runs" >&2; exit 1; }
	docker build -t pollbridge-engine:$(PROVIDER) --build-arg MANIFEST=$(ENGINE_MANIFEST) engine/

# Benchmarks (BENCHMARKS.md): the timing simulation, cold start and warm polls; the local cloud at scale.
bench: venv
	$(PY) -m devtools.bench timing coldstart --write

bench-scaling: venv
	$(PY) -m devtools.bench scaling --write

clean:
	rm -rf $(VENV) $(SAM_VENV) $(SCAN_VENV) .aws-sam .localcloud .pytest_cache .mypy_cache .ruff_cache
