"""`otonom strategy record-impact`: the Actual Impact paragraph from a daemon replay's journal,
on a branch with a pull request (a local bare origin and the forge stand-in), and bad input."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime

import pytest
import yaml

from otonom_trader.app.production.run import run_daemon
from otonom_trader.app.repository.strategy_log import (
    ACTUAL_IMPACT,
    LogEntry,
    append_entry,
    set_actual_impact,
)
from otonom_trader.domain.strategy_loader import load_strategy
from otonom_trader.engine.backtest import backtest
from otonom_trader.engine.data import load_bars
from tests.helpers import run_cli
from tests.test_daemon import config, git, make_prod_repo

REPLAY = ("2016-01-01", "2016-03-31")
TODAY = datetime.now(UTC).date()
BRANCH = f"impact/baseline_v1-{TODAY:%Y-%m-%d}"


def entry(name: str) -> LogEntry:
    return LogEntry(name, datetime(2026, 1, 15, tzinfo=UTC), "baseline_v1", 3,
                    {"sharpe": 1.1, "cagr_pct": 9.0, "max_drawdown_pct": -12.0},
                    {"risk.stop_loss_pct": (3.0, 4.0)}, "+0.3 Sharpe on test set")


@pytest.fixture(scope="module")
def replayed(tmp_path_factory):
    """A production repository (baseline_v1 in shadow, a log entry for it) after a replay of
    SPX 2016-01..03; returns (a pristine copy to clone per test, the journal URL)."""
    tmp = tmp_path_factory.mktemp("impact")
    repo, _ = make_prod_repo(tmp)
    (repo / "params.yaml").write_text(yaml.safe_dump({
        "split": {"train_start": "2008-01-01", "train_end": "2015-12-31",
                  "test_start": "2016-01-01", "test_end": "2018-12-31"},
        "gates": {"min_test_sharpe": 0.5, "max_drawdown_pct": -25.0, "max_sharpe_gap": 1.0,
                  "min_dsr": 0.5, "min_trades": 5, "production_margin": 0.1}}))
    log = append_entry(append_entry(None, entry("other_v1")), entry("baseline_v1"))
    (repo / "STRATEGY_LOG.md").write_text(log)
    (repo / ".gitignore").write_text("/.otonom/\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "log and params")
    git(repo, "push", "-q", "origin", "main")
    run_daemon(config(repo, tmp, f"replay:SPX:{REPLAY[0]}:{REPLAY[1]}"), speed=0)
    return tmp, f"sqlite:///{tmp}/j.db"


@pytest.fixture
def prod(replayed, tmp_path, monkeypatch):
    """A fresh copy of the replayed repository and its origin; cwd inside it."""
    src, journal = replayed
    for name in ("origin.git", "repo"):
        shutil.copytree(src / name, tmp_path / name)
    repo = tmp_path / "repo"
    git(repo, "remote", "set-url", "origin", str(tmp_path / "origin.git"))
    for var in ("GITHUB_TOKEN", "GITHUB_REPOSITORY", "GITHUB_API_URL", "OTONOM_DB"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    monkeypatch.chdir(repo)
    return repo, journal


def test_record_impact_commits_the_paragraph_and_pushes_the_branch(prod, capsys):
    repo, journal = prod
    before = (repo / "STRATEGY_LOG.md").read_text()
    code, out, err = run_cli(["strategy", "record-impact", "baseline_v1", "--days", "60",
                              "--journal", journal], capsys)
    assert code == 0, err
    assert f"🌿 Branch: {BRANCH}" in out and f"⬆️  Pushed {BRANCH}" in out
    assert "📬 Pull request body saved: .otonom/pr/impact-baseline_v1-" in out
    # back on main, untouched; the branch (and origin) hold the filled paragraph
    assert git(repo, "branch", "--show-current") == "main"
    assert (repo / "STRATEGY_LOG.md").read_text() == before
    assert git(repo, "status", "--porcelain") == ""
    log = git(repo, "show", f"origin/{BRANCH}:STRATEGY_LOG.md")
    other, mine = log.split("## baseline_v1")
    assert f"**Actual Impact**: {ACTUAL_IMPACT}" in other  # the other entry is left alone
    (line,) = [x for x in mine.splitlines() if x.startswith("**Actual Impact**:")]
    assert ACTUAL_IMPACT not in line
    assert line.startswith("**Actual Impact**: Live 2016-01-04 → 2016-03-31 (87 days, 61 bars,"
                           " shadow): Sharpe=")
    # the journal of a shadow replay is `otonom backtest` over the same window (50% of 20,000)
    ref = backtest(load_strategy(repo / "strategies/baseline_v1.yaml"), load_bars("SPX"),
                   symbol="SPX", start=REPLAY[0], end=REPLAY[1], initial_capital=10_000)
    m = ref.metrics
    assert f"Sharpe={m['sharpe']:.2f} vs " in line
    assert f"CAGR={m['cagr_pct']:.1f}% vs " in line
    assert f"MaxDD={m['max_drawdown_pct']:.1f}% vs " in line
    # expected: the test window 2016-2018 of params.yaml, backtested now (no metadata)
    test = backtest(load_strategy(repo / "strategies/baseline_v1.yaml"), load_bars("SPX"),
                    symbol="SPX", start="2016-01-01", end="2018-12-31").metrics
    assert f"vs {test['sharpe']:.2f} expected" in line
    assert "slippage 0.0 bps vs" in line and "monitor verdict: " in line
    won = f"win rate {m['win_rate_pct']:.0f}% of {m['n_trades']} trades" if m["n_trades"] \
        else "win rate n/a (no closed trade)"
    assert f"{won} vs {test['win_rate_pct']:.0f}%" in line
    assert mine.rstrip().endswith("---")


def test_record_impact_opens_the_pull_request_on_the_forge(prod, capsys, forge_standin,
                                                           monkeypatch):
    _, journal = prod
    monkeypatch.setenv("GITHUB_TOKEN", forge_standin.token)
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/strategies")
    code, out, err = run_cli(["strategy", "record-impact", "baseline_v1", "--days", "30",
                              "--journal", journal, "--forge-url", forge_standin.url], capsys)
    assert code == 0, err
    assert "🔗 Pull request #1 opened" in out
    (pull,) = forge_standin.pulls["acme/strategies"]
    assert pull["head"]["ref"] == BRANCH and pull["base"]["ref"] == "main"
    assert pull["title"] == "Actual impact of baseline_v1: 87 days live"
    assert "| Sharpe |" in pull["body"] and "**Actual Impact**: Live 2016-01-04" in pull["body"]
    # a second run the same day: the branch exists, one line, exit 2
    code, _, err = run_cli(["strategy", "record-impact", "baseline_v1", "--journal", journal],
                           capsys)
    assert code == 2 and f"branch {BRANCH} exists already" in err


def test_bad_input_is_one_line_exit_2_and_writes_nothing(prod, capsys, tmp_path):
    repo, journal = prod
    empty = f"sqlite:///{tmp_path}/empty.db"
    cases = [
        (["baseline_v1", "--days", "120", "--journal", journal],
         "the journal has 87 days (2016-01-04 → 2016-03-31), --days 120 needs 33 more days"),
        (["baseline_v1", "--journal", empty], "the journal has no live data, --days 30 needs "
                                              "30 more days"),
        (["nope", "--journal", journal], "NAME 'nope': not a strategy of"),
        (["bad/name", "--journal", journal], "NAME 'bad/name'"),
        (["baseline_v1", "--days", "0", "--journal", journal], "--days"),
    ]
    for argv, needle in cases:
        code, _, err = run_cli(["strategy", "record-impact", *argv], capsys)
        assert code == 2 and needle in err, err
        assert len(err.strip().splitlines()) == 1
    # a log without NAME's entry
    log = repo / "STRATEGY_LOG.md"
    log.write_text(log.read_text().replace("## baseline_v1", "## baseline_v0"))
    git(repo, "commit", "-qam", "rename the entry")
    code, _, err = run_cli(["strategy", "record-impact", "baseline_v1", "--journal", journal],
                           capsys)
    assert code == 2 and "STRATEGY_LOG.md: no entry `## baseline_v1`" in err
    # a dirty tree
    (repo / "params.yaml").write_text("split: {}\n")
    code, _, err = run_cli(["strategy", "record-impact", "baseline_v1", "--journal", journal],
                           capsys)
    assert code == 2 and "uncommitted changes (M params.yaml)" in err
    assert git(repo, "branch", "--list", "impact/*") == ""
    assert not (repo / ".otonom" / "pr").exists()


def test_set_actual_impact_replaces_only_that_entrys_paragraph():
    log = append_entry(append_entry(None, entry("a")), entry("b"))
    out = set_actual_impact(log, "a", "Live: Sharpe=1.0\n  across lines")
    assert out.count(ACTUAL_IMPACT) == 1  # b's is still the placeholder
    assert "**Actual Impact**: Live: Sharpe=1.0 across lines\n\n---" in out
    assert set_actual_impact(out, "a", "again").count("**Actual Impact**: again") == 1
    twice = append_entry(log, entry("a"))  # re-promoted: the last entry is the live one
    assert set_actual_impact(twice, "a", "x").split("## a")[2].count("**Actual Impact**: x") == 1
    for name, needle in (("c", "no entry `## c`"), ("b", "no **Actual Impact**")):
        text = log if name == "c" else log.replace(f"**Actual Impact**: {ACTUAL_IMPACT}", "")
        with pytest.raises(KeyError, match=re.escape(needle)):
            set_actual_impact(text, name, "x")
