# Every target sets up what it needs from a clean clone: the venv, Python packages, Nix.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
APT_STAMP := /var/lib/gitops-bot-apt.stamp

.PHONY: help setup system-deps demo serve test soak lint typecheck bench lock clean

help:
	@echo "make demo   - run the whole pipeline once against a local state repo"
	@echo "make serve  - run the bot (demo secrets unless GITOPS_BOT_WEBHOOK_SECRET_FILE is set)"
	@echo "make test   - lint, type-check and run the test suite"
	@echo "make soak   - the long variants of the reliability suites (SOAK_SCALE=5 by default)"
	@echo "make bench  - run the benchmarks and write docs/performance.md (BENCH_SCALE=10000: under 10 minutes)"
	@echo "make lock   - re-resolve requirements.lock and requirements-dev.lock, with hashes"

# Debian packages: git for the state repo, nix-bin so the tests can evaluate nix/, chromium
# for the admin page's browser test (Playwright drives it; `playwright install` is never run;
# a CI image with Google Chrome uses that instead), nginx to check and serve the configuration
# the module emits, and systemd for systemd-socket-activate (the demo app's socket tests; no
# systemd runs). Only what is missing is installed; the stamp depends on this Makefile, so
# adding a package here checks again.
system-deps: $(APT_STAMP)
$(APT_STAMP): Makefile
	@missing=""; \
	command -v git >/dev/null || missing="$$missing git"; \
	command -v nix-instantiate >/dev/null || missing="$$missing nix-bin"; \
	[ -x /usr/bin/chromium ] || command -v google-chrome >/dev/null || missing="$$missing chromium"; \
	[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null || missing="$$missing nginx"; \
	command -v systemd-socket-activate >/dev/null || missing="$$missing systemd"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi; \
	fi
	@touch $@ 2>/dev/null || true

$(STAMP): pyproject.toml requirements-dev.lock
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes -r requirements-dev.lock
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

setup: system-deps $(STAMP)

demo: setup
	$(PY) scripts/demo.py

serve: setup
	GITOPS_BOT_DEMO=$${GITOPS_BOT_DEMO:-$$([ -n "$$GITOPS_BOT_WEBHOOK_SECRET_FILE" ] && echo 0 || echo 1)} \
	  $(VENV)/bin/gitops-bot serve

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: setup
	$(VENV)/bin/mypy --strict gitops_bot

# nixpkgs' lib/ for the module tests (../shared/nixpkgs-lib/README.md): when the copy beside
# the checkout is there, as in CI, those tests must run and pass instead of skipping.
SHARED_NIXPKGS_LIB := $(abspath ../shared/nixpkgs-lib/lib)
NIXPKGS_LIB ?= $(if $(wildcard $(SHARED_NIXPKGS_LIB)/default.nix),$(SHARED_NIXPKGS_LIB))

# The coverage figure for make test only, so one test run by hand stays quick and quiet.
COVERAGE ?= --cov=gitops_bot --cov-report=term:skip-covered

test: lint typecheck
	NIXPKGS_LIB=$(NIXPKGS_LIB) REQUIRE_NIXPKGS_LIB=$(if $(NIXPKGS_LIB),1) \
	  REQUIRE_NIX=1 REQUIRE_BROWSER=1 REQUIRE_SYSTEM_TOOLS=1 $(VENV)/bin/pytest $(COVERAGE)

# The reliability suites with their counts multiplied, and every property test with that many
# times its examples; docs/reliability.md has the figures.
soak: setup
	SOAK_SCALE=$${SOAK_SCALE:-5} $(VENV)/bin/pytest -m "soak or hypothesis"

# Not part of `make test`: the numbers need a quiet machine and minutes, not seconds.
# BENCH_ARGS=--quick runs every figure at a tiny size; --only intake,checker picks figures.
BENCH_ARGS ?=
# The largest fleet of the fleet-size figures (recovery, GitHub snapshot, ...); 10000 keeps a
# run on two shared cores well inside ten minutes, 100000 is the issue-17 fleet.
BENCH_SCALE ?= 100000
bench: setup
	$(PY) benchmarks/run.py --scale $(BENCH_SCALE) $(BENCH_ARGS)

# The runtime lock is what the workflows install; the dev lock adds the test tools at the
# same versions. Both keep their current pins unless UPGRADE=--upgrade is given, and both
# record this command in their header. uv only resolves here: pip installs.
UV_VERSION = 0.13.9
LOCK = $(VENV)/bin/uv pip compile pyproject.toml --generate-hashes --universal --python-version 3.11 $(UPGRADE)
lock: $(STAMP)
	$(PY) -m pip install --quiet 'uv==$(UV_VERSION)'
	$(LOCK) --extra dev -o requirements-dev.lock
	$(LOCK) -o requirements.lock

clean:
	rm -rf $(VENV) var test-output .pytest_cache .mypy_cache .ruff_cache
