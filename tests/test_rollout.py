"""`otonom rollout` pull requests (stand-in forge, local origin), the rollout gate of
`otonom validate`, bad input, and the daemon's fail-safe.

The journals are built from baseline_v1's own backtest over its expected window (the test
window of params.yaml): "good" is that record itself (a strategy that matches its backtest),
"weak" its first 20 returns (too few to judge), "bad" the same record with the mean dropped
(CUSUM)."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from otonom_trader.adapters.journal import Journal
from tests.helpers import REPO, run_cli
from tests.test_daemon import git, make_prod_repo, production

TODAY = datetime.now(UTC).date()
ROLLOUT = {"min_periods": 30, "haircut": 0.25, "min_psr": 0.95, "rollback_psr": 0.05,
           "confidence": 0.95, "min_days_shadow": 7, "min_days_live": 7}


def _params(**rollout) -> str:
    data = yaml.safe_load((REPO / "params.yaml").read_text())
    data["rollout"] = {**ROLLOUT, **rollout}
    return yaml.safe_dump(data)


def _journal(url: str, equity) -> str:
    from sqlalchemy import insert

    from otonom_trader.adapters.journal_models import EQUITY

    j = Journal(url)
    with j.engine.begin() as c:
        c.execute(insert(EQUITY), [{"deployment": "baseline_v1", "bar_time": t.to_pydatetime(),
                                    "equity": float(v)} for t, v in equity.items()])
    j.close()
    return url


@pytest.fixture(scope="module")
def journals(tmp_path_factory):
    from otonom_trader.domain.strategy_loader import load_strategy
    from otonom_trader.engine.backtest import backtest
    from otonom_trader.engine.data import load_bars

    tmp = tmp_path_factory.mktemp("journals")
    strategy = load_strategy(REPO / "strategies" / "baseline_v1.yaml")
    equity = backtest(strategy, load_bars("SPX"), symbol="SPX", start="2016-01-01",
                      end="2018-12-31").equity
    returns = equity.pct_change().fillna(0.0)
    bad = (1 + returns - 2 * returns.std()).cumprod() * equity.iloc[0]
    return {"good": _journal(f"sqlite:///{tmp}/good.db", equity),
            "weak": _journal(f"sqlite:///{tmp}/weak.db", equity.iloc[:21]),
            "bad": _journal(f"sqlite:///{tmp}/bad.db", bad)}


def _repo(tmp_path: Path, monkeypatch, params: str | None = None, **entry) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    repo, _ = make_prod_repo(tmp_path)
    entry.setdefault("since", str(TODAY - timedelta(days=30)))
    (repo / "deployments" / "production.yaml").write_text(production(**entry))
    (repo / "params.yaml").write_text(params or _params())
    (repo / ".gitignore").write_text("/.otonom/\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "setup")
    git(repo, "push", "-q", "origin", "main")
    for var in ("GITHUB_TOKEN", "GITHUB_REPOSITORY", "OTONOM_DB", "OTONOM_JOURNAL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(repo)
    return repo


def _at(repo: Path, rev: str, path: str) -> str:
    return git(repo, "show", f"{rev}:{path}")


def test_advance_opens_a_pull_request_with_its_evidence(tmp_path, monkeypatch, capsys,
                                                        journals, forge_standin):
    repo = _repo(tmp_path, monkeypatch)
    monkeypatch.setenv("GITHUB_TOKEN", forge_standin.token)
    code, out, err = run_cli(["rollout", "advance", "baseline_v1", "--journal",
                              journals["good"], "--forge-url", forge_standin.url,
                              "--repo", "acme/strategies"], capsys)
    assert code == 0, err
    assert "shadow → live10; monitor verdict advance, 30 day(s) in shadow" in out
    branch = "rollout/baseline_v1-advance-live10"
    (pull,) = forge_standin.pulls["acme/strategies"]
    assert pull["head"]["ref"] == branch and pull["base"]["ref"] == "main"
    assert pull["title"] == "rollout: advance baseline_v1 shadow → live10"
    assert "**Monitor verdict: `advance`**" in pull["body"] and "| days in shadow | 30 |" in \
        pull["body"]
    assert "Pull request #1 opened" in out
    entry = yaml.safe_load(_at(repo, f"origin/{branch}", "deployments/production.yaml"))[
        "strategies"][0]
    assert (entry["stage"], entry["capital_pct"], entry["since"]) == ("live", 10, TODAY)
    rel = f"deployments/evidence/baseline_v1/{TODAY:%Y%m%d}-advance-live10.json"
    ev = json.loads(_at(repo, f"origin/{branch}", rel))
    assert ev["monitor"]["verdict"] == "advance" and ev["monitor"]["returns"] == 753
    assert ev["thresholds"] == ROLLOUT and ev["last_bar"].startswith("2018-12-31")
    assert (ev["from"]["step"], ev["to"]["step"], ev["days_in_stage"]) == ("shadow", "live10",
                                                                           30)
    # back on main, nothing left over; main itself unchanged
    assert git(repo, "branch", "--show-current") == "main"
    assert git(repo, "status", "--porcelain") == ""
    assert "stage: shadow" in (repo / "deployments" / "production.yaml").read_text()


@pytest.mark.parametrize("journal, since, needles", [
    ("weak", 30, ["monitor verdict `inconclusive`", "10 more needed"]),
    ("bad", 30, ["monitor verdict `rollback`", "CUSUM alarm"]),
    ("good", 3, ["3 day(s) in shadow", "the stage needs 7 (rollout.min_days_shadow)"]),
    ("good", None, ["no `since` date"]),
])
def test_weak_advance_is_refused_with_the_reasons(tmp_path, monkeypatch, capsys, journals,
                                                  journal, since, needles):
    entry = {"since": None if since is None else str(TODAY - timedelta(days=since))}
    repo = _repo(tmp_path, monkeypatch, **entry)
    if since is None:
        text = (repo / "deployments" / "production.yaml").read_text()
        (repo / "deployments" / "production.yaml").write_text(text.replace("  since: null\n",
                                                                           ""))
        git(repo, "commit", "-qam", "no since")
    code, out, err = run_cli(["rollout", "advance", "baseline_v1", "--journal",
                              journals[journal]], capsys)
    assert code == 1 and "advance of baseline_v1 refused" in err
    for needle in needles:
        assert needle in out
    assert "rollout/" not in git(repo, "branch", "--all")


def test_rollback_halt_resume_save_the_body_without_a_forge(tmp_path, monkeypatch, capsys,
                                                            journals):
    repo = _repo(tmp_path, monkeypatch, stage="live", capital_pct=50)
    for argv, branch, want in (
            (["rollback"], "baseline_v1-rollback-live10", {"stage": "live", "capital_pct": 10}),
            (["rollback", "--to-shadow"], "baseline_v1-rollback-shadow",
             {"stage": "shadow", "capital_pct": 0}),
            (["halt"], "baseline_v1-halt-live50", {"stage": "live", "halt": True})):
        code, out, err = run_cli(["rollout", *argv, "baseline_v1", "--journal",
                                  journals["bad"]], capsys)
        assert code == 0, err
        assert f"Pull request body saved: .otonom/pr/{branch}.md" in out
        body = (repo / ".otonom" / "pr" / f"{branch}.md").read_text()
        assert "**Monitor verdict: `rollback`**" in body
        entry = yaml.safe_load(_at(repo, f"origin/rollout/{branch}",
                                   "deployments/production.yaml"))["strategies"][0]
        assert {k: entry.get(k) for k in want} == want
        if "halt" not in want:
            assert entry["since"] == TODAY
    git(repo, "merge", "-q", "origin/rollout/baseline_v1-halt-live50")
    code, out, err = run_cli(["rollout", "resume", "baseline_v1", "--journal",
                              journals["bad"]], capsys)
    assert code == 0, err
    entry = yaml.safe_load(_at(repo, "rollout/baseline_v1-resume-live50",
                               "deployments/production.yaml"))["strategies"][0]
    assert entry["halt"] is False


def test_bad_input_is_one_line_exit_2(tmp_path, monkeypatch, capsys, journals):
    cases = [
        ({"stage": "live", "capital_pct": 100}, None, "advance", "baseline_v1",
         "already runs live at 100%"),
        ({}, None, "rollback", "baseline_v1", "nothing below it to roll back to"),
        ({}, None, "advance", "nope", "NAME 'nope': not a strategy of"),
        ({}, None, "advance", "../x", "NAME"),
        ({}, _params(min_days_shadow=-1), "advance", "baseline_v1",
         "`rollout.min_days_shadow` -1 is out"),
        ({}, _params(min_psr=2), "advance", "baseline_v1", "`rollout.min_psr` 2 is out of range"),
        ({}, _params(min_dayz=2), "advance", "baseline_v1", "unknown key `rollout.min_dayz`"),
        ({}, None, "resume", "baseline_v1", "baseline_v1 is not halted"),
    ]
    for i, (entry, params, action, name, needle) in enumerate(cases):
        _repo(tmp_path / str(i), monkeypatch, params, **entry)
        code, _, err = run_cli(["rollout", action, "--journal", journals["good"], "--", name],
                               capsys)
        assert code == 2 and needle in err and len(err.strip().splitlines()) == 1, (name, err)
    code, _, err = run_cli(["rollout", "advance", "--production", "../p.yaml",
                            "baseline_v1"], capsys)
    assert code == 2 and "--production '../p.yaml': must stay inside" in err
    repo = _repo(tmp_path / "dirty", monkeypatch)
    (repo / "deployments" / "production.yaml").write_text(production(capital_pct=10))
    code, _, err = run_cli(["rollout", "advance", "baseline_v1", "--journal",
                            journals["good"]], capsys)
    assert code == 2 and "uncommitted changes" in err


# ---------------------------------------------------------------- the gate


def _validate(repo: Path, capsys, *extra) -> tuple[int, dict]:
    code, out, err = run_cli(["validate", "--changed", "--base", "main", "--json", *extra],
                             capsys)
    assert code in (0, 1), err
    data = json.loads(out)
    (row,) = [c for s in data["strategies"] for c in s["checks"]
              if c["gate"] == "rollout_evidence"]
    return code, row


def test_gate_passes_a_good_advance_and_refuses_a_weak_one(tmp_path, monkeypatch, capsys,
                                                           journals):
    repo = _repo(tmp_path, monkeypatch)
    code, _, err = run_cli(["rollout", "advance", "baseline_v1", "--journal",
                            journals["good"]], capsys)
    assert code == 0, err
    git(repo, "checkout", "-q", "rollout/baseline_v1-advance-live10")
    code, row = _validate(repo, capsys)
    assert code == 0 and row["status"] == "pass" and row["value"] == "advance"
    assert row["detail"].startswith("source: the committed evidence deployments/evidence/")
    # Where CI reaches the journal, the evidence is recomputed: this one has since collapsed.
    monkeypatch.setenv("OTONOM_JOURNAL", journals["bad"])
    code, row = _validate(repo, capsys)
    assert code == 1 and row["status"] == "fail" and row["value"] == "rollback"
    assert row["detail"].startswith("source: recomputed from the journal (OTONOM_JOURNAL)")
    assert "CUSUM alarm" in row["detail"]
    monkeypatch.setenv("OTONOM_JOURNAL", journals["good"])
    assert _validate(repo, capsys)[1]["status"] == "pass"
    # An unreachable journal fails the gate, and its URL's password never reaches the report.
    monkeypatch.setenv("OTONOM_JOURNAL", "postgresql://ci:hunter22@127.0.0.1:1/journal")
    code, row = _validate(repo, capsys, "--report-md", str(tmp_path / "v.md"))
    assert code == 1 and row["status"] == "fail" and "cannot read the evidence" in row["detail"]
    assert "hunter22" not in json.dumps(row) + (tmp_path / "v.md").read_text()
    monkeypatch.delenv("OTONOM_JOURNAL")
    # Committed evidence whose figures do not meet params.yaml's thresholds fails.
    (repo / "params.yaml").write_text(_params(haircut=0.5))
    git(repo, "commit", "-qam", "stricter")
    code, row = _validate(repo, capsys)
    assert code == 1 and "are not params.yaml's rollout" in row["detail"]
    (rel,) = [p for p in git(repo, "ls-files").splitlines() if "evidence" in p]
    ev = json.loads((repo / rel).read_text())
    ev["thresholds"]["haircut"] = 0.5
    ev["monitor"].update(verdict="hold", psr=0.915)
    (repo / rel).write_text(json.dumps(ev))
    git(repo, "commit", "-qam", "hold")
    code, row = _validate(repo, capsys)
    assert code == 1 and row["value"] == "hold"
    assert "verdict `hold`, not `advance`" in row["detail"] and "PSR 0.915 <" in row["detail"]


def test_gate_fails_closed_without_evidence_unless_waived(tmp_path, monkeypatch, capsys):
    repo = _repo(tmp_path, monkeypatch)
    git(repo, "checkout", "-qb", "by-hand")
    (repo / "deployments" / "production.yaml").write_text(
        production(stage="live", capital_pct=10, since=str(TODAY)))
    git(repo, "commit", "-qam", "straight to live by hand")
    code, row = _validate(repo, capsys)
    assert code == 1 and row["status"] == "fail" and "no advance evidence file" in row["detail"]
    data = yaml.safe_load((repo / "params.yaml").read_text())
    data["gates"]["waive"].append("baseline_v1:rollout_evidence")
    (repo / "params.yaml").write_text(yaml.safe_dump(data))
    git(repo, "commit", "-qam", "waive")
    code, row = _validate(repo, capsys)
    assert code == 0 and row["status"] == "waived"


# ---------------------------------------------------------------- the fail-safe


def test_failsafe_halts_at_once_and_opens_the_rollback_pull_request(tmp_path, monkeypatch):
    from otonom_trader.app.production.daemon import Daemon
    from tests.test_daemon import config

    # A live strategy held to a strict floor: the first verdict (30 returns) rolls it back.
    repo = _repo(tmp_path, monkeypatch, _params(rollback_psr=0.9), stage="live",
                 capital_pct=50)
    cfg = config(repo, tmp_path, "replay:SPX:2016-02-01:2016-06-10")
    cfg.fetch_every = 3600.0  # the merge below lands on the local branch the daemon follows
    cfg.failsafe_prs = True  # a replay stands in for a live feed here
    d = Daemon(cfg)
    try:
        d.start()
        while not d.exhausted() and "baseline_v1" not in d._failsafe:
            d.tick()
        events = d.journal.events("baseline_v1", limit=50)
        kinds = [e["kind"] for e in events]
        assert "failsafe_halt" in kinds and "failsafe_pr" in kinds, kinds
        halted_at = d._last_bar["baseline_v1"]
        pr = next(e["message"] for e in events if e["kind"] == "failsafe_pr")
        assert "rollback live50 → live10 on rollout/baseline_v1-rollback-live10" in pr
        assert "no pull request opened (the body is in .otonom/pr/" in pr
        assert git(repo, "ls-remote", "origin", "rollout/baseline_v1-rollback-live10")
        assert git(repo, "branch", "--show-current") == "main"
        while not d.exhausted():
            d.tick()
        later = [o for o in d.journal.orders("baseline_v1")
                 if o["bar_time"] > halted_at.to_pydatetime()]
        # reduce-only from the halt on: the engine's exit of the open trade is sent, its
        # next entry (2016-06-03) is not
        assert [o["reason"] for o in later] == ["take_profit"], (halted_at, later)
        assert any("the fail-safe's local halt (reduce-only): entry on 2016-06-03" in
                   e["message"] for e in d.journal.events("baseline_v1", limit=200))
        assert "failsafe_cleared" not in [e["kind"] for e in d.journal.events(
            "baseline_v1", limit=200)]
        # Git rules: merging the rollback changes the entry, which lifts the local halt.
        git(repo, "merge", "-q", "origin/rollout/baseline_v1-rollback-live10")
        git(repo, "push", "-q", "origin", "main")
        d.tick()
        assert "failsafe_cleared" in [e["kind"] for e in d.journal.events("baseline_v1",
                                                                          limit=200)]
    finally:
        d.close()


@pytest.mark.slow
def test_failsafe_pull_request_failure_is_an_event(tmp_path, monkeypatch):
    from otonom_trader.app.production.daemon import Daemon
    from tests.test_daemon import config

    repo = _repo(tmp_path, monkeypatch, _params(rollback_psr=0.9), stage="live",
                 capital_pct=50)
    subprocess.run(["git", "branch", "rollout/baseline_v1-rollback-live10"], cwd=repo,
                   check=True)
    cfg = config(repo, tmp_path, "replay:SPX:2016-01-01:2016-03-31")
    cfg.failsafe_prs = True  # a replay stands in for a live feed here
    d = Daemon(cfg)
    try:
        d.start()
        while not d.exhausted():
            d.tick()
        kinds = [e["kind"] for e in d.journal.events("baseline_v1", limit=200)]
        assert "failsafe_halt" in kinds and "failsafe_pr_failed" in kinds
        assert d._failsafe  # still halted locally
    finally:
        d.close()


def test_a_replay_halts_but_pushes_no_branch(tmp_path, monkeypatch):
    """A replay is a simulation: the fail-safe halts locally and says why it opens no pull
    request; nothing reaches the origin (`make demo` on a fresh clone pushes nothing)."""
    from otonom_trader.app.production.daemon import Daemon
    from tests.test_daemon import config

    repo = _repo(tmp_path, monkeypatch, _params(rollback_psr=0.9), stage="live",
                 capital_pct=50)
    d = Daemon(config(repo, tmp_path, "replay:SPX:2016-02-01:2016-06-10"))
    try:
        d.start()
        while not d.exhausted() and "baseline_v1" not in d._failsafe:
            d.tick()
        kinds = [e["kind"] for e in d.journal.events("baseline_v1", limit=50)]
        assert "failsafe_halt" in kinds and "failsafe_pr_skipped" in kinds
        assert "failsafe_pr" not in kinds
    finally:
        d.close()
    branches = subprocess.run(["git", "branch", "--list", "rollout/*"], cwd=repo,
                              capture_output=True, text=True, check=True).stdout
    assert branches.strip() == ""


def test_stage_days_parse(tmp_path):
    from otonom_trader.app.production.monitor import StageDays, stage_days_from

    p = tmp_path / "p.yaml"
    p.write_text(yaml.safe_dump({"rollout": {"min_days_shadow": 14}}))
    assert stage_days_from(p) == StageDays(14, 7) and StageDays().needed("live") == 7
    assert stage_days_from(tmp_path / "none.yaml") == StageDays()
    assert isinstance(TODAY, date)


def test_pr_open_finishes_a_rollout_whose_pull_request_was_not_opened(
        tmp_path, monkeypatch, capsys, journals, forge_standin):
    _repo(tmp_path, monkeypatch)
    code, out, err = run_cli(["rollout", "halt", "baseline_v1", "--journal", journals["weak"]],
                             capsys)
    assert code == 0 and "no pull request opened: GITHUB_TOKEN is not set" in out, err
    monkeypatch.setenv("GITHUB_TOKEN", forge_standin.token)
    code, out, err = run_cli(["pr", "open", "rollout/baseline_v1-halt-shadow", "--forge-url",
                              forge_standin.url, "--repo", "acme/strategies"], capsys)
    assert code == 0, err
    (pull,) = forge_standin.pulls["acme/strategies"]
    assert pull["title"] == "rollout: halt baseline_v1 (reduce-only)"
    assert "**Monitor verdict: `inconclusive`**" in pull["body"]


@pytest.mark.slow
def test_demo_production_runs_and_advances_honestly(tmp_path):
    import os
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "OTONOM_"))}
    done = subprocess.run(["bash", "tools/demo_production.sh"], cwd=REPO, capture_output=True,
                          text=True, env={**env, "PY": sys.executable, "TMPDIR": str(tmp_path)},
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "monitor verdict hold" in out and "refused (exit 1)" in out  # haircut 0.5
    assert "monitor verdict advance" in out  # haircut 0.25, stated
    assert "refs/heads/rollout/baseline_v1-advance-live10" in out
    assert "1 of 1 strategy passed every gate" in out and "committed evidence" in out
