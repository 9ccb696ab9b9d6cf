"""Use case: promote an experiment's best run to a strategy version, on a branch, for review.

``build_promotion`` selects the run and renders the strategy file (nothing is written);
``promote`` checks the repository, saves the pull request's body, writes the strategy file
and the STRATEGY_LOG.md entry (and the production change with ``deploy``), commits them on
``promote/<name>``, returns to the original branch, then pushes and opens the pull request
(``app.publishing.pull_request``). Nothing is half-written: until the commit exists, a failure
removes what was written and the branch; a kill leaves a journal (``app.promotion.journal``)
from which re-running the command, or ``promote --resume NAME``, finishes or rolls back.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from otonom_trader.adapters.store import ExperimentInfo, ExperimentStore
from otonom_trader.app.promotion.gates import check_run_gates, load_gates
from otonom_trader.app.promotion.model import Promotion
from otonom_trader.app.publishing.change_request import refuse_dirty, rollback, write_file
from otonom_trader.app.repository.strategy_file import (
    STRATEGIES_DIR,
    changed_values,
    plain,
    render_strategy,
)
from otonom_trader.domain.errors import GitStateError, InputError, RunError
from otonom_trader.domain.metrics import METRIC_KEYS
from otonom_trader.domain.names import check_name
from otonom_trader.domain.objectives import objectives_of
from otonom_trader.domain.split import ALL_SPLIT_KEYS
from otonom_trader.domain.strategy import Strategy
from otonom_trader.domain.strategy_loader import (
    apply_overrides,
    get_value,
    load_strategy,
    strategy_from_mapping,
    strategy_from_text,
    strategy_hash,
)
from otonom_trader.engine.selection import (
    overfitting_stats,
    select_metric,
    select_run,
    selection_rule,
)

__all__ = ["PromoteOutcome", "PromoteRequest", "Promotion", "PromotionSummary", "ResumeOutcome",
           "branch_for", "build_promotion", "log_entry", "promote", "resume_promotion"]

@dataclass(frozen=True)
class PromoteRequest:
    experiment_id: int | None
    output_name: str
    base_strategy: str | None
    select_by: str | None = None  # None: params.yaml experiment.select_by, else sharpe
    select_on: str | None = None  # test|train; None: params.yaml experiment.select_on, test
    expected_impact: str | None = None
    allow_overfit: bool = False
    force: bool = False
    deploy: bool = False
    db_url: str | None = None
    forge_url: str | None = None
    remote: str = "origin"
    repo: str | None = None  # owner/name on the forge (default: GITHUB_REPOSITORY, the remote)
    data_dir: str = "data"
    dvc_exp: str | None = None  # promote what this DVC experiment produced (its own store)
    command: str = ""  # the promote command as typed, for the pull request's reproduce block
    now: datetime | None = None  # promotion time (UTC); None = now
    walk_forward_id: int | None = None  # promote the last fold's selection of this walk-forward


def branch_for(name: str) -> str:
    return f"promote/{name}"


def _same_file(a: str, b: str) -> bool:
    if os.path.normpath(a) == os.path.normpath(b):
        return True
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return False


def _check_origin(info: ExperimentInfo, base: Strategy, base_path: str, force: bool
                  ) -> list[str]:
    """Was the experiment run on this base strategy (path and content)? Refuse, or warn
    with ``force``."""
    problems = []
    if not _same_file(info.strategy_path, base_path):
        problems.append(f"it ran on {info.strategy_path}, not {base_path}")
    if strategy_hash(base) != info.strategy_hash:
        problems.append(f"{base_path} has changed since (content hash differs)")
    if not problems:
        return []
    text = f"experiment {info.id} was not made from --base-strategy: " + "; ".join(problems)
    if not force:
        raise InputError(f"{text}; pass the experiment's strategy as --base-strategy, or "
                         "--force to promote onto this one anyway")
    return [f"{text} (--force)"]


def _metrics(result_metrics: dict) -> dict[str, float | int | None]:
    out = {}
    for key in METRIC_KEYS:
        v = plain(result_metrics[key])
        out[key] = int(v) if key == "n_trades" and v is not None else v
    return out


def _reproduction_notes(run, fresh: dict[str, dict], exp_id: int, force: bool) -> list[str]:
    """The store's metrics of ``run`` must equal a fresh backtest of the same strategy
    exactly (the engine is deterministic); a difference is refused unless ``force``."""
    for window in ("test", "train"):
        recorded = getattr(run, window)
        for key in METRIC_KEYS:
            a, b = recorded.get(key), fresh[window].get(key)
            if a == b:
                continue
            text = (f"the {window} metrics of run #{run.run_number} do not reproduce "
                    f"({key}: {a} in the store, {b} now): the strategy, the data or the "
                    f"engine changed since experiment {exp_id}")
            if not force:
                raise InputError(f"{text}; re-run the experiment, or pass --force")
            return [f"{text}; recorded the fresh values (--force)"]
    return []


def _load_base(path: str) -> tuple[Strategy, str]:
    strategy = load_strategy(path)  # StrategyError (exit 2) names the file and the problem
    return strategy, Path(path).read_text(encoding="utf-8")


@dataclass(frozen=True)
class _DvcBase:
    """The strategy file as a DVC experiment had it, and what it changed (``dvc exp run -S
    <file>:<key>=...``) against the repository's file: ``{dotted: (repository, experiment)}``."""

    strategy: Strategy
    text: str
    edits: dict[str, tuple[Any, Any]]


