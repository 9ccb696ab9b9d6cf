"""Use case: ``otonom validate``, the CI gate over strategy files (no printing).

Which files: the paths given; with ``changed`` the strategy files added or modified between
``base`` and HEAD (plus the strategies ``deployments/production.yaml`` lists when that file
changed); otherwise every ``strategies/*.yaml``. Each goes through ``validation.checks``.
Production is read from ``base`` when comparing a change, else from the working tree.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from otonom_trader.app.repository.paths import in_repo, open_repo, repo_root
from otonom_trader.app.validation.checks import (
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
from otonom_trader.domain.errors import InputError, OtonomError, RunError
from otonom_trader.domain.gates import load_gate_params
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


def changed_paths(base: str) -> list[str]:
    """Paths (relative to the current directory when inside it) added, copied, modified or
    renamed in ``base...HEAD``."""
    git = open_repo()
    if git is None or git.commit_of(base) is None:
        if git is not None:
            git.close()
        raise InputError(f"--base {base}: not a known revision here; fetch it (actions/checkout "
                         "with fetch-depth: 0) or pass another --base") from None
    with git:
        try:
            names, top = git.changed_paths(base), git.root
        except RunError as exc:
            raise InputError(str(exc)) from None
    cwd = Path.cwd().resolve()
    paths = []
    for name in names:
        absolute = Path(top, name).resolve()
        paths.append(str(absolute.relative_to(cwd)) if absolute.is_relative_to(cwd) else name)
    return paths


def _file_at(rev: str, path: str) -> str | None:
    """``path`` (repository-relative) as it is at ``rev``; None when absent or no repository."""
    git = open_repo()
    if git is None:
        return None
    with git:
        return git.file_at(rev, path)


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
        text = _file_at(req.base, req.production_path)
        if text is None:
            return (), None
        deployment = load_deployment_text(text, f"{req.base}:{req.production_path}: ")

        def read(entry):
            path = entry.path
            text = _file_at(req.base, path)
            if text is None:
                raise InputError(f"{req.base}:{path}: no such file")
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
    if req.changed:
        reports = _with_rollout_checks(req, ctx, reports)
    return ValidationResult(tuple(reports), selection, req.params_path, source)


def _with_rollout_checks(req: ValidateRequest, ctx: Context,
                         reports: list[StrategyReport]) -> list[StrategyReport]:
    """With production.yaml changed, a rollout-evidence row on every entry whose rollout
    step went up against ``base`` (``app.validation.rollout``)."""
    from dataclasses import replace

    from otonom_trader.app.validation.rollout import advanced, rollout_check

    changed = changed_paths(req.base)
    if req.production_path not in changed:
        return reports
    text = _file_at(req.base, req.production_path)
    base = load_deployment_text(text, f"{req.base}:{req.production_path}: ") if text else None
    for e, old, frm, to in advanced(base, load_deployment(req.production_path)):
        check = rollout_check(e, old, frm, to, changed, ctx, production=req.production_path,
                              params_path=req.params_path)
        i = next((i for i, r in enumerate(reports) if r.path == e.path), None)
        if i is None:
            reports.append(StrategyReport(e.path, e.name, checks=(check,)))
        else:
            reports[i] = replace(reports[i], checks=(*reports[i].checks, check))
    return reports
