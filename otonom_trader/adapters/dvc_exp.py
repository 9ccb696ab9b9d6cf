"""A DVC experiment's outputs, materialised read-only for ``otonom promote --dvc-exp NAME``.

A DVC experiment (``dvc exp run``, queued or not) is a commit DVC lists with
``Repo.experiments.ls``. Its pipeline stage, loaded by DVC at that commit (``dvc.yaml`` with
its ``dvc.lock``), names the parameters it ran with and its outputs; git-tracked files
(metrics.json, the strategy file) are read through the git adapter, cached outputs (the
experiment store, runs.parquet) with ``dvc.api.open`` from the local cache (or the default
remote after ``dvc exp pull``). Nothing in the workspace changes: no ``dvc exp apply``, no
checkout.
"""

from __future__ import annotations

import difflib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from otonom_trader.domain.errors import GitStateError, InputError
from otonom_trader.domain.names import check_name, inside

PIPELINE_STAGE = "grid_search"  # the dvc.yaml stage that runs the experiment
DEFAULT_DEST = Path(".otonom") / "dvc_exps"  # git-ignored


@dataclass(frozen=True)
class DvcExperiment:
    """What a DVC experiment produced, with local copies of its store and run table."""

    dvc_name: str  # the DVC experiment name as given (e.g. "cagey-kana")
    rev: str  # its commit
    baseline_rev: str | None  # the commit it was run on (None for a plain git revision)
    experiment_name: str  # the otonom experiment inside it (params experiment.name)
    store_path: Path  # SQLite experiment store, a local copy
    runs_path: Path | None  # runs.parquet, a local copy (None if the stage has none)
    strategy_path: str  # repository-relative strategy file the experiment used
    strategy_file: Path  # that file as it was in the experiment (it may differ from HEAD)
    params: dict[str, dict[str, Any]]  # {params file: {dotted key: value}} from its dvc.lock
    metrics: dict  # experiments/<name>/metrics.json at the experiment's commit

    @property
    def store_url(self) -> str:
        return f"sqlite:///{self.store_path.resolve()}"


def _open_git(repo: Path):
    from otonom_trader.adapters.git_repo import GitRepo

    try:
        return GitRepo(repo)
    except GitStateError:
        raise GitStateError(f"{repo.resolve()}: not a git repository; run this in a clone of "
                            "the strategy repository") from None


def experiment_refs(repo: Path | str = ".") -> dict[str, list[tuple[str, str]]]:
    """DVC experiment name -> [(commit, baseline commit)] for every finished experiment."""
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    _open_git(Path(repo)).close()
    try:
        with Repo(str(repo), uninitialized=True) as dvc_repo:
            listed = dvc_repo.experiments.ls(all_commits=True)
    except DvcException as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise GitStateError(f"{Path(repo).resolve()}: cannot list DVC experiments ({detail})"
                            ) from None
    refs: dict[str, list[tuple[str, str]]] = {}
    for baseline, experiments in listed.items():
        for name, sha in experiments:
            if sha:
                refs.setdefault(name, []).append((sha, baseline))
    return refs


def resolve(name: str, repo: Path | str = ".") -> tuple[str, str | None]:
    """(commit, baseline commit) of DVC experiment ``name``; a git revision (a branch, a
    commit of the pipeline) is accepted too, with no baseline."""
    repo = Path(repo)
    refs = experiment_refs(repo)
    found = refs.get(name, [])
    with _open_git(repo) as git:
        if len(found) > 1:
            head = git.commit_of("HEAD")
            on_head = [f for f in found if f[1] == head]
            if len(on_head) != 1:
                bases = ", ".join(b[:7] for _, b in found)
                raise InputError(f"DVC experiment '{name}' exists on several baselines "
                                 f"({bases}): pass its commit instead (`dvc exp show` lists "
                                 "them)")
            found = on_head
        if found:
            return found[0]
        commit = git.commit_of(name)
    if commit is not None:
        return commit, None
    hint = difflib.get_close_matches(name, list(refs), n=1)
    known = ", ".join(sorted(refs)[:10]) or "none"
    did_you_mean = f"did you mean '{hint[0]}'? " if hint else ""
    raise InputError(f"no DVC experiment named '{name}': {did_you_mean}finished experiments: "
                     f"{known} (queued and failed ones are in `dvc queue status`)")


def _show(repo: Path, rev: str, path: str, what: str) -> str:
    with _open_git(repo) as git:
        text = git.file_at(rev, path)
    if text is None:
        raise InputError(f"{what}: no {path} at {rev[:7]}; was it produced by `dvc exp run` "
                         "with this repository's dvc.yaml?")
    return text


