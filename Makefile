# One entry point for humans and CI. `make test` does all set-up on a fresh machine.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)
PYTEST_ARGS ?=

.PHONY: setup system-deps venv cluster-build images lint test test-fast crd demo clean

setup: system-deps venv cluster-build images

system-deps:
	bash scripts/install-system-deps.sh

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

cluster-build:
	bash e2e/cluster.sh build

# Every image (images/*/Containerfile) as an OCI archive under ~/.cache/perfrun/images (cached).
images: system-deps
	bash e2e/images.sh build

lint: venv
	shellcheck -x $$(git ls-files '*.sh' | grep -v '^e2e/lib/') # e2e/lib/ through its users' `source`
	$(VENV)/bin/ruff check operator tests bench e2e examples
	$(VENV)/bin/ruff format --check operator tests bench e2e examples
	$(VENV)/bin/mypy
	MYPYPATH=examples/shop $(VENV)/bin/mypy -p shop
	$(VENV)/bin/lint-imports

# The README's test command: set-up, quality gates, then every test (none skipped in CI).
test: setup lint
	$(VENV)/bin/pytest $(PYTEST_ARGS)

# Unit tests only: no cluster, no services.
test-fast: venv
	$(VENV)/bin/pytest -m "not cluster and not services and not images" $(PYTEST_ARGS)

# crds/ (generated, plus kopf's peering CRDs) and its exact copy in the Helm chart.
crd: venv
	$(VENV)/bin/perfrun crd -o crds/perfrun.dev_perfruns.yaml
	$(VENV)/bin/perfrun crd --kind PerfBaseline -o crds/perfrun.dev_perfbaselines.yaml
	mkdir -p charts/perfrun-operator/files/crds
	rm -f charts/perfrun-operator/files/crds/*.yaml
	cp crds/*.yaml charts/perfrun-operator/files/crds/

# The README's main job: the shop (examples/shop) on the local cluster's real node, its
# baseline run to Passed (promoted), then the same release with n_plus_one to Failed
# (BaselineRegressed). e2e/demo.sh [example.yaml] follows any one example instead.
demo: system-deps venv cluster-build images
	bash e2e/demo-shop.sh n_plus_one

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
