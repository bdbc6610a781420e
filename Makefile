# onprem-mlops: `make demo` runs the rollout on a local systemd container, `make test` runs
# every check. Both install what they need (venv, docker.io, dockerd, the test image).
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(abspath $(VENV))/bin
# ssh-audit and sslyze (the security measurements) live apart: sslyze pins an older cryptography.
AUDIT_VENV ?= .venv-audit
AUDIT_BIN := $(abspath $(AUDIT_VENV))/bin
export PATH := $(BIN):$(AUDIT_BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export ANSIBLE_FORCE_COLOR ?= 0
export PY_COLORS ?= 0
export NO_COLOR ?= 1
# Molecule scenarios to run (default: all); e.g. make test-molecule SCENARIOS=base
SCENARIOS ?=

.PHONY: help venv docker image browser gitlab-ci-local promtool demo demo-destroy security-audit test test-molecule lint lock clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements/constraints.txt requirements/dev.txt pyproject.toml
	@$(PYTHON) -m venv --help >/dev/null 2>&1 || scripts/ensure-python-venv.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c requirements/constraints.txt -r requirements/dev.txt
	$(BIN)/pip install -q -c requirements/constraints.txt -e .
	touch $@

$(AUDIT_VENV)/.installed: requirements/audit.txt
	$(PYTHON) -m venv $(AUDIT_VENV)
	$(AUDIT_BIN)/pip install -q --upgrade pip
	$(AUDIT_BIN)/pip install -q --no-deps -r requirements/audit.txt
	touch $@

venv: $(VENV)/.installed $(AUDIT_VENV)/.installed ## create the virtual environments with the pinned toolchain

docker: ## install docker.io and debootstrap if missing, start dockerd if none runs
	scripts/ensure-docker.sh

image: docker ## build the local Debian 12 systemd test image (only when its inputs changed)
	scripts/build-test-image.sh

browser: docker ## install Debian's chromium for the report test if missing
	scripts/ensure-chromium.sh

gitlab-ci-local: ## install gitlab-ci-local (npm, Node from PyPI) for the CI template's test
	scripts/ensure-gitlab-ci-local.sh

promtool: ## unpack promtool (Debian's prometheus package) for the alert rules' tests
	scripts/ensure-promtool.sh

demo: venv image ## converge the rollout phases that exist so far on the local demo container
	scripts/demo.sh up

security-audit: venv ## Lynis and OpenSCAP on the demo container (after make demo): reports/security/
	ansible-playbook -i inventories/local/hosts.yml playbooks/security_audit.yml

demo-destroy: ## remove the demo container
	scripts/demo.sh destroy

# The virtual environments, the test image, gitlab-ci-local (the CI template's end-to-end test),
# promtool (the alert rules' tests) and the browser (the report test renders its HTML page with
# headless chromium) do not need each other: on a fresh machine they are prepared side by side
# (scripts/apt-install.sh lets their apt-get calls take turns). pytest then runs two units of
# work at a time (tests/conftest.py:
# each Molecule scenario, the wheelhouse chain, each other test file), longest first.
test: ## every check: unit tests, lint, syntax, all Molecule scenarios (two at a time)
	$(MAKE) --no-print-directory -j4 -Otarget venv image browser gitlab-ci-local promtool
	$(BIN)/pytest -n 2 --dist loadscope --no-loadscope-reorder --durations=15

test-molecule: venv image ## only the Molecule scenarios (SCENARIOS="base assess" to pick)
	$(BIN)/pytest tests/molecule $(if $(SCENARIOS),-k "$(shell echo $(SCENARIOS) | sed 's/ / or /g')")

lint: venv ## ansible-lint, yamllint, ruff only
	$(BIN)/pytest tests/quality

lock: ## re-resolve requirements/dev.txt into requirements/constraints.txt
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install -q -c <(echo torch==2.13.0+cpu) -r requirements/dev.txt
	{ echo "# Exact versions for every machine (control nodes, CI). Regenerate: make lock"; \
	  echo "# torch is the CPU build (+cpu): where it is not on local disk, add the PyTorch CPU index"; \
	  echo "# (PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu); never let it resolve to a CUDA build."; \
	  .lock-venv/bin/pip freeze --exclude-editable; } > requirements/constraints.txt
	rm -rf .lock-venv

clean: ## remove the virtual environment and caches
	rm -rf $(VENV) $(AUDIT_VENV) .pytest_cache .ruff_cache .cache
