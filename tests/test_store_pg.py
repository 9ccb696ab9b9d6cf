"""The experiment store and the daemon's journal on a real PostgreSQL server (tests/pg.py):
migrations from older schemas, bad URLs, a grid search and a promotion end to end, the
journal, and several processes sharing one database. (tests/test_store.py and the migration
and lease tests of tests/test_store_versions.py run on both backends too.)"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from alembic import command
from sqlalchemy import create_engine, text

from otonom_trader.adapters import migrations
from otonom_trader.adapters.store import ExperimentStore
from tests.helpers import REPO, clean_env, copy_repo, git_init, otonom_here, run_cli
from tests.test_daemon import make_prod_repo, three_ticks_then_status
from tests.test_store_versions import SPLIT, git, grid_search

pytestmark = pytest.mark.postgres
PASSWORD = "Zq9-hunter2-Xk"  # distinctive: must never be printed


def sql(url: str, statement: str) -> list:
    """Run one statement on ``url`` (committed); the rows of a SELECT."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(statement))
            return [tuple(r) for r in result.all()] if result.returns_rows else []
    finally:
        engine.dispose()


def old_store(url: str, *, versioned: bool) -> None:
    """``url`` at revision 0001 with one experiment (``--initial-capital 25000``) and two
    runs; without ``alembic_version`` when not ``versioned`` (made before versioning)."""
    engine = create_engine(url)
    with engine.begin() as conn:
        command.upgrade(migrations._config(conn), "0001")
        conn.execute(text(
            "INSERT INTO experiments (name, strategy_path, strategy_hash, strategy_name, grid,"
            " split, search, symbol, data_fingerprint, periods_per_year, status, total_runs,"
            " created_at, elapsed_seconds, command) VALUES ('old', 's.yaml', 'h', 'b', '{}',"
            " '{}', '{\"kind\": \"grid\"}', 'SPX', 'fp', 252, 'done', 2, now(), 1.5,"
            " 'otonom experiments grid-search --initial-capital 25000')"))
        conn.execute(text(
            "INSERT INTO experiment_runs (experiment_id, run_number, params, status, test_sharpe)"
            " VALUES (1, 0, '{}', 'done', 1.25), (1, 1, '{}', 'failed', NULL)"))
        if not versioned:
            conn.execute(text("DROP TABLE alembic_version"))
    engine.dispose()


# ---------------------------------------------------------------- migrations


@pytest.mark.parametrize("versioned", [True, False], ids=["revision 0001", "unversioned"])
def test_an_old_store_is_upgraded_in_place(pg_url, capsys, versioned):
    old_store(pg_url, versioned=versioned)
    code, out, err = run_cli(["experiments", "list", "--db", pg_url], capsys)
    assert code == 0 and "old" in out, err
    frm = "0001" if versioned else "0001 (unversioned)"
    assert err.strip() == (f"Upgraded experiment store postgresql+psycopg://***@"
                           f"{pg_url.split('@')[1]} from schema {frm} to {migrations.HEAD}")
    assert sql(pg_url, "SELECT initial_capital, schema_version, elapsed_seconds FROM "
                       "experiments") == [(25000.0, "0001", 1.5)]
    assert sql(pg_url, "SELECT run_number, status, test_sharpe FROM experiment_runs ORDER BY "
                       "run_number") == [(0, "done", 1.25), (1, "failed", None)]
    assert run_cli(["experiments", "list", "--db", pg_url], capsys)[2] == ""  # once only


def test_stores_opened_at_once_migrate_once(pg_url):
    """Processes opening one new database together: one migrates, the others wait for it."""
    code = f"from otonom_trader.adapters.store import ExperimentStore; ExperimentStore({pg_url!r})"
    procs = [subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], errors
    assert sql(pg_url, "SELECT version_num FROM alembic_version") == [(migrations.HEAD,)]


def test_a_plain_postgresql_url_uses_psycopg(pg_url):
    plain = pg_url.replace("postgresql+psycopg://", "postgresql://")
    with ExperimentStore(plain) as store:
        assert store.engine.dialect.driver == "psycopg" and store.list_experiments() == []
        assert store.url.startswith("postgresql://***@")


# ---------------------------------------------------------------- bad input


