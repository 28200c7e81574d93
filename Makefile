# heatmap: `make help` lists the targets. The two set-up commands of the README are `make report` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DEMO   ?= data/demo
ACCOUNTS ?= 300

.DEFAULT_GOAL := help

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-14s %s\n", $$1, $$2}'

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed ## create .venv and install the package with its dev tools

system-deps: ## install Debian packages the browser tests need (chromium); needs root or sudo
	bash scripts/install-system-deps.sh

demo-data: install ## generate the seeded demo dataset into data/demo
	$(BIN)/heatmap demo --out $(DEMO) --accounts $(ACCOUNTS) --seed 7 --format csv --workspace workspace

report: demo-data ## the main job on the demo data: HTML reports per region and per wave, and the account summary
	$(BIN)/heatmap validate $(DEMO)
	$(BIN)/heatmap summary $(DEMO) --out outputs/demo/account_summary.xlsx
	$(BIN)/heatmap run params/by_region.yaml
	$(BIN)/heatmap run params/by_wave.yaml
	$(BIN)/heatmap run params/plays_by_region.yaml

lint: install ## ruff lint and format check, and the import layers (lint-imports; docs/architecture.md)
	$(BIN)/ruff check heatmap_lib tests benchmarks
	$(BIN)/ruff format --check heatmap_lib tests benchmarks
	$(BIN)/lint-imports --no-logo --no-cache

typecheck: install ## mypy on the package
	$(BIN)/mypy

test: install system-deps lint typecheck ## lint, type check and the whole test suite (unit, notebook, browser)
	$(BIN)/python -m pytest -n 2 --dist loadfile

bench: install ## run the benchmarks (prints figures; slow; $$HEATMAP_BENCH_DATA caches their demo data)
	$(BIN)/python benchmarks/bench_load.py
	$(BIN)/python benchmarks/bench_summary.py
	$(BIN)/python benchmarks/bench_redraw.py
	$(BIN)/python benchmarks/bench_live_browser.py --sizes 300,10000
	$(BIN)/python benchmarks/bench_batch.py
	$(BIN)/python benchmarks/bench_region_100k.py
	$(BIN)/python benchmarks/bench_xray.py
	$(BIN)/python benchmarks/bench_renewal.py
	$(BIN)/python benchmarks/bench_health.py
	$(BIN)/python benchmarks/bench_engines.py
	$(BIN)/python benchmarks/bench_mapping.py

clean: ## remove generated data and outputs (keeps .venv)
	rm -rf data outputs/* .pytest_cache
	touch outputs/.gitkeep

.PHONY: help install system-deps demo-data report lint typecheck test bench clean
