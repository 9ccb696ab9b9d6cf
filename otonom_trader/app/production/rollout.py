"""Use case: ``otonom rollout advance|rollback|halt|resume NAME``: a pull request that moves
one strategy along the rollout ladder of ``deployments/production.yaml`` (shadow → live 10 →
50 → 100), or halts it (reduce-only), with the monitor's evidence in the body and in a file
committed beside it (``deployments/evidence/<name>/<YYYYMMDD>-<action>-<step>.json``).

An advance needs the stage's minimum days (``rollout.min_days_shadow``/``min_days_live``
since the entry's ``since``) and the monitor's verdict ``advance``; otherwise it is refused
with the reasons. Rollback and halt need no evidence (they are the safe direction) but carry
it. Git stays the source of truth: merging the pull request is the rollout."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from otonom_trader.domain.deployment import PRODUCTION_FILE, DeploymentEntry
from otonom_trader.domain.errors import InputError
from otonom_trader.domain.names import check_name, inside

ACTIONS = ("advance", "rollback", "halt", "resume")
LADDER = (("shadow", 0), ("live", 10), ("live", 50), ("live", 100))
EVIDENCE_DIR = "deployments/evidence"


def step_of(stage: str, capital_pct: float) -> int:
    """The entry's rung on ``LADDER`` (paper counts as shadow)."""
    if stage != "live":
        return 0
    return next(i for i, (_, pct) in enumerate(LADDER) if pct == capital_pct)


def step_label(step: int) -> str:
    stage, pct = LADDER[step]
    return stage if stage != "live" else f"live{pct}"


def evidence_path(name: str, day: date, action: str, step: int) -> str:
    return f"{EVIDENCE_DIR}/{name}/{day:%Y%m%d}-{action}-{step_label(step)}.json"


@dataclass(frozen=True)
class RolloutRequest:
    action: str
    name: str
    to_shadow: bool = False  # rollback straight to shadow
    journal_url: str | None = None
    production: str = PRODUCTION_FILE
    params_path: str = "params.yaml"
    data_dir: str = "data"
    remote: str = "origin"
    forge_url: str | None = None
    repo: str | None = None
    today: date | None = None  # UTC today unless given (tests)
    trigger: str = "otonom rollout"  # who asked: the command, or the daemon's fail-safe


@dataclass(frozen=True)
class RolloutOutcome:
    action: str
    name: str
    from_step: str
    to_step: str
    evidence: dict[str, Any]
    refused: tuple[str, ...] = ()  # why an advance is refused (nothing was written)
    branch: str | None = None
    evidence_path: str | None = None
    change: Any = None  # app.publishing.change_request.ChangeOutcome


def _entry(production_text: str, name: str, label: str) -> DeploymentEntry:
    from otonom_trader.domain.deployment import load_deployment_text

    for e in load_deployment_text(production_text, f"{label}: ").entries:
        if e.name == name:
            return e
    raise InputError(f"NAME {name!r}: not a strategy of {label}")


def _target(req: RolloutRequest, e: DeploymentEntry) -> tuple[int, int, dict[str, Any]]:
    """(from step, to step, changes to the entry); bad moves are ``InputError``."""
    now = step_of(e.stage, e.capital_pct)
    if req.to_shadow and req.action != "rollback":
        raise InputError("--to-shadow: only with `rollout rollback`")
    if req.action == "advance":
        if now == len(LADDER) - 1:
            raise InputError(f"{req.name} already runs live at 100%: there is no step to "
                             "advance to")
        to = now + 1
    elif req.action == "rollback":
        if now == 0:
            raise InputError(f"{req.name} is in {e.stage}: there is nothing below it to roll "
                             "back to (halt it, or remove it from the production file)")
        to = 0 if req.to_shadow else now - 1
    else:
        want = req.action == "halt"
        if e.halt == want:
            raise InputError(f"{req.name} is {'already' if want else 'not'} halted")
        return now, now, {"halt": want}
    stage, pct = LADDER[to]
    return now, to, {"stage": stage, "capital_pct": pct}


def _refusals(e: DeploymentEntry, row: dict, days: int | None, needed: int) -> list[str]:
    why = []
    if row["verdict"] != "advance":
        why += [f"monitor verdict `{row['verdict']}`, not `advance`: {r}" for r in row["reasons"]]
    if days is None:
        why.append(f"no `since` date in the production entry: the days in {e.stage} are "
                   "unknown")
    elif days < needed:
        why.append(f"{days} day(s) in {e.stage} since {e.since}; the stage needs {needed} "
                   f"(rollout.min_days_{'live' if e.stage == 'live' else 'shadow'})")
    if e.halt:
        why.append("the strategy is halted: resume it first")
    return why


def build_evidence(req: RolloutRequest, e: DeploymentEntry, row: dict, thresholds, stage_days,
                   last_bar, today: date, from_step: int, to_step: int) -> dict[str, Any]:
    """The evidence file's object: the monitor's row, the thresholds, the move, the days
    in stage and the journal's last bar."""
    days = (today - e.since).days if e.since else None
    return {
        "strategy": req.name, "action": req.action, "date": today.isoformat(),
        "trigger": req.trigger,
        "from": {"step": step_label(from_step), "stage": e.stage,
                 "capital_pct": e.capital_pct, "since": e.since and e.since.isoformat(),
                 "halt": e.halt},
        "to": {"step": step_label(to_step), "stage": LADDER[to_step][0],
               "capital_pct": LADDER[to_step][1]},
        "days_in_stage": days, "min_days": stage_days.needed(e.stage),
        "thresholds": {**asdict(thresholds), **asdict(stage_days)},
        "last_bar": last_bar.isoformat() if last_bar is not None else None,
        "monitor": row,
    }


