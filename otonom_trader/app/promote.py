"""Use case: promote an experiment's best run to a strategy version, on a branch, for review.

``build_promotion`` selects the run and renders the strategy file (nothing is written);
``promote`` checks the repository, writes the strategy file and the STRATEGY_LOG.md entry
(and the production change with ``deploy``), commits them on ``promote/<name>``, returns to
the original branch, then pushes and opens the pull request (``app.pull_request``). Nothing
is half-written: until the commit exists, any failure removes what was written and the branch.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from otonom_trader.adapters.store import ExperimentInfo, ExperimentStore
from otonom_trader.app.run_selection import (
    Overfitting,
    Selection,
    load_gap_gate,
    overfitting_stats,
    select_metric,
    select_run,
)
from otonom_trader.app.strategy_file import changed_values, plain, render_strategy
from otonom_trader.domain.errors import GitStateError, InputError, RunError
from otonom_trader.domain.metrics import METRIC_KEYS
from otonom_trader.domain.names import check_name, inside
from otonom_trader.domain.strategy import Strategy
from otonom_trader.domain.strategy_loader import (
    apply_overrides,
    load_strategy,
    strategy_from_mapping,
    strategy_hash,
)

__all__ = ["PromoteOutcome", "PromoteRequest", "Promotion", "branch_for", "build_promotion",
           "promote"]

STRATEGIES_DIR = "strategies"
DEFAULT_CAPITAL = 10_000.0


@dataclass(frozen=True)
class PromoteRequest:
    experiment_id: int | None
    output_name: str
    base_strategy: str | None
    select_by: str | None = None  # None: params.yaml experiment.select_by, else sharpe
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


@dataclass(frozen=True)
class Promotion:
    """Everything a promotion writes, computed before anything is written."""

    name: str
    path: str  # repository-relative (or as given), e.g. strategies/baseline_v2.yaml
    text: str  # the strategy file
    strategy: Strategy  # ``text`` loaded and validated
    parent: Strategy
    experiment: ExperimentInfo
    selection: Selection
    changes: dict[str, tuple[Any, Any]]  # dotted path -> (parent value, new value)
    overfitting: Overfitting
    parent_metrics: dict[str, dict | None]  # train/test of the parent on the same windows
    initial_capital: float
    expected_impact: str | None
    promoted_at: datetime
    notes: tuple[str, ...]
    metadata: dict = field(repr=False, default_factory=dict)


def branch_for(name: str) -> str:
    return f"promote/{name}"


def _initial_capital(command: str) -> float:
    """``--initial-capital`` of the experiment's recorded command (default 10,000)."""
    try:
        argv = shlex.split(command or "")
    except ValueError:
        return DEFAULT_CAPITAL
    for i, arg in enumerate(argv):
        text = None
        if arg == "--initial-capital" and i + 1 < len(argv):
            text = argv[i + 1]
        elif arg.startswith("--initial-capital="):
            text = arg.split("=", 1)[1]
        if text is not None:
            try:
                return float(text)
            except ValueError:
                return DEFAULT_CAPITAL
    return DEFAULT_CAPITAL


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


def _with_dvc_experiment(req: PromoteRequest, root: Path) -> tuple[PromoteRequest, dict | None]:
    """With ``--dvc-exp``: the DVC experiment's own store (one otonom experiment, ID 1) and
    strategy file become the defaults; the metadata records the DVC experiment."""
    if not req.dvc_exp:
        if req.experiment_id is None or not req.base_strategy:
            raise InputError("promote needs --experiment-id and --base-strategy (or --dvc-exp)")
        return req, None
    from otonom_trader.adapters.dvc_exp import materialise

    exp = materialise(req.dvc_exp, repo=root)
    req = replace(req, db_url=req.db_url or exp.store_url,
                  experiment_id=req.experiment_id or 1,
                  base_strategy=req.base_strategy or exp.strategy_path)
    record = {"name": exp.dvc_name, "rev": exp.rev, "baseline": exp.baseline_rev,
              "params": exp.params}
    return req, record


