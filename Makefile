# `make demo` and `make test` each create or refresh .venv (with the dev, peers and alpaca extras:
# the quick peer cross-check in tests/test_crosscheck.py needs vectorbt), then run.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench bench-daemon crosscheck clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	@echo "Installing otonom and its dependencies into $(VENV) (numba, pandas, plotly, dvc...; a few minutes the first time)"
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install --progress-bar on -e '.[dev,peers,alpaca]'
	touch $(STAMP)

DEMO_NAME ?= demo_baseline_v1_grid_$(shell date -u +%Y%m%dT%H%M%S)

demo: $(STAMP)
	$(PY) -m otonom_trader.cli backtest --strategy-path strategies/baseline_v1.yaml --symbol SPX
	$(PY) -m otonom_trader.cli experiments grid-search --name $(DEMO_NAME) \
	  --strategy-path strategies/baseline_v1.yaml --grid-path grids/baseline_grid.yaml \
	  --train-start 2008-01-01 --train-end 2015-12-31 --test-start 2016-01-01 --test-end 2018-12-31
	@echo "A shadow replay of 2016-03..06 through the daemon (production.yaml on main, paper fills):"
	$(PY) -m otonom_trader.cli daemon run --feed replay:SPX:2016-03-01:2016-06-30 --speed 0 \
	  --journal sqlite:///.otonom/$(DEMO_NAME)_daemon.db
	$(PY) -m otonom_trader.cli daemon parity --feed replay:SPX:2016-03-01:2016-06-30 \
	  --journal sqlite:///.otonom/$(DEMO_NAME)_daemon.db
	$(PY) -m otonom_trader.cli daemon status --journal sqlite:///.otonom/$(DEMO_NAME)_daemon.db

test: $(STAMP)
	$(PY) -m ruff check otonom_trader tests benchmarks
	$(PY) -m pytest

lint: $(STAMP)
	$(PY) -m ruff check otonom_trader tests benchmarks

bench: $(STAMP)
	$(PY) benchmarks/bench_engine.py

bench-daemon: $(STAMP)
	$(PY) benchmarks/bench_daemon.py

crosscheck: $(STAMP)
	$(PY) benchmarks/crosscheck.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
