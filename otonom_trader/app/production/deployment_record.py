"""Use case: record a deployment — tag HEAD ``deploy/<name>/<UTC date>`` for every live/paper
strategy of the deployment file, and optionally push the tags (no printing).

Annotated tags carry the stage, capital share, strategy path and commit. Re-running on the
same commit is a no-op (the tag already points at HEAD); a second deployment of the same
strategy on the same day at another commit gets ``deploy/<name>/<date>.2`` (``.3`` ...), so
no recorded tag ever moves.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass

from otonom_trader.adapters.git_repo import GitRepo
from otonom_trader.domain.deployment import PRODUCTION_FILE, DeploymentEntry, load_deployment
from otonom_trader.domain.errors import GitStateError, InputError

__all__ = ["BOT", "Recorded", "record_deployment"]

BOT = {"GIT_COMMITTER_NAME": "otonom-deploy",
       "GIT_COMMITTER_EMAIL": "otonom-deploy@users.noreply.github.com"}


@dataclass(frozen=True)
class Recorded:
    tag: str
    entry: DeploymentEntry
    created: bool  # False: the tag already pointed at HEAD


def _day(date: str | None) -> str:
    day = date or dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    try:
        dt.date.fromisoformat(day)
    except ValueError:
        raise InputError(f"--date {day}: expected YYYY-MM-DD") from None
    return day


def _identity(git: GitRepo) -> dict[str, str]:
    """A committer for annotated tags when git has none configured (CI runners)."""
    return {} if git.has_identity() else {k: os.environ.get(k, v) for k, v in BOT.items()}


def _tag_head(git: GitRepo, entry: DeploymentEntry, day: str, head: str,
              deployment: str) -> Recorded:
    base, n = f"deploy/{entry.name}/{day}", 1
    tag = base
    while (at := git.commit_of(f"refs/tags/{tag}")) is not None and at != head:
        n += 1
        tag = f"{base}.{n}"
    if at == head:
        return Recorded(tag, entry, created=False)
    message = (f"{entry.name}: {entry.stage} at {entry.capital_pct:g}% of capital\n\n"
               f"strategy: {entry.path}\ncommit: {head}\ndeployment: {deployment}\n")
    git.tag(tag, head, message, env=_identity(git))
    return Recorded(tag, entry, created=True)


def record_deployment(deployment: str = PRODUCTION_FILE, date: str | None = None,
                      push_to: str | None = None) -> list[Recorded]:
    """Tag HEAD of the repository around the current directory for each live/paper strategy of
    ``deployment``; with ``push_to`` (a remote) push the tags. Bad input (the deployment file,
    the date, an unknown remote, no repository or no commit) is an ``InputError``; a failed git
    command or push is a ``RunError``."""
    try:
        git = GitRepo(".")
    except GitStateError:
        git = None
    try:
        if push_to is not None and git is not None and git.remote_url(push_to) is None:
            raise InputError(f"--remote {push_to}: no such git remote; see `git remote -v`")
        dep = load_deployment(deployment)
        day = _day(date)
        head = git.commit_of("HEAD") if git is not None else None
        if head is None:
            raise InputError("not inside a git repository with a commit: run this in the "
                             "strategy repository")
        recorded = [_tag_head(git, entry, day, head, deployment) for entry in dep.active()]
        if push_to is not None:
            git.push_tags(push_to, [r.tag for r in recorded])
        return recorded
    finally:
        if git is not None:
            git.close()