@dataclass(frozen=True)
class _DvcRun:
    """What ``--dvc-exp`` adds: the metadata's ``dvc_experiment``, the experiment's record
    (its metrics.json, committed with the promotion for ``validate``) and its strategy file."""

    record: dict
    evidence: dict[str, str]  # {repository path: text}
    base: _DvcBase | None  # None with an explicit --base-strategy


def _with_walk_forward(req: PromoteRequest) -> tuple[PromoteRequest, dict | None]:
    """With ``--walk-forward ID``: the last fold's experiment, selected as the walk-forward
    selected (best train metric), and the walk-forward's figures for the metadata."""
    if req.walk_forward_id is None:
        return req, None
    if req.experiment_id is not None or req.dvc_exp:
        raise InputError("--walk-forward: promotes the last fold's experiment; leave out "
                         "--experiment-id and --dvc-exp")
    with ExperimentStore(req.db_url) as store:
        record = store.walk_forward(req.walk_forward_id)
    settings, result = record["settings"], record["result"]
    metric = settings["select_by"]
    if req.select_on == "test" or (req.select_by and select_metric(req.select_by) != metric):
        raise InputError(f"--walk-forward {record['id']}: its folds were selected by the best "
                         f"train {metric}; leave out --select-by/--select-on")
    last = result["folds"][-1]
    figures = {"id": record["id"], "name": record["name"], "n_folds": len(result["folds"]),
               "train_years": settings["train_years"], "test_years": settings["test_years"],
               "step_years": settings["step_years"], "anchored": settings["anchored"],
               "gap_days": settings["gap_days"], "oos": result["oos"], "wfe": result["wfe"],
               "last_fold": {k: last[k] for k in ("fold", "experiment_id", "run_number",
                                                  "train_start", "train_end", "test_start",
                                                  "test_end")},
               "parameter_paths": {p: s["values"] for p, s in result["stability"].items()}}
    return replace(req, experiment_id=last["experiment_id"], select_by=metric,
                   select_on="train"), figures