def _flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(node, dict):
        return {prefix: node}
    out: dict[str, Any] = {}
    for key, value in node.items():
        out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def _stage(repo: Path, rev: str, what: str) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The parameters ({params file: {dotted key: value}}, as its dvc.lock recorded them) and
    the output paths of the pipeline stage at ``rev``, read by DVC."""
    from dvc.dependency.param import ParamsDependency
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    try:
        with Repo.open(str(repo), rev=rev) as at:
            [stage] = at.stage.collect(PIPELINE_STAGE)
    except DvcException as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{what}: no `{PIPELINE_STAGE}` stage at {rev[:7]} ({detail}); was "
                         "it produced by `dvc exp run` with this repository's dvc.yaml?"
                         ) from None
    if not any(dep.hash_info for dep in stage.deps):
        raise InputError(f"{what}: the `{PIPELINE_STAGE}` stage at {rev[:7]} never ran "
                         "(no dvc.lock entry)")
    params: dict[str, dict[str, Any]] = {}
    for dep in stage.deps:
        if isinstance(dep, ParamsDependency) and dep.hash_info:
            params.setdefault(dep.def_path, {}).update(_flatten(dep.hash_info.value))
    return params, [out.def_path for out in stage.outs]


def _copy_out(repo: Path, rev: str, path: str, dest: Path, what: str) -> Path:
    import dvc.api

    try:
        with dvc.api.open(path, repo=str(repo), rev=rev, mode="rb") as src, \
                open(dest, "wb") as out:
            shutil.copyfileobj(src, out)
    except Exception as exc:  # dvc raises many types: missing cache, no remote, ...
        dest.unlink(missing_ok=True)
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{what}: cannot read {path} at {rev[:7]} ({detail}): fetch it with "
                         f"`dvc exp pull <remote> {what}` or `dvc pull`") from None
    return dest


def materialise(dvc_name: str, repo: Path | str = ".",
                dest: Path | str | None = None) -> DvcExperiment:
    """Copy DVC experiment ``dvc_name``'s experiment store (and runs.parquet, strategy file)
    to ``dest`` (default ``<repo>/.otonom/dvc_exps/<dvc_name>/``) and describe it."""
    repo = Path(repo)
    check_name(dvc_name, "--dvc-exp")  # it names the folder the copies go to
    rev, baseline = resolve(dvc_name, repo)
    params, outs = _stage(repo, rev, dvc_name)
    name = params.get("params.yaml", {}).get("experiment.name")
    if not name:
        raise InputError(f"{dvc_name}: dvc.lock at {rev[:7]} records no experiment.name")
    check_name(name, f"{dvc_name}: params.yaml `experiment.name`")
    store_out = next((p for p in outs if p.endswith("/store.db")), None)
    if store_out is None:
        raise InputError(f"{dvc_name}: the `{PIPELINE_STAGE}` stage at {rev[:7]} has no "
                         "store.db output")
    runs_out = next((p for p in outs if p.endswith("/runs.parquet")), None)
    strategy_path = str(params.get("params.yaml", {}).get("experiment.strategy") or "")
    key = f"{dvc_name}: params.yaml `experiment.strategy`"
    if inside(repo, strategy_path, key) == repo.resolve():
        raise InputError(f"{key}: expected a strategy file of the repository")
    folder = Path(dest) if dest is not None else inside(repo, DEFAULT_DEST / dvc_name, "--dvc-exp")
    folder.mkdir(parents=True, exist_ok=True)
    store = _copy_out(repo, rev, store_out, folder / "store.db", dvc_name)
    runs = _copy_out(repo, rev, runs_out, folder / "runs.parquet", dvc_name) if runs_out \
        else None
    strategy_file = inside(folder, Path(strategy_path).name, key)
    strategy_file.write_text(_show(repo, rev, strategy_path, dvc_name), encoding="utf-8")
    metrics_path = f"{Path(store_out).parent.as_posix()}/metrics.json"
    with _open_git(repo) as git:
        text = git.file_at(rev, metrics_path)
    try:
        metrics = json.loads(text) if text is not None else {}
    except json.JSONDecodeError:
        metrics = {}
    return DvcExperiment(dvc_name=dvc_name, rev=rev, baseline_rev=baseline,
                         experiment_name=str(name), store_path=store, runs_path=runs,
                         strategy_path=strategy_path, strategy_file=strategy_file,
                         params=params, metrics=metrics)
