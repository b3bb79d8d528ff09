# One entry point for every task; CI runs `make check` (which runs `make test`, the README's test command).
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV_VERSION := 0.13.9
UV := python3 -m uv
RUN := $(UV) run --no-sync
export UV_PYTHON := 3.11
export UV_LINK_MODE := copy

.PHONY: help setup generate check-generated lint typecheck test check fmt migrate dlq-replay run demo bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

setup: ## install uv if missing, the locked Python environment and the Node spec tools
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	$(UV) sync --all-packages --locked
	npm ci --prefix tools/spectools --no-audit --no-fund --loglevel=error

generate: ## regenerate generated/ from specs/
	$(RUN) python -m spectools.generate

check-generated: ## fail if generated/ differs from what the specs produce
	$(RUN) python -m spectools.generate --check

lint: ## ruff format --check, ruff check, and spec lint (OpenAPI, AsyncAPI, buf)
	$(RUN) ruff format --check .
	$(RUN) ruff check .
	$(RUN) python -m spectools.lint

typecheck: ## mypy --strict on tools, tests, the SDK and each service (one run each: their test folders share module names)
	MYPYPATH=sdk/tests $(RUN) mypy tools tests deployments  # e2e publishes the SDK with its test helpers
	@for part in services/*/ $(wildcard sdk/ bench/); do echo "mypy $$part"; $(RUN) mypy $$part || exit 1; done

test: setup ## install what is needed, then run the test suite
	$(RUN) pytest

check: setup lint typecheck check-generated test ## every gate CI runs

fmt: ## format and autofix
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

migrate: setup ## apply every service's database migrations (and seed the catalog)
	@for service in orders payments notifications gateway; do \
		if [ -d services/$$service ]; then $(RUN) python -m $$service migrate || exit 1; fi; done

dlq-replay: ## move dead-lettered messages back to their queue: make dlq-replay SERVICE=orders [ARGS=--dry-run]
	@test -n "$(SERVICE)" || { echo "usage: make dlq-replay SERVICE=orders|payments|notifications [ARGS=--dry-run]" >&2; exit 2; }
	$(RUN) python -m ecommerce_runtime.dlq_replay --service $(SERVICE) $(ARGS)

run: setup ## start the whole system locally (RabbitMQ checked/started, migrations, 4 services + SMTP sink)
	$(RUN) python -m devstack run

demo: ## with the stack of `make run` up: a customer's journey through the SDK
	$(RUN) python -m devstack.demo

bench: ## load benchmark on a stack it starts (PostgreSQL), JSON to bench/results/: make bench ARGS="--rates 50,100"
	$(RUN) python -m ecommerce_bench run $(ARGS)

.PHONY: chaos
chaos: ## faults under load on a stack it starts (PostgreSQL); table, JSON, logs in tests/chaos/results/: make chaos ARGS="kill-orders --rate 30"
	PYTHONPATH=tests $(RUN) python -m chaos $(ARGS)

clean: ## remove caches and local state
	rm -rf .mypy_cache .ruff_cache .pytest_cache var
