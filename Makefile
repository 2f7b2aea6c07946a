# The workshop's front door. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PROTOC_VENV := .venv-protoc
CHECKS_VENV := .venv-checks
GENERATED := statefun-functions/entities_pb2.py simulator/entities_pb2.py statefun-functions/entities_pb2.pyi \
	simulator/entities_pb2.pyi
SERVICE ?=

.PHONY: k8s check-k8s help setup check lint format typecheck test test-unit test-e2e test-faults test-docker docker-ready docker-down-engine proto check-generated check-docker images check-images bench-setup bench bench-short lock up down fresh status logs restart stop clean

help:
	@echo "make setup              create .venv with the pinned dependencies"
	@echo "make check              the fast inner loop: lint, format check, types, unit tests (under a minute)"
	@echo "make format             apply ruff's formatting and its safe lint fixes"
	@echo "make lint | typecheck   ruff (lint + format check) | mypy, each alone"
	@echo "make test               everything CI runs: generated code check, unit tests, end-to-end tests"
	@echo "make test-unit          the functions and simulator tests only (seconds, no runtime)"
	@echo "make test-e2e           the end-to-end and fault suites on the real runtime (minutes)"
	@echo "make test-faults        only the fault suite: crashes under load, poison input, upgrade"
	@echo "make test-docker        the Docker workshop for real: docker compose up, faults, savepoint (minutes)"
	@echo "eval \"\$$(make -s docker-ready)\""
	@echo "                        a Docker engine, Compose v2 and the images (stand-ins where no registry answers)"
	@echo "make docker-down-engine stop the Docker engine docker-ready started (never any other)"
	@echo "make up [SAVEPOINT=..] [FUNCTIONS=..] [PARALLELISM=2 [PARTITIONS=2] [TASKMANAGERS=N]]"
	@echo "                        run the whole workshop locally, without Docker (FUNCTIONS: another statefun-functions folder)"
	@echo "make down | status | logs [SERVICE=..] | restart SERVICE=.. | stop SERVICE=.."
	@echo "make fresh              forget the checkpoints: the next start (either mode) begins with empty state"
	@echo "make bench | bench-short  the benchmarks of BENCHMARKS.md (~50 min | ~3 min); make bench-setup: their venvs"
	@echo "make proto              regenerate the Python code (and type stubs) of protobuf/entities.proto"
	@echo "make check-generated | check-images | check-docker"
	@echo "                        generated code, architecture.svg and Docker files up to date and valid"
	@echo "make k8s | check-k8s    render k8s/'s generated files | check them and validate k8s/ offline"
	@echo "make images             re-render images/architecture.svg from its Graphviz source"
	@echo "make lock               rewrite constraints.txt from .venv"
	@echo "make exercise [NAME=..]  the exercises, one per line; with NAME, put its starting point in place"
	@echo "make check-exercise NAME=.. [UPGRADE=1]  check your work, with a hint for each check that fails"
	@echo "make solution NAME=.. [RESTORE=1]  show the reference answer; RESTORE=1 puts it back (your attempt stashed)"
	@echo "make mutation [MODULES=main.py ..] [JOBS=2]  mutation testing of statefun-functions/ (long: run it under nice)"
	@echo "make clean              remove the venvs and caches this Makefile made"

