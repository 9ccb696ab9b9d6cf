"""Use case: ``otonom validate``, the CI gate over strategy files (no printing).

Which files: the paths given; with ``changed`` the strategy files added or modified between
``base`` and HEAD (plus the strategies ``deployments/production.yaml`` lists when that file
changed); otherwise every ``strategies/*.yaml``. Each goes through ``validate_checks``.
Production is read from ``base`` when comparing a change, else from the working tree.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from otonom_trader.app.validate_checks import (
    Context,
    ProductionEntry,
    StrategyReport,
    check_strategy,
)
from otonom_trader.domain.deployment import (
    PRODUCTION_FILE,
    Deployment,
    load_deployment,
    load_deployment_text,
)
from otonom_trader.domain.errors import InputError, OtonomError
from otonom_trader.domain.gates import load_gate_params
from otonom_trader.domain.names import inside
from otonom_trader.domain.strategy_loader import load_strategy, strategy_from_text

MARKER = "<!-- otonom-validate -->"


@dataclass(frozen=True)
class ValidateRequest:
    files: tuple[str, ...] = ()
    changed: bool = False
    deployed: bool = False  # the paper/live strategies of the production file
    base: str = "origin/main"
    params_path: str = "params.yaml"
    data_dir: str = "data"
    production_path: str = PRODUCTION_FILE
    db_url: str | None = None  # the experiment store (default: OTONOM_DB, .otonom/)


@dataclass(frozen=True)
class ValidationResult:
    reports: tuple[StrategyReport, ...]
    selection: str  # how the files were chosen, for the report
    params_path: str
    production_source: str | None  # where the production reference came from

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.reports)

    @property
    def failed(self) -> tuple[StrategyReport, ...]:
        return tuple(r for r in self.reports if not r.ok)

    @property
    def waivers(self) -> tuple[str, ...]:
        """Every waived check, as `strategy: check (why)`."""
        return tuple(f"{r.name or r.path}: {c.gate} — {c.detail}" for r in self.reports
                     for c in r.waived)


# ---------------------------------------------------------------- git


def _git(*args: str) -> str:
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True, check=False,
                             timeout=60)
    except OSError as exc:
        raise InputError(f"cannot run git: {exc.strerror}") from None
    if out.returncode != 0:
        raise _GitFailed(out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "")
    return out.stdout


class _GitFailed(Exception):
    pass


def changed_paths(base: str) -> list[str]:
    """Repository-relative paths added, copied, modified or renamed in ``base...HEAD``."""
    try:
        _git("rev-parse", "--verify", "--quiet", f"{base}^{{commit}}")
    except _GitFailed:
        raise InputError(f"--base {base}: not a known revision here; fetch it (actions/checkout "
                         "with fetch-depth: 0) or pass another --base") from None
    try:
        out = _git("diff", "--name-only", "--diff-filter=ACMRT", "-z", f"{base}...HEAD")
        top = _git("rev-parse", "--show-toplevel").strip()
    except _GitFailed as exc:
        raise InputError(f"git diff {base}...HEAD failed: {exc}") from None
    cwd = Path.cwd().resolve()
    paths = []
    for name in filter(None, out.split("\0")):
        absolute = Path(top, name).resolve()
        paths.append(str(absolute.relative_to(cwd)) if absolute.is_relative_to(cwd) else name)
    return paths


def repo_root() -> Path:
    """The work tree's top folder (the current directory outside a git repository)."""
    try:
        return Path(_git("rev-parse", "--show-toplevel").strip())
    except (_GitFailed, InputError):
        return Path.cwd()


def in_repo(path: str, what: str, root: Path | None = None) -> str:
    """``path`` (relative to the current directory) when it resolves inside the repository,
    symlinks followed; else an ``InputError`` naming ``what`` (the file or key it came from).
    Paths read from repository files go through here, so no file outside the repository is
    read into a report or an error."""
    inside(root or repo_root(), Path.cwd() / path, what)
    return path