def build_promotion(req: PromoteRequest, root: Path, output_path: str | None = None
                    ) -> Promotion:
    """Select the run and render the new strategy file; writes nothing (except that the
    store may create an empty database at a new URL)."""
    from otonom_trader.engine.backtest import backtest
    from otonom_trader.engine.data import data_fingerprint, load_bars

    name = check_name(req.output_name, "--output-name")
    req, dvc_record = _with_dvc_experiment(req, root)
    parent, base_text = _load_base(req.base_strategy)
    max_gap, default_metric = load_gap_gate(root / "params.yaml")
    metric = (select_metric(req.select_by) if req.select_by else
              select_metric(default_metric, "params.yaml `experiment.select_by`"))
    with ExperimentStore(req.db_url) as store:
        info = store.get(req.experiment_id)
        notes = _check_origin(info, parent, req.base_strategy, req.force)
        runs = store.runs_frame(info.id)
        selection = select_run(runs, info.id, metric, max_gap, req.allow_overfit)
        _, blocks = store.block_stats(info.id)
    notes += list(selection.notes)
    run = selection.run

    params = dict(run.params)
    if info.symbol and (parent.data.symbol or "").upper() != info.symbol.upper():
        params["data.symbol"] = info.symbol
    changes = changed_values(parent, params)
    variant = apply_overrides(parent, {path: new for path, (_, new) in changes.items()})

    bars = load_bars(info.symbol, req.data_dir)
    if data_fingerprint(bars) != info.data_fingerprint:
        notes.append(f"the {info.symbol} data changed since experiment {info.id} "
                     "(fingerprint differs)")
    capital = _initial_capital(info.command)
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
                                              info.periods_per_year, blocks)
    notes += of_notes

    promoted_at = (req.now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    metadata = {
        "parent": parent.name,
        "experiment": {"id": info.id, "name": info.name, "search": info.search,
                       "n_runs": info.total_runs},
        "run_number": run.run_number,
        "selected_by": metric,  # a test-window metric
        "symbol": info.symbol,
        "split": {k: split[k] for k in ("train_start", "train_end", "test_start", "test_end")},
        "data_fingerprint": info.data_fingerprint,
        "initial_capital": float(capital),
        "train": run.train,
        "test": run.test,
        "overfitting": overfitting.as_dict(),
        "promoted_at": promoted_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "expected_impact": req.expected_impact,
        "dvc_experiment": dvc_record,
    }
    path = output_path or f"{STRATEGIES_DIR}/{name}.yaml"
    text = render_strategy(base_text, {p: new for p, (_, new) in changes.items()}, name,
                           metadata)
    strategy = _check_written(text, path, variant, name)
    return Promotion(name, path, text, strategy, parent, info, selection, changes, overfitting,
                     parent_metrics, capital, req.expected_impact, promoted_at, tuple(notes),
                     metadata)


def _check_written(text: str, path: str, variant: Strategy, name: str) -> Strategy:
    """Load the rendered file as ``load_strategy`` would and check it is ``variant``."""
    import yaml

    strategy = strategy_from_mapping(yaml.safe_load(text), source=Path(path))
    expected = strategy_from_mapping({**dict(variant.raw), "name": name})
    if strategy_hash(strategy) != strategy_hash(expected):
        raise RunError(f"{path}: the rendered file differs from the selected parameters "
                       "(a bug: please report it)")
    return strategy


# ---------------------------------------------------------------- the git flow


@dataclass(frozen=True)
class PromoteOutcome:
    promotion: Promotion
    branch: str
    base_branch: str
    commit: str
    log_path: str
    deployment_path: str | None
    body_path: str
    publish: Any  # app.pull_request.PublishResult


def _refuse_dirty(git, paths: list[str]) -> None:
    from otonom_trader.app.deployment_edit import PRODUCTION_FILE
    from otonom_trader.app.strategy_log import LOG_FILE

    dirty = git.dirty_paths(untracked_under=(f"{STRATEGIES_DIR}/", LOG_FILE, PRODUCTION_FILE,
                                             *paths))
    if dirty:
        shown = ", ".join(dirty[:5]) + (f" and {len(dirty) - 5} more" if len(dirty) > 5 else "")
        raise GitStateError(f"the work tree has uncommitted changes ({shown}): commit or stash "
                            "them first (git stash -u)")


def _write(root: Path, rel: str, text: str) -> None:
    target = inside(root, rel, "promotion file")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")


def promote(req: PromoteRequest, cwd: str | Path = ".") -> PromoteOutcome:
    """The whole promotion: checks, files, commit on ``promote/<name>``, push, pull request."""
    from otonom_trader.adapters.git_repo import GitRepo
    from otonom_trader.app.deployment_edit import PRODUCTION_FILE, with_shadow_entry
    from otonom_trader.app.pr_body import commit_message, pr_body, pr_title
    from otonom_trader.app.pull_request import check_forge_settings, publish, save_body
    from otonom_trader.app.strategy_log import LOG_FILE, LogEntry, append_entry

    name = check_name(req.output_name, "--output-name")
    check_forge_settings(req.forge_url, req.repo)
    branch = branch_for(name)
    with GitRepo(cwd) as git:
        base_branch = git.current_branch()
        if not git.check_branch_name(branch):
            raise InputError(f"--output-name {name!r}: `{branch}` is not a valid branch name")
        rel = f"{STRATEGIES_DIR}/{name}.yaml"
        if (git.root / rel).exists() or git.file_at("HEAD", rel) is not None:
            raise GitStateError(f"{rel} already exists: choose another --output-name")
        if git.branch_exists(branch, req.remote):
            raise GitStateError(f"branch {branch} already exists: choose another "
                                f"--output-name, or delete it (git branch -D {branch})")
        _refuse_dirty(git, [rel])
        p = build_promotion(req, git.root, rel)

        sel = p.selection
        reason = (f"best test {sel.metric} of {sel.n_done} runs "
                  f"(train {p.experiment.split['train_start']} → "
                  f"{p.experiment.split['train_end']}, test {p.experiment.split['test_start']} "
                  f"→ {p.experiment.split['test_end']})")
        if sel.skipped:
            reason += (f"; {len(sel.skipped)} better run(s) skipped for a train−test Sharpe gap "
                       f"above {sel.max_gap:g}")
        entry = LogEntry(name, p.promoted_at, p.parent.name, p.experiment.name,
                         p.experiment.id, sel.run.run_number, reason, p.changes,
                         p.expected_impact)
        log_path = git.root / LOG_FILE
        log_text = append_entry(log_path.read_text(encoding="utf-8")
                                if log_path.is_file() else None, entry)
        files = {rel: p.text, LOG_FILE: log_text}
        if req.deploy:
            prod = git.root / PRODUCTION_FILE
            files[PRODUCTION_FILE] = with_shadow_entry(
                prod.read_text(encoding="utf-8") if prod.is_file() else None, name, rel)
        title, body = pr_title(p), pr_body(p, req.command)

        git.create_branch(branch)
        try:
            for path, text in files.items():
                _write(git.root, path, text)
            sha = git.commit(list(files), commit_message(p))
        except BaseException:
            _rollback(git, files, base_branch, branch)
            raise
        git.checkout(base_branch)
        body_path = save_body(git.root, name, title=title, body=body, head=branch,
                              base=base_branch, remote=req.remote)
        result = publish(git, branch=branch, base=base_branch, remote=req.remote,
                         forge_url=req.forge_url, repo=req.repo, title=title,
                         body_path=body_path)
    return PromoteOutcome(p, branch, base_branch, sha, LOG_FILE,
                          PRODUCTION_FILE if req.deploy else None, body_path, result)


def _rollback(git, files: dict[str, str], base_branch: str, branch: str) -> None:
    """Undo a promotion that has no commit yet: files, index, branch."""
    import contextlib

    with contextlib.suppress(Exception):
        git.unstage(list(files))
    for path in files:
        with contextlib.suppress(Exception):
            if git.is_tracked(path):
                git.restore(path)
            else:
                (git.root / path).unlink(missing_ok=True)
    with contextlib.suppress(Exception):
        git.checkout(base_branch)
    with contextlib.suppress(Exception):
        git.delete_branch(branch)
