# `make demo` and `make test` each create or refresh .venv (with the dev, peers, alpaca,
# postgres and dask extras: the quick peer cross-check in tests/test_crosscheck.py needs
# vectorbt, tests/test_dask_executor.py a LocalCluster), then run. `make test` also installs
# Debian's postgresql package when it is missing: the store tests start their own throwaway
# server (tests/pg.py).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo demo-production test test-fast lint bench bench-daemon bench-store bench-dask crosscheck clean postgres

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	@echo "Installing otonom and its dependencies into $(VENV) (numba, pandas, plotly, dvc...; a few minutes the first time)"
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install --progress-bar on -e '.[dev,peers,alpaca,postgres,dask]'
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

# A shadow replay (SPX 2016-2018) through the daemon, `otonom monitor`, and one rollout advance
# through a pull request on a local origin, gated by `otonom validate`: tools/demo_production.sh.
demo-production: $(STAMP)
	PY=$(PY) bash tools/demo_production.sh

# The unit tests: no git repositories, forge, DVC, act or peers; about a minute on 2 cores.
UNIT_TESTS := tests/test_golden_candles.py tests/test_kernel_twin.py tests/test_no_lookahead.py \
	tests/test_numerics.py tests/test_grid.py tests/test_strategy.py tests/test_data.py \
	tests/test_store.py tests/test_overfitting.py tests/test_layers.py \
	tests/test_hostile_input.py tests/test_compare.py tests/test_cli_backtest.py \
	tests/test_live_stats.py
# One test file per worker at a time: module- and session-scoped fixtures (a grid search, the
# CI venv of the act tests) are built once, not once per worker. One worker more than cores:
# the tests also wait (on DVC's queue, act, git, chromium), and the spare worker fills those
# waits (on 2 cores: 266 s instead of 287 s, the same CPU time). Files in the order
# tests/conftest.py gives them (the longest first), not xdist's (the most tests first).
XDIST ?= -n $(shell expr $$(nproc) + 1) --dist loadfile --no-loadscope-reorder

# The PostgreSQL server binaries for the store tests (Debian; root, as on CI), when missing.
# Not root: the PostgreSQL tests are skipped (with a banner; under CI they fail).
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing Debian's postgresql package (the store tests start their own server)"; \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql; \
	  else \
	    echo "PostgreSQL is not installed and this is not root: the PostgreSQL tests will be" \
	      "skipped (sudo apt-get install -y postgresql)"; \
	  fi; }

# The tests start the CLI in hundreds of subprocesses: each loads the package's compiled
# modules (__pycache__, git-ignored) instead of compiling them again where the environment
# sets PYTHONDONTWRITEBYTECODE.
test: $(STAMP) postgres
	$(PY) -m ruff check otonom_trader tests benchmarks examples
	$(VENV)/bin/lint-imports
	env -u PYTHONDONTWRITEBYTECODE $(PY) -m pytest $(XDIST)

test-fast: $(STAMP)
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -q $(XDIST) -m "not slow" $(UNIT_TESTS)

lint: $(STAMP)
	$(PY) -m ruff check otonom_trader tests benchmarks examples

bench: $(STAMP)
	$(PY) benchmarks/bench_engine.py

bench-daemon: $(STAMP)
	$(PY) benchmarks/bench_daemon.py

bench-store: $(STAMP) postgres
	$(PY) benchmarks/bench_store.py

bench-dask: $(STAMP)
	$(PY) benchmarks/bench_dask.py

crosscheck: $(STAMP)
	$(PY) benchmarks/crosscheck.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
