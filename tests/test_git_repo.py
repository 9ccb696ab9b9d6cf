"""The git adapter's read side: provenance of a strategy file's repository (not the current
directory's), commits of revisions, changed paths."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from otonom_trader.adapters.git_repo import GitRepo, provenance
from otonom_trader.domain.errors import RunError


def git(cwd: Path, *args: str) -> str:
    env = ["-c", "user.name=t", "-c", "user.email=t@e", "-c", "init.defaultBranch=main"]
    return subprocess.run(["git", *env, *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture
def strategy_repo(tmp_path) -> Path:
    repo = tmp_path / "strategies-repo"
    (repo / "strategies").mkdir(parents=True)
    (repo / "strategies" / "s.yaml").write_text("name: s\n")
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "one")
    return repo


def test_provenance_is_the_strategy_repository_not_the_current_directory(
        strategy_repo, tmp_path, monkeypatch):
    other = tmp_path / "elsewhere"
    other.mkdir()
    git(other, "init", "-q")
    (other / "x").write_text("x")
    git(other, "add", "-A")
    git(other, "commit", "-qm", "other")
    monkeypatch.chdir(other)
    head = git(strategy_repo, "rev-parse", "HEAD")
    assert provenance(strategy_repo / "strategies" / "s.yaml") == (head, False)
    assert provenance(strategy_repo / "strategies") == (head, False)


def test_provenance_dirty_flag(strategy_repo):
    path = strategy_repo / "strategies" / "s.yaml"
    (strategy_repo / "untracked.txt").write_text("not a change to the strategies")
    assert provenance(path)[1] is False
    path.write_text("name: s2\n")
    assert provenance(path)[1] is True
    git(strategy_repo, "add", "-A")  # staged counts too
    assert provenance(path)[1] is True


def test_provenance_unknown_outside_a_repository_or_before_a_commit(tmp_path):
    (tmp_path / "s.yaml").write_text("name: s\n")
    assert provenance(tmp_path / "s.yaml") == (None, None)
    git(tmp_path, "init", "-q")
    assert provenance(tmp_path / "s.yaml") == (None, None)


def test_commit_of_and_changed_paths(strategy_repo):
    base = git(strategy_repo, "rev-parse", "HEAD")
    (strategy_repo / "strategies" / "t.yaml").write_text("name: t\n")
    (strategy_repo / "strategies" / "s.yaml").unlink()
    git(strategy_repo, "add", "-A")
    git(strategy_repo, "commit", "-qm", "two")
    with GitRepo(strategy_repo) as repo:
        assert repo.commit_of("main") == git(strategy_repo, "rev-parse", "HEAD")
        assert repo.commit_of("no-such-branch") is None
        assert repo.changed_paths(base) == ["strategies/t.yaml"]  # deletions left out
        with pytest.raises(RunError, match=r"^git diff nope\.\.\.HEAD failed: fatal: "):
            repo.changed_paths("nope")


def test_record_deployment_remote_errors(strategy_repo, tmp_path, monkeypatch):
    from otonom_trader.app.production.deployment_record import record_deployment
    from otonom_trader.domain.errors import InputError

    (strategy_repo / "deployments").mkdir()
    (strategy_repo / "deployments" / "production.yaml").write_text(
        "strategies: [{name: s, path: strategies/s.yaml, stage: live, capital_pct: 100}]\n")
    git(strategy_repo, "add", "-A")
    git(strategy_repo, "commit", "-qm", "deploy")
    monkeypatch.chdir(strategy_repo)
    with pytest.raises(InputError, match=r"^--remote origin: no such git remote"):
        record_deployment(date="2026-03-04", push_to="origin")
    assert git(strategy_repo, "tag", "-l") == ""  # nothing tagged before the remote is known
    git(strategy_repo, "remote", "add", "origin", str(tmp_path / "missing.git"))
    with pytest.raises(RunError) as err:
        record_deployment(date="2026-03-04", push_to="origin")
    assert str(err.value).startswith("git push: fatal: ")
    assert "\n" not in str(err.value)
    [done] = record_deployment(date="2026-03-04")  # the tag was made; a re-run keeps it
    assert (done.tag, done.created) == ("deploy/s/2026-03-04", False)


def test_grid_search_records_the_strategy_repository_and_show_prints_it(tmp_path, capsys,
                                                                        monkeypatch):
    """Run from a folder outside any repository: the experiment still records the commit of
    the repository holding the strategy file, and whether it had uncommitted changes."""
    import shutil

    monkeypatch.setenv("COLUMNS", "200")  # the summary line unwrapped, whatever the terminal

    from otonom_trader.cli import main

    root = Path(__file__).resolve().parents[1]
    repo = tmp_path / "strategies-repo"
    (repo / "strategies").mkdir(parents=True)
    strategy = repo / "strategies" / "sma_cross.yaml"
    shutil.copy(root / "strategies" / "sma_cross.yaml", strategy)
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "strategy")
    head = git(repo, "rev-parse", "HEAD")
    work = tmp_path / "work"
    work.mkdir()
    (work / "grid.yaml").write_text("analysts.tech.fast_window: [5, 10]\n")
    monkeypatch.chdir(work)
    db = f"sqlite:///{work}/s.db"

    def search(name: str, exp_id: int) -> str:
        for argv in (["experiments", "grid-search", "--name", name, "--strategy-path",
                      str(strategy), "--grid-path", "grid.yaml", "--data-dir",
                      str(root / "data"), "--train-start", "2004-01-01", "--train-end",
                      "2008-12-31", "--test-start", "2009-01-01", "--test-end", "2010-12-31",
                      "--db", db, "--outputs-dir", str(work / "experiments")],
                     ["experiments", "show", str(exp_id), "--db", db]):
            with pytest.raises(SystemExit) as exc:
                main(argv)
            assert exc.value.code == 0
        return next(line for line in capsys.readouterr().out.splitlines()
                    if "Git commit" in line)

    assert search("clean", 1).split()[-1] == head
    (repo / "strategies" / "other.yaml").write_text("untracked: not a change\n")
    assert search("untracked", 2).split()[-1] == head
    git(repo, "add", "strategies/other.yaml")
    assert search("staged", 3).strip().endswith(f"{head} (uncommitted changes)")
