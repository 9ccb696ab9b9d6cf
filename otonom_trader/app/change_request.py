"""Use case helper: commit some files on a new branch, save the pull request's body, return
to the base branch and publish (push + pull request) with the promotion's own code
(``app.promote``'s dirty-tree check and rollback, ``app.pull_request``'s ``save_body`` and
``publish``)."""

from __future__ import annotations

from dataclasses import dataclass

from otonom_trader.app.pull_request import PublishResult
from otonom_trader.domain.errors import GitStateError, InputError
from otonom_trader.domain.names import check_name


@dataclass(frozen=True)
class ChangeOutcome:
    branch: str
    base: str
    sha: str
    body_path: str  # repository-relative saved body
    result: PublishResult


def refuse_dirty(git, paths: list[str]) -> None:
    """The promotion's check: uncommitted tracked changes, or untracked files where this
    change writes, refuse the command (exit 2)."""
    from otonom_trader.app.promote import _refuse_dirty

    _refuse_dirty(git, paths)


def open_change(git, *, name: str, branch: str, files: dict[str, str], message: str,
                title: str, body: str, remote: str = "origin", forge_url: str | None = None,
                repo: str | None = None) -> ChangeOutcome:
    """Write ``files`` (repository-relative → text) on new ``branch`` cut from the current
    one, commit them, save the body as ``.otonom/pr/<name>.md``, go back and publish. A
    failure before the commit undoes everything; push or forge failures are in ``result``
    (``otonom pr open BRANCH`` finishes them from the saved body)."""
    from otonom_trader.app.promote import _rollback, _write
    from otonom_trader.app.pull_request import publish, remove_saved, save_body

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
            _write(git.root, path, text)
        sha = git.commit(list(files), message)
    except BaseException:
        _rollback(git, list(files), base, branch)
        remove_saved(git.root, name)
        raise
    git.checkout(base)
    result = publish(git, branch=branch, base=base, remote=remote, forge_url=forge_url,
                     repo=repo, title=title, body_path=body_path)
    return ChangeOutcome(branch, base, sha, body_path, result)
