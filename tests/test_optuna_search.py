"""`grid-search --search optuna`: TPE trials stored as runs, seeded, resumable."""

import sqlite3

import pytest

from otonom_trader.adapters.store import ExperimentStore
from tests.helpers import run_cli
from tests.test_grid_search import grid_args, write_grid

DISTS = {
    "analysts.tech.fast_window": {"int": [5, 30, 5]},
    "analysts.tech.slow_window": {"choice": [40, 60, 100]},
    "risk.stop_loss_pct": {"uniform": [1.0, 5.0]},
}
PATHS = list(DISTS)


def optuna_args(tmp_path, trials, name="tpe", seed=7, db="store.db"):
    args = grid_args(tmp_path, write_grid(tmp_path, DISTS), name=name,
                     extra=["--search", "optuna", "--n-trials", str(trials), "--seed", str(seed)])
    return [a.replace("store.db", db) for a in args]


def stored(tmp_path, db="store.db", exp_id=1):
    store = ExperimentStore(f"sqlite:///{tmp_path}/{db}")
    try:
        return store.get(exp_id), store.runs_frame(exp_id).sort_values("run_number")
    finally:
        store.close()


def params(runs):
    return list(runs[PATHS].itertuples(index=False, name=None))


def test_trials_are_stored_as_runs_and_the_study_in_the_store(tmp_path, capsys):
    code, out, err = run_cli(optuna_args(tmp_path, 20), capsys)
    assert code == 0, err
    assert "Running optuna search (TPE): 20 total trials" in out
    info, runs = stored(tmp_path)
    assert info.search["kind"] == "optuna" and info.search["metric"] == "sharpe"
    assert info.search["window"] == "train" and info.total_runs == 20
    assert list(runs["run_number"]) == list(range(1, 21))
    assert (runs["status"] == "done").all()
    for fast, slow, stop in params(runs):  # every value inside its distribution
        assert fast in range(5, 31, 5) and slow in (40, 60, 100) and 1.0 <= stop <= 5.0
    with sqlite3.connect(tmp_path / "store.db") as conn:  # Optuna's study, same database
        (n,) = conn.execute("SELECT count(*) FROM trials t JOIN studies s USING (study_id) "
                            "WHERE s.study_name = 'tpe' AND t.state = 'COMPLETE'").fetchone()
    assert n == 20
    code, out, _ = run_cli(["experiments", "show", "1", "--db",
                            f"sqlite:///{tmp_path}/store.db"], capsys)
    assert code == 0 and "optuna (n_iter=20, seed=7), TPE on train sharpe" in out
    html = tmp_path / "report.html"
    code, _, err = run_cli(["experiments", "show", "1", "--db", f"sqlite:///{tmp_path}/store.db",
                            "--export", "html", "--output", str(html)], capsys)
    assert code == 0, err
    assert "optuna (n_iter=20, seed=7), TPE on train sharpe" in html.read_text()


def test_same_seed_same_parameters_other_seed_others(tmp_path, capsys):
    runs = {}
    for db, seed in (("a.db", 7), ("b.db", 7), ("c.db", 8)):
        code, _, err = run_cli(optuna_args(tmp_path, 20, seed=seed, db=db), capsys)
        assert code == 0, err
        runs[db] = params(stored(tmp_path, db)[1])
    assert runs["a.db"] == runs["b.db"]
    assert runs["a.db"] != runs["c.db"]


def test_more_trials_on_the_same_name_continue_the_study(tmp_path, capsys):
    code, _, err = run_cli(optuna_args(tmp_path, 16), capsys)
    assert code == 0, err
    first = params(stored(tmp_path)[1])
    code, out, err = run_cli(optuna_args(tmp_path, 32), capsys)
    assert code == 0, err
    assert "resumed (ID: 1)" in out and "(16 already done)" in out
    info, runs = stored(tmp_path)
    assert info.total_runs == 32 and info.search["n_iter"] == 32
    assert list(runs["run_number"]) == list(range(1, 33))
    assert params(runs)[:16] == first  # the first trials kept, the study went on after them
    with sqlite3.connect(tmp_path / "store.db") as conn:
        (n,) = conn.execute("SELECT count(*) FROM trials WHERE state = 'COMPLETE'").fetchone()
        (studies,) = conn.execute("SELECT count(*) FROM studies").fetchone()
    assert n == 32 and studies == 1
    code, _, _ = run_cli(optuna_args(tmp_path, 32), capsys)  # the same again: complete
    assert code == 0 and len(stored(tmp_path)[1]) == 32
    code, _, err = run_cli(optuna_args(tmp_path, 20), capsys)  # fewer: refused, not ignored
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "--n-trials 20: experiment 'tpe' (ID: 1) is a study of 32 trials" in err
    assert stored(tmp_path)[0].total_runs == 32


def test_a_trial_in_flight_is_evaluated_on_resume(tmp_path, capsys):
    """A trial asked but never told (the process died mid-batch, here before its parameters
    were drawn) is completed, evaluated, stored and told: trials and runs stay one to one."""
    import optuna

    code, _, err = run_cli(optuna_args(tmp_path, 16), capsys)
    assert code == 0, err
    url = f"sqlite:///{tmp_path}/store.db"
    storage = optuna.storages.RDBStorage(url, skip_compatibility_check=True)
    optuna.load_study(study_name="tpe", storage=storage).ask()  # in flight at the kill
    storage.engine.dispose()
    code, _, err = run_cli(optuna_args(tmp_path, 24), capsys)
    assert code == 0, err
    _, runs = stored(tmp_path)
    assert list(runs["run_number"]) == list(range(1, 25))
    with sqlite3.connect(tmp_path / "store.db") as conn:
        states = dict(conn.execute("SELECT state, count(*) FROM trials GROUP BY state"))
    assert states == {"COMPLETE": 24}


@pytest.mark.parametrize("extra, expected", [
    (["--n-trials", "0"], "--n-trials"),
    (["--n-trials", "-3"], "--n-trials"),
    (["--n-trials", "many"], "--n-trials"),
    ([], "--search optuna needs --n-trials N"),
])
def test_bad_n_trials_is_one_line_exit_2(tmp_path, capsys, extra, expected):
    args = grid_args(tmp_path, write_grid(tmp_path, DISTS), extra=["--search", "optuna", *extra])
    code, _, err = run_cli(args, capsys)
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and expected in lines[0], err


def test_constraints_are_refused_with_optuna(tmp_path, capsys):
    body = {**DISTS, "constraints": ["analysts.tech.fast_window < analysts.tech.slow_window"]}
    args = grid_args(tmp_path, write_grid(tmp_path, body),
                     extra=["--search", "optuna", "--n-trials", "8"])
    code, _, err = run_cli(args, capsys)
    assert code == 2 and "not supported by `search: optuna`" in err
