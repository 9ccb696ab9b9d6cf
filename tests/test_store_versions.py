"""The experiment store's schema versions (Alembic), broken stores, and the lease that keeps
two processes from running one experiment."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
import yaml
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from otonom_trader.adapters import migrations
from otonom_trader.adapters.store import ExperimentStore, lease_owner
from otonom_trader.adapters.store_models import METADATA
from otonom_trader.domain.errors import InputError
from tests.helpers import run_cli

REPO = Path(__file__).resolve().parents[1]
SPLIT = ["--train-start", "2008-01-01", "--train-end", "2015-12-31",
         "--test-start", "2016-01-01", "--test-end", "2018-12-31"]
# The store as made before versioning (the first release's `create_all` of its models).
OLD_SCHEMA = """
CREATE TABLE experiments (id INTEGER NOT NULL, name VARCHAR(200) NOT NULL,
  strategy_path TEXT NOT NULL, strategy_hash VARCHAR(128) NOT NULL,
  strategy_name VARCHAR(200) NOT NULL, grid JSON NOT NULL, split JSON NOT NULL,
  search JSON NOT NULL, symbol VARCHAR(100) NOT NULL, data_fingerprint VARCHAR(128) NOT NULL,
  periods_per_year FLOAT NOT NULL, git_commit VARCHAR(64), status VARCHAR(20) NOT NULL,
  total_runs INTEGER NOT NULL, created_at DATETIME NOT NULL, started_at DATETIME,
  finished_at DATETIME, elapsed_seconds FLOAT NOT NULL, command TEXT NOT NULL,
  PRIMARY KEY (id), UNIQUE (name));
CREATE TABLE experiment_runs (id INTEGER NOT NULL, experiment_id INTEGER NOT NULL,
  run_number INTEGER NOT NULL, params TEXT NOT NULL, status VARCHAR(10) NOT NULL, error TEXT,
  train_total_return_pct FLOAT, train_cagr_pct FLOAT, train_sharpe FLOAT, train_sortino FLOAT,
  train_max_drawdown_pct FLOAT, train_calmar FLOAT, train_win_rate_pct FLOAT,
  train_profit_factor FLOAT, train_exposure_pct FLOAT, train_n_trades INTEGER,
  train_final_equity FLOAT, test_total_return_pct FLOAT, test_cagr_pct FLOAT,
  test_sharpe FLOAT, test_sortino FLOAT, test_max_drawdown_pct FLOAT, test_calmar FLOAT,
  test_win_rate_pct FLOAT, test_profit_factor FLOAT, test_exposure_pct FLOAT,
  test_n_trades INTEGER, test_final_equity FLOAT, block_stats BLOB, PRIMARY KEY (id),
  CONSTRAINT uq_run_experiment_number UNIQUE (experiment_id, run_number),
  FOREIGN KEY(experiment_id) REFERENCES experiments (id) ON DELETE CASCADE);
