"""Where the repository is, and the rule that paths read from repository files stay inside
it (``otonom validate`` and the rollout gate read files named in production.yaml)."""

from __future__ import annotations

from pathlib import Path

from otonom_trader.domain.errors import GitStateError
from otonom_trader.domain.names import inside


def open_repo():
    """The repository around the current directory (an ``adapters.git_repo.GitRepo``), or
    None outside one."""
    from otonom_trader.adapters.git_repo import GitRepo

    try:
        return GitRepo(".")
    except GitStateError:
        return None


def repo_root() -> Path:
    """The work tree's top folder (the current directory outside a git repository)."""
    git = open_repo()
    if git is None:
        return Path.cwd()
    with git:
        return git.root


def in_repo(path: str, what: str, root: Path | None = None) -> str:
    """``path`` (relative to the current directory) when it resolves inside the repository,
    symlinks followed; else an ``InputError`` naming ``what`` (the file or key it came from).
    Paths read from repository files go through here, so no file outside the repository is
    read into a report or an error."""
    inside(root or repo_root(), Path.cwd() / path, what)
    return path