def test_a_store_on_a_newer_schema_is_refused(pg_url, capsys):
    ExperimentStore(pg_url).close()
    sql(pg_url, "UPDATE alembic_version SET version_num = 'f00dcafe'")
    code, _, err = run_cli(["experiments", "list", "--db", pg_url], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "schema version f00dcafe" in err and "newer otonom" in err


@pytest.mark.parametrize("fault", ["wrong password", "no such database", "nothing listening"])
@pytest.mark.parametrize("via", ["--db", "OTONOM_DB"])
def test_a_url_that_cannot_connect_is_one_line_with_the_password_masked(
        pg_server, capsys, monkeypatch, fault, via):
    from tests.pg import PASSWORD as SERVER_PASSWORD
    from tests.pg import free_port

    url = {"wrong password": pg_server.url("postgres", PASSWORD),
           "no such database": pg_server.url("nosuchdb"),  # the right password
           "nothing listening": f"postgresql+psycopg://otonom:{PASSWORD}@127.0.0.1:"
                                f"{free_port()}/x"}[fault]
    secret = SERVER_PASSWORD if fault == "no such database" else PASSWORD
    assert secret in url
    argv = ["experiments", "list"]
    if via == "--db":
        argv += ["--db", url]
    else:
        monkeypatch.setenv("OTONOM_DB", url)
    code, out, err = run_cli(argv, capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert secret not in out + err and "***" in err
    needle = {"wrong password": "password authentication failed",
              "no such database": 'database "nosuchdb" does not exist',
              "nothing listening": "Connection refused"}[fault]
    assert err.startswith("Error: cannot open experiment store postgresql+psycopg://***@")
    assert needle in err and "--db" in err


# ---------------------------------------------------------------- end to end


def _snapshot_rows(data: bytes, path: Path) -> list:
    """Every row of a ``--store-snapshot`` file but the recorded command (its --db differs)."""
    path.write_bytes(data)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE experiments SET command = ''")
        rows = [conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall()
                for t in ("experiments", "experiment_runs", "experiment_snapshots")]
    conn.close()
    return rows


def test_grid_search_show_and_promote_read_the_postgres_store(strategy_repo, tmp_path, pg_url,
                                                              capsys):
    code, out, err = grid_search(pg_url, capsys, "--store-snapshot")
    assert code == 0, err
    outputs = Path("experiments/small")
    on_pg = {p.name: p.read_bytes() for p in outputs.iterdir() if p.name != "timings.json"}
    shutil.rmtree(outputs)
    code, out, err = grid_search(f"sqlite:///{tmp_path}/s.db", capsys, "--store-snapshot")
    assert code == 0, err
    on_sqlite = {p.name: p.read_bytes() for p in outputs.iterdir() if p.name != "timings.json"}
    assert "store.db" in on_pg
    assert {k: v for k, v in on_pg.items() if k != "store.db"} == \
        {k: v for k, v in on_sqlite.items() if k != "store.db"}  # byte for byte
    assert _snapshot_rows(on_pg["store.db"], tmp_path / "a.db") == \
        _snapshot_rows(on_sqlite["store.db"], tmp_path / "b.db")
    with ExperimentStore(pg_url) as store:
        info = store.get(1)
        assert (info.status, store.run_counts(1)) == ("done", (4, 0))
        best = store.top_runs(1, "sharpe", 1).iloc[0]
    code, out, err = run_cli(["experiments", "show", "1", "--db", pg_url], capsys)
    assert code == 0 and "small" in out, err
    code, _, err = run_cli(["promote", "--experiment-id", "1", "--output-name", "from_pg",
                            "--base-strategy", "strategies/baseline_v1.yaml", "--db", pg_url],
                           capsys)
    assert code == 0, err
    meta = yaml.safe_load(git(strategy_repo, "show",
                              "promote/from_pg:strategies/from_pg.yaml"))["metadata"]
    assert meta["run_number"] == int(best["run_number"])
    assert meta["test"]["sharpe"] == pytest.approx(best["test_sharpe"], rel=1e-12)


def test_the_daemon_journals_to_postgres(tmp_path, pg_url, capsys):
    repo, _ = make_prod_repo(tmp_path)
    s = three_ticks_then_status(repo, pg_url, capsys)
    assert s["last_bar"].startswith("2016-01-06") and s["equity"] == 10_000
    assert any(e["kind"] == "version_switch" for e in s["events"])
    assert sql(pg_url, "SELECT count(*) FROM journal_ticks")[0][0] >= 3


def test_the_journal_writes_each_order_fill_and_bar_once(pg_url):
    from datetime import datetime

    from otonom_trader.adapters.journal import Intent, Journal

    bar = datetime(2016, 1, 5)
    intent = Intent(client_order_id="otn-1", deployment="d", strategy_hash="h",
                    commit_sha="c", bar_time=bar, symbol="SPX", side="buy", qty=2.0,
                    ref_price=100.0, reason="entry", stage="shadow", broker="paper")
    journal = Journal(pg_url)
    try:
        assert journal.intend(intent) and not journal.intend(intent)  # a restart: no-op
        row = journal.orders("d")[0]
        assert journal.fill(row, 2.0, 101.5) and not journal.fill(row, 2.0, 101.5)
        journal.mark("d", bar, 10_003.0, "SPX", 2.0, 101.5)
        journal.mark("d", bar, 99.0, "SPX", 0.0, 0.0)  # the same bar again: kept as first
        assert [(o["client_order_id"], o["qty"]) for o in journal.orders()] == [("otn-1", 2.0)]
        assert [(f["qty"], f["price"]) for f in journal.fills("d")] == [(2.0, 101.5)]
        assert [(e["bar_time"], e["equity"]) for e in journal.equity("d")] == [(bar, 10_003.0)]
        assert journal.last_bar("d") == bar
    finally:
        journal.close()


# ---------------------------------------------------------------- several processes


def _grid_search_proc(cwd: Path, db: str, name: str) -> subprocess.Popen:
    args = [sys.executable, "-m", "otonom_trader.cli", "experiments", "grid-search", "--name",
            name, "--strategy-path", "strategies/baseline_v1.yaml", "--grid-path", "grid.yaml",
            *SPLIT, "--db", db, "--outputs-dir", f"experiments_{name}", "--chunk-size", "1",
            "--workers", "1"]
    return subprocess.Popen(args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=clean_env(PYTHONPATH=str(REPO)))


@pytest.mark.slow
@pytest.mark.parametrize("same_name", [False, True], ids=["two names", "one name"])
def test_two_grid_searches_writing_at_once(strategy_repo, pg_url, same_name):
    Path("grid.yaml").write_text(yaml.safe_dump({"risk.risk_pct": [0.5, 1.0, 1.5, 2.0],
                                                 "risk.stop_loss_pct": [1.0, 2.0, 3.0]}))
    names = ["twin", "twin"] if same_name else ["alpha", "beta"]
    procs = [_grid_search_proc(strategy_repo, pg_url, n) for n in names]
    results = [(p.wait(180), *p.communicate()) for p in procs]
    errors = " ".join(err for _, _, err in results)
    assert "Traceback" not in errors and "unique constraint" not in errors, errors
    codes = sorted(code for code, _, _ in results)
    with ExperimentStore(pg_url) as store:
        experiments = store.list_experiments()
        if not same_name:
            assert codes == [0, 0], errors
            assert sorted((e.name, e.status, e.done, e.failed) for e in experiments) == \
                [("alpha", "done", 12, 0), ("beta", "done", 12, 0)]
            assert len(store.runs_frame(1)) == len(store.runs_frame(2)) == 12
        else:  # one ran it; the other was told, in one line, that another process runs it
            assert codes == [0, 2], errors
            assert "being run by another process" in errors or "already exists" in errors
            assert [(e.name, e.status, e.done) for e in experiments] == [("twin", "done", 12)]


@pytest.mark.slow
def test_two_promotions_reading_at_once_agree(tmp_path, pg_url, capsys, monkeypatch):
    first = git_init(copy_repo(tmp_path / "a"))
    monkeypatch.chdir(first)
    monkeypatch.delenv("OTONOM_DB", raising=False)
    code, _, err = grid_search(pg_url, capsys)
    assert code == 0, err
    second = git_init(copy_repo(tmp_path / "b"))
    clones = [first, second]
    procs = [subprocess.Popen(
        [sys.executable, "-m", "otonom_trader.cli", "promote", "--experiment-id", "1",
         "--output-name", "shared", "--base-strategy", "strategies/baseline_v1.yaml",
         "--db", pg_url], cwd=c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=clean_env(PYTHONPATH=str(REPO), GIT_CEILING_DIRECTORIES=str(tmp_path)))
        for c in clones]
    results = [(p.wait(180), *p.communicate()) for p in procs]
    assert [r[0] for r in results] == [0, 0], [r[2] for r in results]
    texts = [git(c, "show", "promote/shared:strategies/shared.yaml") for c in clones]
    metas = [yaml.safe_load(t)["metadata"] for t in texts]
    assert metas[0]["run_number"] == metas[1]["run_number"]
    assert metas[0]["test"] == metas[1]["test"] and metas[0]["train"] == metas[1]["train"]


@pytest.mark.slow
def test_a_search_killed_mid_write_resumes_to_the_runs_of_an_uninterrupted_one(tmp_path,
                                                                              pg_url):
    """kill -9 while batches go in by COPY: no batch is half stored, the resume completes it,
    and the runs equal those of an uninterrupted search on SQLite."""
    import os
    import signal
    import time

    import numpy as np
    import pandas as pd

    from tests.test_grid_search import KILL_GRID, grid_args, write_grid

    grid = write_grid(tmp_path, KILL_GRID)
    args = grid_args(tmp_path, grid, extra=["--chunk-size", "200", "--workers", "1"])
    killed = [*args[:args.index("--db") + 1], pg_url, *args[args.index("--db") + 2:]]
    cli = [sys.executable, "-m", "otonom_trader.cli"]
    ExperimentStore(pg_url).close()  # the tables, to count the runs in
    proc = subprocess.Popen([*cli, *killed], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if sql(pg_url, "SELECT count(*) FROM experiment_runs")[0][0] >= 400:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    partial = sql(pg_url, "SELECT count(*) FROM experiment_runs")[0][0]
    assert 0 < partial < 6400 and partial % 200 == 0  # whole batches only
    resumed = otonom_here(os.getcwd(), *killed, env=dict(os.environ))
    assert resumed.returncode == 0 and "resumed (ID: 1)" in resumed.stdout, resumed.stderr
    clean = otonom_here(os.getcwd(), *args, env=dict(os.environ))  # SQLite, no kill
    assert clean.returncode == 0, clean.stderr
    with ExperimentStore(pg_url) as a, ExperimentStore(f"sqlite:///{tmp_path}/store.db") as b:
        assert len(a.runs_frame(1)) == 6400
        pd.testing.assert_frame_equal(a.runs_frame(1), b.runs_frame(1))
        np.testing.assert_array_equal(a.block_stats(1)[1], b.block_stats(1)[1])
