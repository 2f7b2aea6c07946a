# The workshop's front door. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PROTOC_VENV := .venv-protoc
GENERATED := statefun-functions/entities_pb2.py simulator/entities_pb2.py
SERVICE ?=

.PHONY: help setup test test-unit test-e2e proto check-generated lock up down status logs restart clean

help:
	@echo "make setup              create .venv with the pinned dependencies"
	@echo "make test               everything CI runs: generated code check, unit tests, end-to-end tests"
	@echo "make test-unit          the functions and simulator tests only (seconds, no runtime)"
	@echo "make up [SAVEPOINT=..]  run the whole workshop locally, without Docker"
	@echo "make down | status | logs [SERVICE=..] | restart SERVICE=.."
	@echo "make proto              regenerate the Python code of protobuf/entities.proto"

$(VENV)/.installed: requirements-dev.txt constraints.txt statefun-functions/requirements.txt simulator/requirements.txt
	@command -v $(PYTHON) >/dev/null || { echo "needs $(PYTHON) (set PYTHON=/path/to/python3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements-dev.txt -c constraints.txt
	touch $@

setup: $(VENV)/.installed

test: check-generated test-unit test-e2e

test-unit: setup
	$(PY) -m pytest -m "not e2e"

test-e2e: setup
	$(PY) -m pytest -m e2e

# --- generated code -----------------------------------------------------------

$(PROTOC_VENV)/.installed: tools/requirements-protoc.txt
	$(PYTHON) -m venv $(PROTOC_VENV)
	$(PROTOC_VENV)/bin/pip install --quiet -r tools/requirements-protoc.txt
	touch $@

proto: $(PROTOC_VENV)/.installed
	$(PROTOC_VENV)/bin/python -m grpc_tools.protoc -I protobuf \
		--python_out=statefun-functions --python_out=simulator protobuf/entities.proto

check-generated: proto
	@git diff --exit-code -- $(GENERATED) || { echo "generated code is stale: run 'make proto' and commit"; exit 1; }

lock: setup
	{ echo "# Exact versions of everything requirements-dev.txt pulls in (make lock rewrites it)."; \
	  $(PY) -m pip freeze --exclude-editable; } > constraints.txt

# --- the workshop without Docker -----------------------------------------------

up: setup
	$(PY) local/workshop.py up $(if $(SAVEPOINT),--savepoint $(SAVEPOINT))

down status:
	$(PY) local/workshop.py $@

logs:
	$(PY) local/workshop.py logs $(SERVICE)

restart:
	@test -n "$(SERVICE)" || { echo "usage: make restart SERVICE=python-worker"; exit 2; }
	$(PY) local/workshop.py restart $(SERVICE)

clean:
	rm -rf $(VENV) $(PROTOC_VENV) .pytest_cache