CREATE INDEX ix_run_experiment_test_sortino ON experiment_runs (experiment_id, test_sortino);
CREATE INDEX ix_run_experiment_status ON experiment_runs (experiment_id, status);
CREATE INDEX ix_run_experiment_test_calmar ON experiment_runs (experiment_id, test_calmar);
CREATE INDEX ix_run_experiment_test_sharpe ON experiment_runs (experiment_id, test_sharpe);
CREATE INDEX ix_run_experiment_test_cagr_pct ON experiment_runs (experiment_id, test_cagr_pct);
"""
OLD_EXPERIMENT_COLUMNS = ("id, name, strategy_path, strategy_hash, strategy_name, grid, split, "
                          "search, symbol, data_fingerprint, periods_per_year, git_commit, "
                          "status, total_runs, created_at, started_at, finished_at, "
                          "elapsed_seconds, command")


def git(cwd: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def grid_search(db: str, capsys, *extra: str, name: str = "small") -> tuple[int, str, str]:
    grid = Path("grid.yaml")
    if not grid.exists():
        grid.write_text(yaml.safe_dump({"risk.risk_pct": [1.0, 2.0],
                                        "risk.stop_loss_pct": [2.0, 4.0]}))
    argv = ["experiments", "grid-search", "--name", name, "--strategy-path",
            "strategies/baseline_v1.yaml", "--grid-path", str(grid), *SPLIT,
            "--db", db, "--outputs-dir", "experiments", *extra]
    with mock.patch.object(sys, "argv", ["otonom", *argv]):  # the command the store records
        return run_cli(argv, capsys)


def make_old_store(new_db: Path, old_db: Path) -> None:
    """``old_db`` in the first release's schema, holding ``new_db``'s experiments and runs."""
    with sqlite3.connect(old_db) as conn:
        conn.executescript(OLD_SCHEMA)
        conn.execute("ATTACH DATABASE ? AS new", (str(new_db),))
        conn.execute(f"INSERT INTO experiments SELECT {OLD_EXPERIMENT_COLUMNS} "
                     "FROM new.experiments")
        conn.execute("INSERT INTO experiment_runs SELECT * FROM new.experiment_runs")
        conn.commit()
        conn.execute("DETACH DATABASE new")
    conn.close()


# ---------------------------------------------------------------- versions


def test_migrations_reach_head_and_match_the_models(any_db):
    assert migrations.known_revisions()[0] == migrations.HEAD  # newest first
    with ExperimentStore(any_db) as store, store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == \
            migrations.HEAD
        import otonom_trader.adapters.journal_models  # noqa: F401  (the daemon's tables)

        assert compare_metadata(MigrationContext.configure(conn), METADATA) == []


def test_old_store_upgrades_in_place_and_promote_reproduces_exactly(strategy_repo, tmp_path,
                                                                    capsys):
    new_db, old_db = tmp_path / "new.db", tmp_path / "old.db"
    code, _, err = grid_search(f"sqlite:///{new_db}", capsys, "--initial-capital", "25000")
    assert code == 0, err
    code, _, err = grid_search(f"sqlite:///{new_db}", capsys, name="plain")
    assert code == 0, err
    make_old_store(new_db, old_db)
    url = f"sqlite:///{old_db}"

    code, out, err = run_cli(["experiments", "list", "--db", url], capsys)
    assert code == 0 and "small" in out and "plain" in out
    assert err.strip() == (f"Upgraded experiment store {url} from schema 0001 (unversioned) "
                           f"to {migrations.HEAD}")
    with sqlite3.connect(old_db) as conn:
        rows = conn.execute("SELECT name, initial_capital, schema_version FROM experiments "
                            "ORDER BY id").fetchall()
        version = conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
        n_runs = conn.execute("SELECT count(*) FROM experiment_runs").fetchone()[0]
    conn.close()
    # the capital parsed once from the recorded command; the runs survived the table copy
    assert rows == [("small", 25000.0, "0001"), ("plain", 10000.0, "0001")]
    assert version == migrations.HEAD and n_runs == 8
    with ExperimentStore(url) as old, ExperimentStore(f"sqlite:///{new_db}") as new:
        # the run counters and best test Sharpe `list` reads were counted by the upgrade
        assert old.list_experiments() == new.list_experiments()
    assert run_cli(["experiments", "list", "--db", url], capsys)[2] == ""  # once only

    code, out, err = run_cli(["promote", "--experiment-id", "1", "--output-name", "from_old",
                              "--base-strategy", "strategies/baseline_v1.yaml", "--db", url],
                             capsys)
    assert code == 0, err
    text = git(strategy_repo, "show", "promote/from_old:strategies/from_old.yaml")
    meta = yaml.safe_load(text)["metadata"]
    assert meta["initial_capital"] == 25000.0
    with ExperimentStore(url) as store:
        row = store.runs_frame(1).set_index("run_number").loc[meta["run_number"]]
    for key, value in meta["test"].items():  # promote refuses a run that does not reproduce
        assert value == (None if row[f"test_{key}"] != row[f"test_{key}"] else row[f"test_{key}"])
    assert meta["test"]["final_equity"] > 20_000  # traded 25,000, not 10,000


def test_store_from_a_newer_version_is_refused(tmp_path, capsys):
    db = tmp_path / "s.db"
    ExperimentStore(f"sqlite:///{db}").close()
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'f00dcafe'")
    conn.close()
    code, _, err = run_cli(["experiments", "list", "--db", f"sqlite:///{db}"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "schema version f00dcafe" in err and "newer otonom" in err and str(db) in err


# ---------------------------------------------------------------- broken stores


def _corrupt_pages(path: Path) -> None:
    with ExperimentStore(f"sqlite:///{path}") as store:
        pass
    del store
    data = bytearray(path.read_bytes())
    page = 4096
    data[page:] = b"\xde\xad\xbe\xef" * ((len(data) - page) // 4)  # every page after the first
    path.write_bytes(bytes(data))


def _not_sqlite(path: Path) -> None:
    path.write_text("date,close\n2020-01-01,1\n" * 200)


def _foreign_table(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE experiment_runs (id INTEGER PRIMARY KEY, label TEXT)")
    conn.close()


BROKEN = {"corrupted pages": (_corrupt_pages, "is damaged"),
          "not SQLite": (_not_sqlite, "is damaged"),
          "another schema": (_foreign_table, "not an otonom experiment table")}
COMMANDS = {
    "list": lambda url: ["experiments", "list", "--db", url],
    "show": lambda url: ["experiments", "show", "1", "--db", url],
    "export": lambda url: ["experiments", "export", "1", "--db", url],
    "promote": lambda url: ["promote", "--experiment-id", "1", "--output-name", "v2",
                            "--base-strategy", "strategies/baseline_v1.yaml", "--db", url],
}


@pytest.mark.parametrize("kind", list(BROKEN))
@pytest.mark.parametrize("command", [*COMMANDS, "grid-search"])
def test_broken_store_is_one_line_naming_the_file(strategy_repo, tmp_path, capsys, kind, command):
    path = tmp_path / "broken.db"
    make, needle = BROKEN[kind]
    make(path)
    before = path.read_bytes()
    url = f"sqlite:///{path}"
    if command == "grid-search":
        code, _, err = grid_search(url, capsys)
    else:
        code, _, err = run_cli(COMMANDS[command](url), capsys)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert str(path) in err and needle in err and "--db" in err
    if kind == "another schema":  # nothing added to it
        with sqlite3.connect(path) as conn:
            tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master")]
        conn.close()
        assert tables == ["experiment_runs"]
    else:
        assert path.read_bytes() == before
    assert git(strategy_repo, "branch", "--format=%(refname:short)") == "main"


# ---------------------------------------------------------------- one process per experiment


def test_a_second_process_on_the_same_experiment_is_refused(strategy_repo, any_db, capsys):
    db = any_db
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with ExperimentStore(db) as store:  # what a running grid search leaves in the store
            store.create_experiment(
                name="small", strategy_path="strategies/baseline_v1.yaml", strategy_hash="x",
                strategy_name="baseline_v1", grid={}, split={}, search={"kind": "grid"},
                symbol="SPX", data_fingerprint="f", periods_per_year=252, total_runs=4,
                initial_capital=10_000.0, owner=f"{lease_owner().rsplit(':', 1)[0]}:{other.pid}")
            with pytest.raises(InputError, match=f"being run by another process \\(pid "
                                                 f"{other.pid} on "):
                store.claim(1, lease_owner())
            code, _, err = grid_search(db, capsys)
            assert code == 2 and f"pid {other.pid}" in err and "UNIQUE" not in err
            assert "unique constraint" not in err
            assert len(err.strip().splitlines()) == 1
            code, _, err = grid_search(db, capsys, "--resume", "1")
            assert code == 2 and "being run by another process" in err
    finally:
        other.kill()
        other.wait()
    with ExperimentStore(db) as store:  # its holder is gone: the lease can be taken
        store.claim(1, lease_owner())
        assert store.get(1).owner == lease_owner()
        store.set_status(1, "interrupted")
        assert store.get(1).owner is None


@pytest.mark.slow
def test_two_grid_searches_at_once_one_runs_the_other_is_told(strategy_repo, tmp_path):
    db = f"sqlite:///{tmp_path}/s.db"
    Path("grid.yaml").write_text(yaml.safe_dump({"risk.risk_pct": [0.5, 1.0, 1.5, 2.0],
                                                 "risk.stop_loss_pct": [1.0, 2.0, 3.0]}))
    args = [sys.executable, "-m", "otonom_trader.cli", "experiments", "grid-search", "--name",
            "twin", "--strategy-path", "strategies/baseline_v1.yaml", "--grid-path",
            "grid.yaml", *SPLIT, "--db", db, "--outputs-dir", "experiments",
            "--chunk-size", "1", "--workers", "1"]
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    results = [(p.wait(120), *p.communicate()) for p in procs]
    codes = sorted(code for code, _, _ in results)
    errors = " ".join(err for _, _, err in results)
    assert codes in ([0, 0], [0, 2]), errors  # both finished (one resumed the other), or
    if codes == [0, 2]:  # one was told, in one line, that the other runs it
        assert "being run by another process" in errors or "already" in errors, errors
    assert "UNIQUE" not in errors and "Traceback" not in errors
    with ExperimentStore(db) as store:
        assert store.run_counts(1) == (12, 0) and store.get(1).status == "done"


def test_a_migration_that_dies_halfway_leaves_the_store_as_it_was(tmp_path, monkeypatch):
    """A store's migrations run in one transaction, on SQLite too (whose Python driver would
    otherwise commit each CREATE TABLE at once): a kill or error halfway leaves the old
    schema, and opening the store again migrates it cleanly."""
    from alembic.operations import Operations

    url = f"sqlite:///{tmp_path}/store.db"
    create_table = Operations.create_table

    def dies_at_walk_forwards(self, name, *columns, **kw):
        if name == "walk_forwards":  # revision 0006, after 0001-0005 ran
            raise RuntimeError("killed")
        return create_table(self, name, *columns, **kw)

    with monkeypatch.context() as patch:
        patch.setattr(Operations, "create_table", dies_at_walk_forwards)
        with pytest.raises(Exception, match="killed"):
            ExperimentStore(url)
    with sqlite3.connect(tmp_path / "store.db") as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master "
                                             "WHERE type = 'table'")}
    conn.close()
    assert tables == set()  # nothing of the half-done migration
    with ExperimentStore(url) as store:  # and it migrates cleanly afterwards
        assert store.list_experiments() == []
