"""A change for review, as promotion, rollout and impact records make one: refuse a dirty
work tree, write files on a new branch, commit, save the pull request's body, return to the
base branch and publish (``app.publishing.pull_request``); undo everything before the commit."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from otonom_trader.app.publishing.pull_request import PublishResult
from otonom_trader.app.repository.strategy_file import STRATEGIES_DIR
from otonom_trader.app.repository.strategy_log import LOG_FILE
from otonom_trader.domain.deployment import PRODUCTION_FILE
from otonom_trader.domain.errors import GitStateError, InputError
from otonom_trader.domain.names import check_name, inside


@dataclass(frozen=True)
class ChangeOutcome:
    branch: str
    base: str
    sha: str
    body_path: str  # repository-relative saved body
    result: PublishResult


def refuse_dirty(git, paths: list[str]) -> None:
    """Uncommitted tracked changes, or untracked files where a change writes (strategies/,
    the log, the production file, ``paths``), refuse the command (exit 2)."""
    dirty = git.dirty_paths(untracked_under=(f"{STRATEGIES_DIR}/", LOG_FILE, PRODUCTION_FILE,
                                             *paths))
    if dirty:
        shown = ", ".join(dirty[:5]) + (f" and {len(dirty) - 5} more" if len(dirty) > 5 else "")
        raise GitStateError(f"the work tree has uncommitted changes ({shown}): commit or stash "
                            "them first (git stash -u)")


def write_file(root: Path, rel: str, text: str) -> None:
    """Write one file of a change, refusing a path outside the work tree."""
    target = inside(root, rel, "promotion file")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")


def rollback(git, files: list[str], base_branch: str, branch: str) -> None:
    """Undo a change that has no commit yet: files, index, branch."""
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


def open_change(git, *, name: str, branch: str, files: dict[str, str], message: str,
                title: str, body: str, remote: str = "origin", forge_url: str | None = None,
                repo: str | None = None) -> ChangeOutcome:
    """Write ``files`` (repository-relative → text) on new ``branch`` cut from the current
    one, commit them, save the body as ``.otonom/pr/<name>.md``, go back and publish. A
    failure before the commit undoes everything; push or forge failures are in ``result``
    (``otonom pr open BRANCH`` finishes them from the saved body)."""
    from otonom_trader.app.publishing.pull_request import publish, remove_saved, save_body

    name = check_name(name, "NAME")
    if not git.check_branch_name(branch):
        raise InputError(f"`{branch}` is not a valid branch name")
    if git.branch_exists(branch, remote):
        raise GitStateError(f"branch {branch} already exists: its pull request is open or "
                            f"was merged; delete it first (git branch -D {branch})")
    refuse_dirty(git, list(files))
    base = git.current_branch()
    body_path = save_body(git.root, name, title=title, body=body, head=branch, base=base,
                          remote=remote)
    git.create_branch(branch)
    try:
        for path, text in files.items():
            write_file(git.root, path, text)
        sha = git.commit(list(files), message)
    except BaseException:
        rollback(git, list(files), base, branch)
        remove_saved(git.root, name)
        raise
    git.checkout(base)
    result = publish(git, branch=branch, base=base, remote=remote, forge_url=forge_url,
                     repo=repo, title=title, body_path=body_path)
    return ChangeOutcome(branch, base, sha, body_path, result)