def _with_dvc_experiment(req: PromoteRequest, root: Path
                         ) -> tuple[PromoteRequest, _DvcRun | None]:
    """With ``--dvc-exp``: the DVC experiment's own store (one otonom experiment, ID 1) and
    its strategy file, as it had it (``git show <exp-rev>:<file>``), become the defaults; the
    metadata records the DVC experiment."""
    if not req.dvc_exp:
        if req.experiment_id is None or not req.base_strategy:
            raise InputError("promote needs --experiment-id and --base-strategy (or --dvc-exp)")
        return req, None
    from otonom_trader.adapters.dvc_exp import materialise
    from otonom_trader.app.experiments.record import dvc_record_path

    exp = materialise(req.dvc_exp, repo=root)
    evidence = dvc_record_path(exp.experiment_name, exp.dvc_name)
    record = {"name": exp.dvc_name, "rev": exp.rev, "baseline": exp.baseline_rev,
              "params": exp.params, "record": evidence}
    base = None
    if not req.base_strategy:
        text = exp.strategy_file.read_text(encoding="utf-8")
        strategy = strategy_from_text(text, f"{exp.strategy_path} at {exp.rev[:7]}")
        edits: dict[str, tuple[Any, Any]] = {}
        try:
            current = load_strategy(root / exp.strategy_path)
        except (InputError, OSError):
            current = None  # deleted or broken since: nothing to compare with
        if current is not None:
            edits = _file_edits(current, strategy)
        base = _DvcBase(strategy, text, edits)
    req = replace(req, db_url=req.db_url or exp.store_url,
                  experiment_id=req.experiment_id or 1,
                  base_strategy=req.base_strategy or exp.strategy_path)
    metrics = json.dumps(exp.metrics, indent=2, ensure_ascii=False) + "\n" if exp.metrics else ""
    return req, _DvcRun(record, {evidence: metrics} if metrics else {}, base)