def body_of(ev: dict[str, Any], refused: tuple[str, ...] = ()) -> str:
    """The pull request's body: the move, the verdict and its reasons, the figures."""
    m = ev["monitor"]

    def num(v, spec=".3f"):
        return "n/a" if v is None else format(v, spec)

    lines = [f"## Rollout: {ev['action']} `{ev['strategy']}` {ev['from']['step']} → "
             f"{ev['to']['step']}", "",
             f"Requested by {ev['trigger']} on {ev['date']} (UTC). Merging this pull request "
             "changes `deployments/production.yaml`; the daemon follows it.", "",
             f"**Monitor verdict: `{m['verdict']}`** (expected from the {m['expected_source']})",
             "", *(f"- {r}" for r in m["reasons"]), "",
             "| figure | live | expected / bound |", "|---|---|---|",
             f"| returns | {m['returns']} | MinTRL {num(m['min_track_record'], '.0f')} |",
             f"| Sharpe (annualised) | {num(m['live_sharpe'], '.2f')} | "
             f"{num(m['expected_sharpe'], '.2f')} |",
             f"| PSR vs haircut | {num(m['psr'])} | ≥ {ev['thresholds']['min_psr']} |",
             f"| drawdown | {num(m['drawdown'], '.2%')} | {num(m['drawdown_bound'], '.2%')} |",
             f"| CUSUM alarm | {'—' if m['cusum_alarm_at'] is None else m['cusum_alarm_at'] + 1}"
             " | none |",
             f"| days in {ev['from']['stage']} | {ev['days_in_stage']} | ≥ {ev['min_days']} |",
             f"| trades / win rate | {m['trades']} / {num(m['win_rate'], '.0%')} | "
             f"{num(m['expected_win_rate'], '.0%')} |", "",
             f"Journal's last bar: {ev['last_bar'] or 'none'}. Thresholds: `rollout:` of "
             "params.yaml, as in the committed evidence file."]
    if refused:
        lines += ["", "**Refused:**", *(f"- {r}" for r in refused)]
    return "\n".join(lines) + "\n"


def rollout(req: RolloutRequest, cwd: str | Path = ".", report=None) -> RolloutOutcome:
    """Check the move, gather the evidence (``report``: a ``StrategyMonitor`` already
    computed, e.g. by the daemon; else ``monitor()`` over the journal), and open the pull
    request. A refused advance writes nothing and says why."""
    from otonom_trader.adapters.git_repo import GitRepo
    from otonom_trader.adapters.journal import Journal
    from otonom_trader.app.production.monitor import monitor, stage_days_from, thresholds_from
    from otonom_trader.app.publishing.change_request import open_change, refuse_dirty
    from otonom_trader.app.publishing.pull_request import check_forge_settings
    from otonom_trader.app.repository.deployment_file import with_entry_changes
    from otonom_trader.domain.json_text import dumps

    if req.action not in ACTIONS:
        raise InputError(f"ACTION {req.action!r}: expected one of {', '.join(ACTIONS)}")
    name = check_name(req.name, "NAME")
    check_forge_settings(req.forge_url, req.repo)
    today = req.today or datetime.now(UTC).date()
    with GitRepo(cwd) as git:
        prod = inside(git.root, req.production, "--production")
        if not prod.is_file():
            raise InputError(f"{req.production}: no such production file")
        text = prod.read_text(encoding="utf-8")
        e = _entry(text, name, req.production)
        params = inside(git.root, req.params_path, "--params")
        thresholds, stage_days = thresholds_from(params), stage_days_from(params)
        from_step, to_step, changes = _target(req, e)
        if changes.get("stage"):
            changes["since"] = today
        rel = evidence_path(name, today, req.action, to_step)
        refuse_dirty(git, [req.production, rel])
        if report is None:
            (report,) = monitor(req.journal_url, name, production=req.production,
                                data_dir=req.data_dir, params_path=req.params_path)
        journal = Journal(req.journal_url)
        try:
            last_bar = journal.last_bar(name)
        finally:
            journal.close()
        ev = build_evidence(req, e, report.as_dict(), thresholds, stage_days, last_bar, today,
                            from_step, to_step)
        moves = (step_label(from_step), step_label(to_step))
        if req.action == "advance":
            refused = tuple(_refusals(e, ev["monitor"], ev["days_in_stage"], ev["min_days"]))
            if refused:
                return RolloutOutcome(req.action, name, *moves, ev, refused)
        files = {req.production: with_entry_changes(text, name, **changes),
                 rel: dumps(ev, indent=2) + "\n"}
        detail = {"halt": "(reduce-only)", "resume": "(halt lifted)"}.get(
            req.action, f"{moves[0]} → {moves[1]}")
        title = f"rollout: {req.action} {name} {detail}"
        branch_name = f"{name}-{req.action}-{moves[1]}"
        change = open_change(git, name=branch_name, branch=f"rollout/{branch_name}",
                             files=files, message=f"{title}\n\nEvidence: {rel}", title=title,
                             body=body_of(ev), remote=req.remote, forge_url=req.forge_url,
                             repo=req.repo)
    return RolloutOutcome(req.action, name, *moves, ev, (), change.branch, rel, change)
