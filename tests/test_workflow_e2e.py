"""The workflow our users come from, end to end on a fresh clone, with the README's names and
dates: grid search → experiments list/show (+ HTML) → promote → review, backtest and compare →
validate on the promotion branch (in the clone, and in a clone of the pushed branch as CI
has it) → a plain ``git merge`` into main, with ``git status --porcelain`` empty after every
step. The README's own command block is checked to be the one run here.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_dvc_pipeline import ROOT, _env, commit, git_repo

pytestmark = pytest.mark.slow

NAME = "baseline_v1_grid_readme"  # the README's grid search (git-ignored outputs)
SPLIT = ("--train-start", "2000-01-01", "--train-end", "2009-12-31",
         "--test-start", "2010-01-01", "--test-end", "2014-12-31")


def sh(repo: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "otonom_trader.cli", *args[1:]] if args[0] == "otonom" \
        else list(args)
    out = subprocess.run(cmd, cwd=repo, env=_env(), capture_output=True, text=True,
                         timeout=900, check=False)
    if ok:
        assert out.returncode == 0, f"{' '.join(args)} exited {out.returncode}\n" \
                                    f"{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out


def clean(repo: Path, step: str) -> None:
    status = sh(repo, "git", "status", "--porcelain").stdout
    assert status == "", f"after {step}: the tree is not clean:\n{status}"


@pytest.fixture(scope="module")
def origin(tmp_path_factory) -> Path:
    """A bare repository holding the tracked files on main (what users clone)."""
    base = tmp_path_factory.mktemp("workflow")
    seed = git_repo(base / "seed")
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.splitlines()
    for name in tracked:
        if (ROOT / name).is_file():
            (seed / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, seed / name)
    commit(seed, "the repository")
    sh(base, "git", "clone", "-q", "--bare", str(seed), str(base / "origin.git"))
    return base / "origin.git"


def fresh_clone(origin: Path, dest: Path, branch: str = "main") -> Path:
    sh(origin.parent, "git", "clone", "-q", "-b", branch, str(origin), str(dest))
    sh(dest, "git", "config", "user.name", "Trader")
    sh(dest, "git", "config", "user.email", "trader@example.com")
    return dest


def test_readme_commands_are_the_workflow_run_here():
    """The README's command block runs this test's grid search and promotion."""
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Commands", 1)[1].split("```", 2)[1]
    flat = re.sub(r"\\\n\s*", "", block)
    assert f"experiments grid-search --name {NAME} " in flat
    assert " ".join(SPLIT) in flat
    assert "otonom promote --experiment-id 1 --output-name baseline_v2 " in flat
    assert "git checkout promote/baseline_v2" in flat
    assert "otonom validate --changed --base origin/main" in flat
    assert "git merge promote/baseline_v2" in flat


def test_grid_search_to_a_merged_promotion_with_a_clean_tree(origin, tmp_path):
    work = fresh_clone(origin, tmp_path / "work")
    clean(work, "git clone")

    # Phase 1: the grid search (the workflow's grid file as written).
    out = sh(work, "otonom", "experiments", "grid-search", "--name", NAME, "--strategy-path",
             "strategies/baseline_v1.yaml", "--grid-path", "grids/baseline_grid.yaml", *SPLIT)
    assert "48" in out.stdout
    clean(work, "experiments grid-search")

    # Phase 2: analysis.
    assert NAME[:10] in sh(work, "otonom", "experiments", "list").stdout
    clean(work, "experiments list")
    sh(work, "otonom", "experiments", "show", "1")
    sh(work, "otonom", "experiments", "show", "1", "--export", "html")
    assert (work / "reports/experiment_1_report.html").stat().st_size > 10_000
    clean(work, "experiments show 1 --export html")

    # Phase 3: promotion (pushes promote/baseline_v2 to origin, back on main).
    out = sh(work, "otonom", "promote", "--experiment-id", "1", "--output-name", "baseline_v2",
             "--base-strategy", "strategies/baseline_v1.yaml",
             "--expected-impact", "+0.3 Sharpe on test set")
    assert "✅ Successfully promoted experiment 1" in out.stdout
    assert "Parameter changes:" in out.stdout and "forced" not in out.stdout.lower()
    assert sh(work, "git", "branch", "--show-current").stdout.strip() == "main"
    clean(work, "promote")

    # Phase 4: review, backtest over the test window, compare, validate on the branch.
    sh(work, "git", "checkout", "-q", "promote/baseline_v2")
    clean(work, "git checkout promote/baseline_v2")
    diff = sh(work, "diff", "strategies/baseline_v1.yaml", "strategies/baseline_v2.yaml",
              ok=False)
    assert diff.returncode == 1 and "metadata:" in diff.stdout
    sh(work, "otonom", "backtest", "--strategy-path", "strategies/baseline_v2.yaml",
       "--start-date", "2010-01-01", "--end-date", "2014-12-31")
    sh(work, "otonom", "compare", "--baseline", "strategies/baseline_v1.yaml",
       "--candidate", "strategies/baseline_v2.yaml", "--start-date", "2010-01-01",
       "--end-date", "2014-12-31")
    clean(work, "backtest and compare")
    out = sh(work, "otonom", "validate", "--changed", "--base", "origin/main", "--report-md",
             "reports/validation.md")
    assert "1 of 1 strategy passed every gate" in out.stdout
    clean(work, "validate on the promotion branch")

    # CI: a fresh clone of the pushed branch, without the local experiment store.
    ci = fresh_clone(origin, tmp_path / "ci", branch="promote/baseline_v2")
    out = sh(ci, "otonom", "validate", "--changed", "--base", "origin/main")
    assert "1 of 1 strategy passed every gate" in out.stdout
    clean(ci, "validate in CI's clone")

    # Phase 5: the promotion is merged into main with a plain git merge.
    sh(work, "git", "checkout", "-q", "main")
    sh(work, "git", "merge", "--no-edit", "promote/baseline_v2")
    clean(work, "git merge promote/baseline_v2")
    assert (work / "strategies/baseline_v2.yaml").is_file()
    log = (work / "STRATEGY_LOG.md").read_text()
    assert "## baseline_v1" in log and "## baseline_v2" in log
    assert "**Expected Impact**: +0.3 Sharpe on test set" in log
    out = sh(work, "otonom", "strategy", "validate", "strategies/baseline_v2.yaml")
    clean(work, "strategy validate after the merge")
