"""Shared pytest fixtures."""

import fcntl
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from tests.helpers import copy_repo, git_init

# The longest test files first (per-file totals of `--durations=0`, 2026-11-30): under
# `--dist loadfile` a file runs on one worker, and a long file handed out last is a tail the
# other workers wait out (xdist's own order, most tests first, put these last). Files not
# listed follow in their usual order. A stale list costs time, never a result.
LONGEST_FIRST = ("test_dvc_pipeline.py", "test_rollout.py", "test_promote.py",
                 "test_optuna_multi.py", "test_crosscheck.py", "test_daemon_crash.py",
                 "test_store_pg.py", "test_dask_executor.py", "test_workflow_e2e.py",
                 "test_workflows_act.py", "test_daemon.py", "test_kernel_cache.py",
                 "test_grid_search.py", "test_yaml_differential.py", "test_optuna_search.py",
                 "test_report_browser.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable within a file


_WARMING = "PYTEST_OTONOM_WARMING"  # the lock file the master holds while the kernels compile


def pytest_configure(config):
    """Under xdist, compile the kernels once, in a process of their own that the workers wait
    for after their collection: otherwise on a fresh machine each worker, and each CLI
    process one starts meanwhile, compiles them at the same time (about 13 CPU-s each)."""
    if hasattr(config, "workerinput") or not config.getoption("numprocesses", None):
        return
    lock = tempfile.NamedTemporaryFile(  # noqa: SIM115 (held open until the compile ends)
        prefix="otonom-warming-", suffix=".lock", delete=False)
    fcntl.flock(lock, fcntl.LOCK_EX)
    warm = subprocess.Popen([sys.executable, "-c", "import tests.helpers as h; h.warm_kernels()"],
                            cwd=Path(__file__).resolve().parents[1], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def release():
        try:
            warm.wait(timeout=900)
        except subprocess.TimeoutExpired:  # never hold the workers forever
            warm.kill()
        fcntl.flock(lock, fcntl.LOCK_UN)

    threading.Thread(target=release, daemon=True).start()
    os.environ[_WARMING] = lock.name  # the workers inherit it
    config.add_cleanup(lambda: Path(lock.name).unlink(missing_ok=True))


def pytest_collection_finish(session):
    """A worker waits for the master's kernel compile (see ``pytest_configure``)."""
    path = os.environ.get(_WARMING)
    if path and hasattr(session.config, "workerinput") and Path(path).exists():
        with open(path) as held:
            fcntl.flock(held, fcntl.LOCK_SH)


@pytest.fixture
def forge_standin():
    """A started local GitHub REST stand-in (tests/forge_standin.py); token ``test-token``,
    repository ``acme/strategies``. Fails the test if a request had the wrong shape."""
    from tests.forge_standin import ForgeStandin

    standin = ForgeStandin().start()
    try:
        yield standin
    finally:
        standin.stop()
    assert not standin.errors, standin.errors


@pytest.fixture
def strategy_repo(tmp_path, monkeypatch):
    """A strategy repository (strategies/, grids/, params.yaml) committed; cwd inside it."""
    path = copy_repo(tmp_path / "repo")
    (path / ".gitignore").write_text("/experiments/\n/.otonom/\n")
    git_init(path)
    for var in ("GITHUB_TOKEN", "GITHUB_REPOSITORY", "OTONOM_DB"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    monkeypatch.chdir(path)
    return path


# ---------------------------------------------------------------- PostgreSQL

_PG_MISSING = ("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): `make test` "
               "installs Debian's postgresql package; run `apt-get install -y postgresql`")


@pytest.fixture(scope="session")
def pg_server():
    """One throwaway PostgreSQL server per test process (tests/pg.py), stopped at the end.
    Skipped (loudly, see ``pytest_terminal_summary``) only where PostgreSQL is not installed
    and cannot be; under CI a missing server fails the tests instead."""
    import os

    from tests.pg import PgServer

    server = PgServer()
    if server.bin is None:
        if os.environ.get("CI"):
            pytest.fail(_PG_MISSING + " (CI must run the PostgreSQL tests)")
        pytest.skip(_PG_MISSING)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server):
    """A new empty database on the test server (its SQLAlchemy URL), dropped afterwards."""
    url = pg_server.create_database()
    yield url
    pg_server.drop_database(url)


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def any_db(request, tmp_path):
    """An empty experiment store URL: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'experiments.db'}"
    return request.getfixturevalue("pg_url")


def pytest_terminal_summary(terminalreporter):
    skipped = [r for r in terminalreporter.stats.get("skipped", [])
               if "PostgreSQL is not installed" in str(r.longrepr)]
    if skipped:
        terminalreporter.write_sep("!", f"{len(skipped)} PostgreSQL tests SKIPPED: "
                                   "PostgreSQL is not installed", red=True, bold=True)