# uv, for its resolver override: the StateFun SDK declares protobuf<4, python-worker runs the
# patched protobuf on upb instead (statefun-functions/protobuf-override.txt says why).
UV_VERSION := 0.13.9
$(VENV)/.installed: requirements-dev.txt constraints.txt statefun-functions/requirements.txt statefun-functions/protobuf-override.txt simulator/requirements.txt
	@command -v $(PYTHON) >/dev/null || { echo "needs $(PYTHON) (set PYTHON=/path/to/python3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet uv==$(UV_VERSION)
	$(VENV)/bin/uv pip install --quiet --python $(PY) -r requirements-dev.txt -c constraints.txt \
		--override statefun-functions/protobuf-override.txt
	touch $@

setup: $(VENV)/.installed

test: check-generated check-docker check-images check-k8s bench-setup lint typecheck test-unit test-e2e test-docker bench-short

# The inner loop: all of it runs in well under a minute.
check: lint typecheck
	$(PY) -m pytest -q -m "not e2e and not docker and not slow"

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Each folder is a program of its own (both have an entities_pb2), so each is checked alone.
typecheck: setup
	MYPYPATH=statefun-functions $(VENV)/bin/mypy statefun-functions
	MYPYPATH=simulator $(VENV)/bin/mypy simulator

test-unit: setup
	$(PY) -m pytest -m "not e2e and not docker"

test-e2e: setup $(PROTOC_VENV)/.installed  # the upgrade tests compile a newer entities.proto
	$(PY) -m pytest -m e2e -s --durations=12  # -s: the launcher's progress and each test's counts, as they happen

test-faults: setup $(PROTOC_VENV)/.installed
	$(PY) -m pytest -m faults -s

# Brings up its own engine through docker-ready when it must, and leaves nothing running.
test-docker: setup
	$(PY) -m pytest -m docker -s --durations=12  # the slowest tests named: where the suite's time goes

# --- Docker: engine, Compose and images (docker/ready.py) -------------------------------------

docker-ready:
	@$(PYTHON) docker/ready.py up

docker-down-engine:
	@$(PYTHON) docker/ready.py down-engine

# --- generated code -----------------------------------------------------------

$(PROTOC_VENV)/.installed: tools/requirements-protoc.txt
	$(PYTHON) -m venv $(PROTOC_VENV)
	$(PROTOC_VENV)/bin/pip install --quiet -r tools/requirements-protoc.txt
	touch $@

proto: $(PROTOC_VENV)/.installed
	$(PROTOC_VENV)/bin/python -m grpc_tools.protoc -I protobuf \
		--python_out=statefun-functions --python_out=simulator \
		--pyi_out=statefun-functions --pyi_out=simulator protobuf/entities.proto

check-generated: proto
	@git diff --exit-code -- $(GENERATED) || { echo "generated code is stale: run 'make proto' and commit"; exit 1; }

# --- Docker files and the architecture picture (checked here, where no Docker engine runs) --

$(CHECKS_VENV)/.installed: tools/requirements-checks.txt
	$(PYTHON) -m venv $(CHECKS_VENV)
	$(CHECKS_VENV)/bin/pip install --quiet -r tools/requirements-checks.txt
	touch $@

# docker-compose.yml against the Compose Specification, the Dockerfiles with hadolint.
check-docker: $(CHECKS_VENV)/.installed
	$(CHECKS_VENV)/bin/python tools/check_compose.py

# k8s/: the ConfigMap and image tags generated from their one source each (tools/render_k8s.py),
# and every manifest against the Kubernetes API schemas of an older and the newest release.
K8S_VERSIONS := 1.31.0 1.37.0
K8S_MANIFESTS := $(filter-out k8s/kustomization.yaml,$(wildcard k8s/*.yaml))

k8s:
	$(PYTHON) tools/render_k8s.py

check-k8s: $(CHECKS_VENV)/.installed
	@rendered=$$(mktemp -d) && $(PYTHON) tools/render_k8s.py $$rendered \
		&& diff -u k8s/runtime-config.yaml $$rendered/runtime-config.yaml \
		&& diff -u k8s/kustomization.yaml $$rendered/kustomization.yaml \
		|| { echo "k8s/ is stale: run 'make k8s' and commit"; exit 1; }
	@for version in $(K8S_VERSIONS); do \
		$(CHECKS_VENV)/bin/kubernetes-validate --strict --quiet -k $$version $(K8S_MANIFESTS) || exit 1; \
	done
	@echo "k8s/: up to date, valid for Kubernetes $(K8S_VERSIONS)"

# Graphviz's generator comment names its version: drop it so the SVG is reproducible.
SVG_OF_DOT = set -o pipefail; dot -Tsvg images/architecture.dot | sed -e '/^<!-- Generated by graphviz/{/-->/!N;d;}'
NEEDS_DOT = @command -v dot >/dev/null || { echo "needs Graphviz: apt-get install graphviz fonts-dejavu-core"; exit 1; }

images:
	$(NEEDS_DOT)
	$(SVG_OF_DOT) > images/architecture.svg

check-images:
	$(NEEDS_DOT)
	@$(SVG_OF_DOT) | cmp -s - images/architecture.svg || { echo "images/architecture.svg is stale: run 'make images' and commit"; exit 1; }

lock: setup
	{ echo "# Exact versions of everything requirements-dev.txt pulls in (make lock rewrites it)."; \
	  $(PY) -m pip freeze --exclude-editable | grep -v '^uv=='; } > constraints.txt

# --- benchmarks (BENCHMARKS.md) ------------------------------------------------------------
# bench/.venv-fast is python-worker on protobuf's upb backend (uv's resolver override of the
# SDK's protobuf<4 pin), for the benchmarks and the equivalence test; wrk comes from apt.

bench-setup: setup
	bench/run.sh setup

bench: setup
	bench/run.sh full

bench-short: setup
	bench/run.sh short

# --- the workshop without Docker -----------------------------------------------

up: setup
	$(PY) local/workshop.py up $(if $(SAVEPOINT),--savepoint $(SAVEPOINT)) $(if $(FUNCTIONS),--functions $(FUNCTIONS)) \
		$(if $(TASKMANAGERS),--taskmanagers $(TASKMANAGERS)) $(if $(PARALLELISM),--parallelism $(PARALLELISM)) \
		$(if $(PARTITIONS),--partitions $(PARTITIONS))

down status:
	$(PY) local/workshop.py $@

logs:
	$(PY) local/workshop.py logs --follow $(SERVICE)

# Both modes: every start resumes the newest checkpoint (statefun-runtime/last-state.sh), so
# empty state is asked for. Needs nothing but bash: the Docker path has no .venv.
fresh:
	@bash statefun-runtime/last-state.sh --forget checkpoint-dir

restart stop:
	@test -n "$(SERVICE)" || { echo "usage: make $@ SERVICE=python-worker"; exit 2; }
	$(PY) local/workshop.py $@ $(SERVICE)

# --- exercises: starting points, checks, answers (exercises/exercise.py says how) ---------

NAME ?=
.PHONY: exercise check-exercise solution

exercise:
	@$(PYTHON) exercises/exercise.py $(if $(NAME),start $(NAME),list)

check-exercise: setup
	@test -n "$(NAME)" || { echo "usage: make check-exercise NAME=<one of \`make exercise\`> [UPGRADE=1]"; exit 2; }
	@PYTHONPATH=statefun-functions:simulator:tests:tests/e2e $(PY) exercises/exercise.py check $(NAME) \
		$(if $(UPGRADE),--upgrade)

solution:
	@test -n "$(NAME)" || { echo "usage: make solution NAME=<one of \`make exercise\`> [RESTORE=1]"; exit 2; }
	@$(PYTHON) exercises/exercise.py solution $(NAME) $(if $(RESTORE),--restore)

# --- mutation testing (tools/mutation/run.py says how; not part of `make test`) ------------
# .venv-mutation is .venv (the same uv, override and constraints) plus cosmic-ray.

MUTATION_VENV := .venv-mutation
MODULES ?=
JOBS ?= 1
.PHONY: mutation

$(MUTATION_VENV)/.installed: requirements-dev.txt constraints.txt statefun-functions/requirements.txt statefun-functions/protobuf-override.txt simulator/requirements.txt tools/requirements-mutation.txt
	@command -v $(PYTHON) >/dev/null || { echo "needs $(PYTHON) (set PYTHON=/path/to/python3.11)"; exit 1; }
	$(PYTHON) -m venv $(MUTATION_VENV)
	$(MUTATION_VENV)/bin/python -m pip install --quiet uv==$(UV_VERSION)
	$(MUTATION_VENV)/bin/uv pip install --quiet --python $(MUTATION_VENV)/bin/python -r requirements-dev.txt \
		-r tools/requirements-mutation.txt -c constraints.txt --override statefun-functions/protobuf-override.txt
	touch $@

mutation: $(MUTATION_VENV)/.installed
	$(MUTATION_VENV)/bin/python tools/mutation/run.py --jobs $(JOBS) $(MODULES)

clean:
	rm -rf $(VENV) $(PROTOC_VENV) $(CHECKS_VENV) $(MUTATION_VENV) bench/.venv-fast bench/.venv-pinned .pytest_cache .mypy_cache .ruff_cache
