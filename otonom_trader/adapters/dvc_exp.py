"""A DVC experiment's outputs, materialised read-only for ``otonom promote --dvc-exp NAME``.

A DVC experiment (``dvc exp run``, queued or not) is a commit under
``refs/exps/<baseline[:2]>/<baseline[2:]>/<name>``. Its ``dvc.lock`` names the parameters it
ran with and the hash of every output; git-tracked files (metrics.json, the strategy file)
are read with ``git show``, cached outputs (the experiment store, runs.parquet) with
``dvc.api.open`` from the local cache (or the default remote after ``dvc exp pull``). Nothing
in the workspace changes: no ``dvc exp apply``, no checkout.
"""

from __future__ import annotations

import difflib
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from otonom_trader.domain.errors import GitStateError, InputError
from otonom_trader.domain.names import check_name, inside
from otonom_trader.domain.safe_yaml import parse_yaml

PIPELINE_STAGE = "grid_search"  # the dvc.yaml stage that runs the experiment
DEFAULT_DEST = Path(".otonom") / "dvc_exps"  # git-ignored
_EXP_REF = re.compile(r"^refs/exps/(?P<a>[0-9a-f]{2})/(?P<b>[0-9a-f]{38})/(?P<name>[^/]+)$")


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


def _git(repo: Path, *args: str, binary: bool = False) -> Any:
    try:
        out = subprocess.run(["git", *args], cwd=repo, capture_output=True, check=False,
                             timeout=60)
    except OSError as exc:
        raise GitStateError(f"cannot run git ({exc.strerror or exc}): install git") from None
    if out.returncode != 0:
        raise _GitFailed(out.stderr.decode(errors="replace").strip())
    return out.stdout if binary else out.stdout.decode()


class _GitFailed(Exception):
    pass


def experiment_refs(repo: Path | str = ".") -> dict[str, list[tuple[str, str]]]:
    """DVC experiment name -> [(commit, baseline commit)] for every finished experiment."""
    try:
        text = _git(Path(repo), "for-each-ref", "--format=%(objectname) %(refname)",
                    "refs/exps/")
    except _GitFailed as exc:
        raise GitStateError(f"{Path(repo).resolve()}: not a git repository ({exc})") from None
    refs: dict[str, list[tuple[str, str]]] = {}
    for line in text.splitlines():
        sha, _, ref = line.partition(" ")
        match = _EXP_REF.match(ref)
        if match:
            refs.setdefault(match["name"], []).append((sha, match["a"] + match["b"]))
    return refs


def resolve(name: str, repo: Path | str = ".") -> tuple[str, str | None]:
    """(commit, baseline commit) of DVC experiment ``name``; a git revision (a branch, a
    commit of the pipeline) is accepted too, with no baseline."""
    repo = Path(repo)
    refs = experiment_refs(repo)
    found = refs.get(name, [])
    if len(found) > 1:
        head = _git(repo, "rev-parse", "HEAD").strip()
        on_head = [f for f in found if f[1] == head]
        if len(on_head) != 1:
            bases = ", ".join(b[:7] for _, b in found)
            raise InputError(f"DVC experiment '{name}' exists on several baselines ({bases}): "
                             "pass its commit instead (`dvc exp show` lists them)")
        found = on_head
    if found:
        return found[0]
    try:
        return _git(repo, "rev-parse", "--verify", "--quiet", f"{name}^{{commit}}").strip(), None
    except _GitFailed:
        pass
    hint = difflib.get_close_matches(name, list(refs), n=1)
    known = ", ".join(sorted(refs)[:10]) or "none"
    did_you_mean = f"did you mean '{hint[0]}'? " if hint else ""
    raise InputError(f"no DVC experiment named '{name}': {did_you_mean}finished experiments: "
                     f"{known} (queued and failed ones are in `dvc queue status`)")


def _show(repo: Path, rev: str, path: str, what: str) -> str:
    try:
        return _git(repo, "show", f"{rev}:{path}")
    except _GitFailed:
        raise InputError(f"{what}: no {path} at {rev[:7]}; was it produced by `dvc exp run` "
                         "with this repository's dvc.yaml?") from None


def _flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(node, dict):
        return {prefix: node}
    out: dict[str, Any] = {}
    for key, value in node.items():
        out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def _lock_params(lock: dict) -> dict[str, dict[str, Any]]:
    params: dict[str, dict[str, Any]] = {}
    for stage in lock.get("stages", {}).values():
        for file, values in (stage.get("params") or {}).items():
            params.setdefault(file, {}).update(_flatten(values))
    return params


def _out_paths(stage: dict) -> list[str]:
    return [o["path"] for o in stage.get("outs", []) if isinstance(o, dict) and "path" in o]


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
    lock = parse_yaml(_show(repo, rev, "dvc.lock", dvc_name), f"dvc.lock at {rev[:7]}") or {}
    stage = lock.get("stages", {}).get(PIPELINE_STAGE)
    if stage is None:
        raise InputError(f"{dvc_name}: dvc.lock at {rev[:7]} has no `{PIPELINE_STAGE}` stage")
    params = _lock_params(lock)
    name = params.get("params.yaml", {}).get("experiment.name")
    if not name:
        raise InputError(f"{dvc_name}: dvc.lock at {rev[:7]} records no experiment.name")
    check_name(name, f"{dvc_name}: params.yaml `experiment.name`")
    outs = _out_paths(stage)
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
    try:
        metrics = json.loads(_git(repo, "show", f"{rev}:{metrics_path}"))
    except (_GitFailed, json.JSONDecodeError):
        metrics = {}
    return DvcExperiment(dvc_name=dvc_name, rev=rev, baseline_rev=baseline,
                         experiment_name=str(name), store_path=store, runs_path=runs,
                         strategy_path=strategy_path, strategy_file=strategy_file,
                         params=params, metrics=metrics)