def _is_strategy(path: str) -> bool:
    p = PurePosixPath(path)
    return str(p.parent) == "strategies" and p.suffix in (".yaml", ".yml")


def select_files(req: ValidateRequest) -> tuple[list[str], str]:
    """The strategy files to check and a one-line description of the choice."""
    if sum((bool(req.files), req.changed, req.deployed)) > 1:
        raise InputError("pass strategy FILES, --changed or --deployed, not several")
    root = repo_root()
    if req.deployed:
        paths = [in_repo(e.path, f"{e.key}.path", root)
                 for e in load_deployment(req.production_path).active()]
        if not paths:
            raise InputError(f"{req.production_path}: no paper/live strategy to validate")
        return paths, f"the paper/live strategies of {req.production_path}"
    if req.changed:
        changed = changed_paths(req.base)
        files = [in_repo(p, p, root) for p in changed if _is_strategy(p)]
        why = f"strategy files changed in {req.base}...HEAD"
        if req.production_path in changed:
            listed = [in_repo(e.path, f"{e.key}.path", root)
                      for e in load_deployment(req.production_path).entries]
            files += listed
            why += f" and the strategies {req.production_path} lists"
        return list(dict.fromkeys(files)), why
    if req.files:
        for f in req.files:
            if not Path(f).is_file():
                what = "is a directory" if Path(f).is_dir() else "no such strategy file"
                raise InputError(f"{f}: {what}")
        return list(dict.fromkeys(req.files)), "files given on the command line"
    files = sorted(in_repo(str(p), str(p), root) for p in Path("strategies").glob("*.yaml"))
    return files, "every strategies/*.yaml"


# ---------------------------------------------------------------- production reference


def _entry(entry, read) -> ProductionEntry:
    try:
        strategy = read(entry)
    except OtonomError as exc:
        return ProductionEntry(entry.name, entry.path, entry.stage, None, str(exc))
    return ProductionEntry(entry.name, entry.path, entry.stage, strategy)


def production_reference(req: ValidateRequest) -> tuple[tuple[ProductionEntry, ...], str | None]:
    """The live/paper strategies to compare against: from ``base`` with --changed (production
    as it is before the change), else from the working tree; none when there is no file."""
    deployment: Deployment | None
    if req.changed:
        try:
            text = _git("show", f"{req.base}:{req.production_path}")
        except _GitFailed:
            return (), None
        deployment = load_deployment_text(text, f"{req.base}:{req.production_path}: ")

        def read(entry):
            path = entry.path
            try:
                text = _git("show", f"{req.base}:{path}")
            except _GitFailed:
                raise InputError(f"{req.base}:{path}: no such file") from None
            return strategy_from_text(text, f"{req.base}:{path}")

        source = f"{req.production_path} at {req.base}"
    else:
        if not Path(req.production_path).is_file():
            return (), None
        root = repo_root()
        deployment, source = load_deployment(req.production_path), req.production_path

        def read(entry):
            return load_strategy(in_repo(entry.path, f"{entry.key}.path", root))

    return tuple(_entry(e, read) for e in deployment.active()), source


# ---------------------------------------------------------------- the use case


def run_validate(req: ValidateRequest) -> ValidationResult:
    """Check the selected strategy files. Bad input (a missing file, a bad params file or
    deployment file, an unknown --base) raises ``InputError``; failed gates are in the result.
    """
    params = load_gate_params(req.params_path)
    files, selection = select_files(req)
    production, source = production_reference(req)
    ctx = Context(params=params, data_dir=req.data_dir, production=production,
                  production_source=source, db_url=req.db_url)
    reports = []
    for path in files:
        if not Path(path).is_file():
            raise InputError(f"{path}: no such strategy file")
        reports.append(check_strategy(path, ctx))
    return ValidationResult(tuple(reports), selection, req.params_path, source)
