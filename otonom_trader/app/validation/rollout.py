"""The rollout gate of ``otonom validate --changed``: an entry of deployments/production.yaml
whose rollout step went up against ``--base`` needs its evidence to meet the ``rollout:``
thresholds of params.yaml.

With ``OTONOM_JOURNAL`` set (CI can reach the daemon's journal) the evidence is recomputed
with ``monitor()``; otherwise the committed evidence file
(``deployments/evidence/<name>/*-advance-*.json`` in the change) is checked: verdict
``advance``, figures that meet the thresholds, the thresholds as in params.yaml, the move and
the days in stage. No evidence file fails (waivable as ``rollout_evidence``)."""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from otonom_trader.app.validation.checks import FAIL, PASS, Check, Context, missing
from otonom_trader.domain.deployment import Deployment, DeploymentEntry
from otonom_trader.domain.errors import OtonomError

GATE = "rollout_evidence"
JOURNAL_ENV = "OTONOM_JOURNAL"
MAX_EVIDENCE_BYTES = 1_000_000


def advanced(base: Deployment | None, head: Deployment
             ) -> list[tuple[DeploymentEntry, DeploymentEntry | None, int, int]]:
    """(head entry, base entry or None, from step, to step) of every entry whose rollout step
    went up (a new entry counts as coming from shadow)."""
    from otonom_trader.app.production.rollout import step_of

    before = {e.name: e for e in base.entries} if base else {}
    out = []
    for e in head.entries:
        old = before.get(e.name)
        frm = step_of(old.stage, old.capital_pct) if old else 0
        to = step_of(e.stage, e.capital_pct)
        if to > frm:
            out.append((e, old, frm, to))
    return out


def _figures_meet(row: dict[str, Any], thresholds) -> list[str]:
    """What in a monitor row fails the advance rule (empty: it meets the thresholds)."""
    why = []

    def num(key):
        v = row.get(key)
        return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else math.nan

    if row.get("verdict") != "advance":
        why.append(f"verdict `{row.get('verdict')}`, not `advance`")
    n, psr, trl = num("returns"), num("psr"), num("min_track_record")
    if not n >= thresholds.min_periods:
        why.append(f"{row.get('returns')} returns < rollout.min_periods {thresholds.min_periods}")
    if not psr >= thresholds.min_psr:
        why.append(f"PSR {row.get('psr')} < rollout.min_psr {thresholds.min_psr}")
    if not n >= trl:
        why.append(f"{row.get('returns')} returns < the minimum track record "
                   f"{row.get('min_track_record')}")
    if row.get("cusum_alarm_at") is not None:
        why.append(f"CUSUM alarm at period {row['cusum_alarm_at'] + 1}")
    if not num("drawdown") <= num("drawdown_bound"):
        why.append(f"drawdown {row.get('drawdown')} past its bound {row.get('drawdown_bound')}")
    return why


def _days(old: DeploymentEntry | None, on: date, stage_days) -> tuple[list[str], int | None]:
    stage = old.stage if old else "shadow"
    need = stage_days.needed(stage)
    if old is None or old.since is None:
        return [f"no `since` date for the stage it leaves at --base: days in {stage} "
                "unknown"], None
    days = (on - old.since).days
    return ([f"{days} day(s) in {stage} < {need}"] if days < need else []), days


def _read(path: str) -> dict[str, Any]:
    p = Path(path)
    if p.stat().st_size > MAX_EVIDENCE_BYTES:
        raise ValueError(f"larger than {MAX_EVIDENCE_BYTES:,} bytes")
    data = json.loads(p.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data


def rollout_check(e: DeploymentEntry, old: DeploymentEntry | None, frm: int, to: int,
                  changed: list[str], ctx: Context, *, production: str, params_path: str
                  ) -> Check:
    """The gate's row for one advanced entry."""
    from otonom_trader.app.production.monitor import monitor, stage_days_from, thresholds_from
    from otonom_trader.app.production.rollout import EVIDENCE_DIR, step_label

    label = f"rollout {step_label(frm)} → {step_label(to)}"
    thresholds, stage_days = thresholds_from(Path(params_path)), stage_days_from(
        Path(params_path))
    limit = f"advance, ≥ {stage_days.needed(old.stage if old else 'shadow')} days"
    folder = f"{EVIDENCE_DIR}/{e.name}/"
    files = sorted(p for p in changed if p.startswith(folder) and p.endswith(".json")
                   and "-advance-" in Path(p).name)
    if not files:
        return missing(GATE, label, f"no advance evidence file under {folder} in this change "
                       "(`otonom rollout advance` commits one)", ctx, e.name, limit)
    from otonom_trader.app.repository.paths import in_repo

    path = files[-1]
    why: list[str] = []
    row: dict[str, Any] = {}
    source = f"source: {path}"
    journal = os.environ.get(JOURNAL_ENV)
    try:
        ev = _read(in_repo(path, path))
        if journal:
            source = f"source: recomputed from the journal ({JOURNAL_ENV}); evidence {path}"
            (report,) = monitor(journal, e.name, production=production,
                                data_dir=ctx.data_dir, params_path=params_path)
            row, on = report.as_dict(), datetime.now(UTC).date()
        else:
            source = f"source: the committed evidence {path} (no {JOURNAL_ENV} to recompute)"
            row, on = ev.get("monitor") or {}, date.fromisoformat(str(ev.get("date")))
            if on > datetime.now(UTC).date():
                why.append(f"it is dated {on}, after today (UTC)")
            want = {**asdict(thresholds), **asdict(stage_days)}
            if ev.get("thresholds") != want:
                why.append(f"its thresholds {ev.get('thresholds')} are not params.yaml's "
                           f"rollout: {want}")
        steps = ((ev.get("from") or {}).get("step"), (ev.get("to") or {}).get("step"))
        if ev.get("action") != "advance" or steps != (step_label(frm), step_label(to)):
            why.append(f"it records {ev.get('action')} {steps[0]} → {steps[1]}, not this "
                       f"change's advance {step_label(frm)} → {step_label(to)}")
        why += _figures_meet(row, thresholds)
        late, _ = _days(old, on, stage_days)
        why += late
    except (OSError, ValueError, TypeError, AttributeError, OtonomError) as exc:
        why.append(f"cannot read the evidence: {exc}")
    verdict = row.get("verdict")
    verdict = verdict if isinstance(verdict, str) and len(verdict) <= 20 else None
    return Check(GATE, label, FAIL if why else PASS, value=verdict, threshold="advance",
                 shown=str(verdict), limit=limit,
                 detail="; ".join(_short(x) for x in [source, *why]))


def _short(text: str, limit: int = 300) -> str:
    """A reason as shown in the report (a pull-request comment): the journal's URL never
    shows, and evidence files are user input, bounded here."""
    from otonom_trader.domain.redact import redact

    text = redact(text, *filter(None, [os.environ.get(JOURNAL_ENV)]))
    return text if len(text) <= limit else text[:limit - 3] + "..."
