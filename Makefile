# trailguard.cloudtrail_cmk: the two commands that matter are `make demo` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
REQS := requirements/runtime.txt requirements/lab.txt requirements/test.txt requirements/constraints.txt
export PYTHONPATH := $(CURDIR)/tests
export ANSIBLE_COLLECTIONS_PATH := $(shell $(PYTHON) tests/paths.py)
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
PYTEST_WORKERS ?= 2

.PHONY: help venv lab demo test lint ruff ansible-lint check-docs sanity unit lab-tests integration changelog-lint bench constraints clean

help:
	@echo "make demo   - set up .venv, start the local AWS lab with the demo estate, run the flow, write out/"
	@echo "make test   - everything CI checks (ruff, ansible-lint, ansible-test sanity, all pytest suites)"
	@echo "make lab    - run the lab in the foreground with the demo estate and print its environment"
	@echo "make bench  - benchmark the assessment on the bench estate"

$(STAMP): $(REQS)
	@command -v ssh-keygen >/dev/null || { echo "installing openssh-client (ssh-keygen signs consent records)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-client; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -c requirements/constraints.txt \
		-r requirements/runtime.txt -r requirements/lab.txt -r requirements/test.txt
	touch $@

venv: $(STAMP)

lab: $(STAMP)
	$(PY) -m lab serve --estate demo

demo: $(STAMP)
	$(PY) scripts/demo.py

test: $(STAMP)
	$(MAKE) lint check-docs sanity unit lab-tests integration changelog-lint

lint: ruff ansible-lint

ruff: $(STAMP)
	$(VENV)/bin/ruff check .

ansible-lint: $(STAMP)
	$(VENV)/bin/ansible-lint --profile production --offline

# Roles' defaults agree with their argument specs; docs/reference/ is regenerated from the code.
check-docs: $(STAMP)
	$(PY) scripts/check_role_specs.py
	$(PY) scripts/gen_docs.py --check

sanity: $(STAMP)
	bash tests/sanity/run.sh

# One pytest suite. Only a suite directory that does not exist yet or has no test files is skipped
# (pytest would exit 5); test files that collect nothing, or any failure, still fail.
pytest_suite = if [ -n "$$(find $(1) -name 'test_*.py' -o -name '*_test.py' 2>/dev/null | head -n 1)" ]; then \
		$(PY) -m pytest -n $(PYTEST_WORKERS) $(1); else echo "$(1): no test files yet, skipped"; fi

unit: $(STAMP)
	$(call pytest_suite,tests/unit)

lab-tests: $(STAMP)
	$(call pytest_suite,tests/lab_tests)

integration: $(STAMP)
	$(call pytest_suite,tests/integration)

changelog-lint: $(STAMP)
	$(VENV)/bin/antsibull-changelog lint

bench: $(STAMP)
	$(PY) scripts/bench.py

constraints: $(STAMP)
	{ echo "# Full transitive pins, regenerated with 'make constraints'. Installed with -c."; \
	  $(PY) -m pip freeze --exclude-editable; } > requirements/constraints.txt

clean:
	rm -rf out trailguard-out tests/output .pytest_cache .ruff_cache