def _leaves(node: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(node, dict) or not node:
        return {prefix: node} if prefix else {}
    out: dict[str, Any] = {}
    for key, value in node.items():
        out.update(_leaves(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def _file_edits(current: Strategy, edited: Strategy) -> dict[str, tuple[Any, Any]]:
    """``{dotted: (current value, edited value)}`` for every parameter the two files set
    differently (name, description and metadata aside)."""
    a, b = _leaves(dict(current.raw)), _leaves(dict(edited.raw))
    edits: dict[str, tuple[Any, Any]] = {}
    for key in [*b, *(k for k in a if k not in b)]:
        if key.split(".")[0] in ("name", "description", "metadata") or a.get(key) == b.get(key):
            continue
        try:
            old, new = get_value(current, key), get_value(edited, key)
        except InputError:
            continue  # not a parameter path (e.g. a list item): shown in the file's diff only
        if old != new:
            edits[key] = (old, new)
    return edits


def _with_edits(changes: dict[str, tuple[Any, Any]], base: _DvcBase | None
                ) -> dict[str, tuple[Any, Any]]:
    """The run's changes plus the DVC experiment's edits of the strategy file, each against
    the repository's file (so the log and the pull request show ``-S`` values too)."""
    if base is None:
        return changes
    out = dict(changes)
    for key, (old, new) in base.edits.items():
        if key not in out:
            out[key] = (old, new)
        elif old != out[key][1]:  # the run changed an edited key: from the repository's value
            out[key] = (old, out[key][1])
        # else the run sets the repository's value back: still a change of the edited file
    return out


def build_promotion(req: PromoteRequest, root: Path, output_path: str | None = None
                    ) -> Promotion:
    """Select the run and render the new strategy file; writes nothing (except that the
    store may create an empty database at a new URL)."""
    from otonom_trader.engine.backtest import backtest
    from otonom_trader.engine.data import data_fingerprint, load_bars

    name = check_name(req.output_name, "--output-name")
    req, walk_forward = _with_walk_forward(req)
    req, dvc = _with_dvc_experiment(req, root)
    dvc_base = dvc.base if dvc else None
    parent, base_text = ((dvc_base.strategy, dvc_base.text) if dvc_base
                         else _load_base(req.base_strategy))
    rule = selection_rule(root / "params.yaml", req.select_by, req.select_on,
                          req.allow_overfit)
    if walk_forward is not None:  # the walk-forward's rule: no gap gate (the gates still apply)
        rule = replace(rule, allow_overfit=True)
    with ExperimentStore(req.db_url) as store:
        info = store.get(req.experiment_id)
        notes = _check_origin(info, parent, req.base_strategy, req.force)
        runs = store.runs_frame(info.id)
        selection = select_run(runs, info.id, rule, objectives_of(info.search))
        _, blocks = store.block_stats(info.id)
        from otonom_trader.app.experiments.refine import chain_runs

        ancestors = chain_runs(store, info)  # a refined grid: the whole chain's trials
    notes += list(selection.notes)
    run = selection.run
    if walk_forward is not None and run.run_number != walk_forward["last_fold"]["run_number"]:
        raise RunError(f"experiment {info.id}: run #{run.run_number} selected, the walk-forward "
                       f"recorded #{walk_forward['last_fold']['run_number']} (a bug: report it)")

    params = dict(run.params)
    if info.symbol and (parent.data.symbol or "").upper() != info.symbol.upper():
        params["data.symbol"] = info.symbol
    changes = _with_edits(changed_values(parent, params), dvc_base)
    variant = apply_overrides(parent, {path: new for path, (_, new) in changes.items()})

    bars = load_bars(info.symbol, req.data_dir, variant.data.on_bad_bars)
    if data_fingerprint(bars) != info.data_fingerprint:
        notes.append(f"the {info.symbol} data changed since experiment {info.id} "
                     "(fingerprint differs)")
    capital = info.initial_capital
    split = info.split

    def run_window(strategy: Strategy, window: str):
        return backtest(strategy, bars, symbol=info.symbol, start=split[f"{window}_start"],
                        end=split[f"{window}_end"], initial_capital=capital,
                        data_dir=req.data_dir)  # as `otonom backtest` runs it

    test = run_window(variant, "test")
    fresh = {"train": _metrics(run_window(variant, "train").metrics),
             "test": _metrics(test.metrics)}
    notes += _reproduction_notes(run, fresh, info.id, req.force)
    # What `otonom backtest` gives is recorded: the store's values up to rounding (checked).
    run = replace(run, train=fresh["train"], test=fresh["test"])
    selection = replace(selection, run=run)
    parent_metrics: dict[str, dict | None] = {}
    for window in ("train", "test"):
        try:
            parent_metrics[window] = _metrics(run_window(parent, window).metrics)
        except InputError as exc:
            parent_metrics[window] = None
            notes.append(f"parent {parent.name} on the {window} window: {exc}")
    overfitting, of_notes = overfitting_stats(runs, run, test.equity,
                                              info.periods_per_year, blocks,
                                              ancestors=ancestors)
    notes += of_notes
    # The hold-out window: never ranked; measured for this run only, now.
    holdout = (_metrics(run_window(variant, "holdout").metrics)
               if split.get("holdout_start") is not None else None)
    forced, gate_notes = check_run_gates(load_gates(root), run.test, overfitting.as_dict(),
                                         run.run_number, req.allow_overfit)
    notes += gate_notes

    promoted_at = (req.now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    metadata = {
        "parent": parent.name,
        "experiment": {"id": info.id, "name": info.name, "search": info.search,
                       "n_runs": info.total_runs},
        "run_number": run.run_number,
        "selected_by": rule.metric,
        "selected_on": rule.window,  # test: the test window was the selection window
        "symbol": info.symbol,
        "split": {k: split[k] for k in ALL_SPLIT_KEYS if split.get(k) is not None},
        "data_fingerprint": info.data_fingerprint,
        "initial_capital": float(capital),
        "train": run.train,
        "test": run.test,
        "holdout": holdout,
        "overfitting": overfitting.as_dict(),
        "promoted_at": promoted_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "expected_impact": req.expected_impact,
        "dvc_experiment": dvc.record if dvc else None,
    }
    if walk_forward is not None:
        metadata["walk_forward"] = walk_forward
    if forced:
        metadata["forced"] = {"flag": "--allow-overfit", "failed_gates": list(forced)}
    path = output_path or f"{STRATEGIES_DIR}/{name}.yaml"
    text = render_strategy(base_text, {p: new for p, (_, new) in changes.items()}, name,
                           metadata)
    strategy = _check_written(text, path, variant, name)
    return Promotion(name, path, text, strategy, parent, info, selection, changes, overfitting,
                     parent_metrics, capital, req.expected_impact, promoted_at, tuple(notes),
                     metadata, holdout=holdout, forced=forced,
                     evidence=dvc.evidence if dvc else {})


def _check_written(text: str, path: str, variant: Strategy, name: str) -> Strategy:
    """Load the rendered file as ``load_strategy`` would and check it is ``variant``."""
    strategy = strategy_from_text(text, path)
    expected = strategy_from_mapping({**dict(variant.raw), "name": name})
    if strategy_hash(strategy) != strategy_hash(expected):
        raise RunError(f"{path}: the rendered file differs from the selected parameters "
                       "(a bug: please report it)")
    return strategy


# ---------------------------------------------------------------- the git flow


@dataclass(frozen=True)
class PromotionSummary:
    """What the console shows of a promotion (plain data: the journal keeps it, so a resumed
    promotion shows the same)."""

    name: str
    path: str
    experiment_id: int
    run_number: int
    metric: str
    n_done: int
    train: dict
    test: dict
    overfitting: dict
    changes: list  # [dotted path, old, new]
    forced: list  # failed gates promoted with --allow-overfit
    notes: list
    selection: str = ""  # the rule's label, e.g. "test sharpe (selection window)"
    holdout: dict | None = None  # the run on the hold-out window

    @classmethod
    def of(cls, p: Promotion) -> PromotionSummary:
        sel = p.selection
        return cls(p.name, p.path, p.experiment.id, sel.run.run_number, sel.metric, sel.n_done,
                   dict(sel.run.train), dict(sel.run.test), p.overfitting.as_dict(),
                   [[k, old, new] for k, (old, new) in p.changes.items()], list(p.forced),
                   list(p.notes), sel.rule.label, p.holdout)

    def as_dict(self) -> dict:
        from dataclasses import asdict

        return asdict(self)


@dataclass(frozen=True)
class PromoteOutcome:
    summary: PromotionSummary
    branch: str
    base_branch: str
    commit: str
    log_path: str
    deployment_path: str | None
    body_path: str
    publish: Any  # app.pull_request.PublishResult
    resumed: str | None = None  # what was done with an interrupted promotion of this name


@dataclass(frozen=True)
class ResumeOutcome:
    """``promote --resume NAME``: the finished promotion, or None when it had no commit and
    was rolled back."""

    name: str
    outcome: PromoteOutcome | None


def log_entry(p: Promotion):
    """The STRATEGY_LOG.md entry of a promotion: the workflow's lines, then the details."""
    from otonom_trader.app.repository.strategy_log import LogEntry

    sel, of, split = p.selection, p.overfitting, p.experiment.split

    def num(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.2f}"

    details = [f"**Details**: experiment {p.experiment.name}, run #{sel.run.run_number}, the "
               f"best {sel.rule.label} of {sel.n_done} done runs (train "
               f"{split['train_start']} → {split['train_end']}, test {split['test_start']} → "
               f"{split['test_end']}); train−test Sharpe gap {num(of.sharpe_gap)}, DSR "
               f"{num(of.dsr)}, PBO {num(of.pbo)} over {of.n_trials} trials"
               + (f"; {len(sel.skipped)} better run(s) skipped for a train−test Sharpe gap "
                  f"above {sel.max_gap:g}" if sel.skipped else "")]
    if p.forced:
        details.append("**Forced**: promoted with `--allow-overfit` although it fails the "
                       "params.yaml gates: " + "; ".join(p.forced))
    return LogEntry(p.name, p.promoted_at, p.parent.name, p.experiment.id, sel.run.test,
                    p.changes, p.expected_impact, tuple(details))


def _fingerprint(req: PromoteRequest) -> str:
    from otonom_trader.app.promotion.journal import request_fingerprint

    return request_fingerprint({k: getattr(req, k) for k in (
        "experiment_id", "output_name", "base_strategy", "select_by", "expected_impact",
        "allow_overfit", "force", "deploy", "db_url", "data_dir", "dvc_exp")})


def promote(req: PromoteRequest, cwd: str | Path = ".") -> PromoteOutcome:
    """The whole promotion: checks, files, commit on ``promote/<name>``, push, pull request.

    A promotion interrupted earlier (its journal in ``.otonom/promote/``) is finished when it
    has its commit, or rolled back and done again when it has not."""
    from otonom_trader.adapters.git_repo import GitRepo
    from otonom_trader.app.promotion.journal import JOURNAL_DIR, Journal
    from otonom_trader.app.promotion.texts import commit_message, pr_body, pr_title
    from otonom_trader.app.publishing.pull_request import (
        PR_DIR,
        check_forge_settings,
        remove_saved,
        save_body,
    )
    from otonom_trader.app.repository.deployment_file import with_shadow_entry
    from otonom_trader.app.repository.strategy_log import LOG_FILE, append_entry
    from otonom_trader.domain.deployment import PRODUCTION_FILE

    name = check_name(req.output_name, "--output-name")
    check_forge_settings(req.forge_url, req.repo)
    branch = branch_for(name)
    with GitRepo(cwd) as git:
        if not git.check_branch_name(branch):
            raise InputError(f"--output-name {name!r}: `{branch}` is not a valid branch name")
        resumed = None
        journal = Journal.load(git.root, name)
        if journal is not None:
            if _has_commit(git, journal):
                if journal.fingerprint != _fingerprint(req):
                    raise GitStateError(
                        f"{branch} holds an interrupted promotion made with other options: "
                        f"finish it with `otonom promote --resume {name}`, or drop it (git "
                        f"branch -D {branch}; rm {JOURNAL_DIR}/{name}.json)")
                journal = replace(journal, remote=req.remote, forge_url=req.forge_url,
                                  repo=req.repo)
                return _finish(git, journal, "finished an interrupted promotion (its commit "
                                             "existed)")
            _roll_back(git, journal)
            resumed = "rolled back an interrupted promotion (it had no commit) and promoted again"
        base_branch = git.current_branch()
        rel = f"{STRATEGIES_DIR}/{name}.yaml"
        if (git.root / rel).exists() or git.file_at("HEAD", rel) is not None:
            raise GitStateError(f"{rel} already exists: choose another --output-name")
        if git.branch_exists(branch, req.remote):
            raise GitStateError(f"branch {branch} already exists: choose another "
                                f"--output-name, or delete it (git branch -D {branch})")
        refuse_dirty(git, [rel])
        p = build_promotion(req, git.root, rel)

        log_path = git.root / LOG_FILE
        files = {rel: p.text, LOG_FILE: append_entry(
            log_path.read_text(encoding="utf-8") if log_path.is_file() else None, log_entry(p)),
            **p.evidence}
        if req.deploy:
            prod = git.root / PRODUCTION_FILE
            files[PRODUCTION_FILE] = with_shadow_entry(
                prod.read_text(encoding="utf-8") if prod.is_file() else None, name, rel)
        title = pr_title(p)
        journal = Journal(name, branch, base_branch, git.head_sha(), list(files),
                          _fingerprint(req), req.remote, req.forge_url, req.repo, title,
                          f"{PR_DIR}/{name}.md", PromotionSummary.of(p).as_dict())
        journal.save(git.root)
        # The body is saved before the repository changes, so `otonom pr open` can finish a
        # promotion killed after its commit.
        save_body(git.root, name, title=title, body=pr_body(p, req.command), head=branch,
                  base=base_branch, remote=req.remote)
        # The experiment's record goes with the promotion: CI checks the DSR against it.
        record = f"experiments/{p.experiment.name}/metrics.json"
        evidence = [record] if not p.evidence and (git.root / record).is_file() else []
        git.create_branch(branch)
        try:
            for path, text in files.items():
                write_file(git.root, path, text)
            git.commit([*files, *evidence], commit_message(p))
        except BaseException:
            rollback(git, list(files), base_branch, branch)
            remove_saved(git.root, name)
            journal.remove(git.root)
            raise
        return _finish(git, journal, resumed)


def resume_promotion(name: str, cwd: str | Path = ".", *, remote: str | None = None,
                     forge_url: str | None = None, repo: str | None = None) -> ResumeOutcome:
    """``otonom promote --resume NAME``: finish an interrupted promotion that has its commit
    (push, pull request), or roll back one that has not."""
    from otonom_trader.adapters.git_repo import GitRepo
    from otonom_trader.app.promotion.journal import JOURNAL_DIR, Journal

    name = check_name(name, "--resume")
    with GitRepo(cwd) as git:
        journal = Journal.load(git.root, name)
        if journal is None:
            raise InputError(f"--resume {name}: no interrupted promotion of that name "
                             f"({JOURNAL_DIR}/{name}.json); `otonom pr open {branch_for(name)}` "
                             "finishes one whose pull request failed")
        if not _has_commit(git, journal):
            _roll_back(git, journal)
            return ResumeOutcome(name, None)
        journal = replace(journal, remote=remote or journal.remote,
                          forge_url=forge_url or journal.forge_url, repo=repo or journal.repo)
        return ResumeOutcome(name, _finish(git, journal, "finished an interrupted promotion "
                                                         "(its commit existed)"))


def _has_commit(git, journal) -> bool:
    """Did the interrupted promotion commit? (its branch moved past where it started)"""
    return git.branch_exists(journal.branch) and git.head_sha(journal.branch) != journal.base_sha


def _roll_back(git, journal) -> None:
    """Undo an interrupted promotion that has no commit: files (only when its branch is
    checked out: they were written there), index, branch, saved body, journal."""
    from otonom_trader.app.publishing.pull_request import remove_saved

    if git.checked_out() == journal.branch:
        rollback(git, journal.files, journal.base_branch, journal.branch)
    elif git.branch_exists(journal.branch):
        git.delete_branch(journal.branch)
    if git.branch_exists(journal.branch) or git.checked_out() == journal.branch:
        raise GitStateError(f"could not roll back the interrupted promotion on "
                            f"{journal.branch}: check out {journal.base_branch} and delete it "
                            f"(git branch -D {journal.branch})")
    remove_saved(git.root, journal.name)
    journal.remove(git.root)


def _finish(git, journal, resumed: str | None) -> PromoteOutcome:
    """From the commit on: back to the base branch, push, pull request; the journal goes
    once nothing is left to do."""
    from otonom_trader.app.publishing.pull_request import publish
    from otonom_trader.app.repository.strategy_log import LOG_FILE
    from otonom_trader.domain.deployment import PRODUCTION_FILE

    sha = git.head_sha(journal.branch)
    if git.checked_out() == journal.branch:
        git.checkout(journal.base_branch)
    result = publish(git, branch=journal.branch, base=journal.base_branch,
                     remote=journal.remote, forge_url=journal.forge_url, repo=journal.repo,
                     title=journal.title, body_path=journal.body_path)
    if not result.failed:
        journal.remove(git.root)
    summary = PromotionSummary(**journal.summary)
    return PromoteOutcome(summary, journal.branch, journal.base_branch, sha, LOG_FILE,
                          PRODUCTION_FILE if PRODUCTION_FILE in journal.files else None,
                          journal.body_path, result, resumed)
