"""The git repository the strategies live in, through gitpython.

Every refusal is one ``GitStateError`` line naming what is wrong and what to do; a failed
push is a ``PushError``. Commands run non-interactively (no credential prompts).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from otonom_trader.domain.errors import GitStateError, PushError, RunError

__all__ = ["GitRepo", "provenance"]

_QUIET = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "", "SSH_ASKPASS": ""}


def _git_line(exc: BaseException) -> str:
    """The most telling line of a failed git command's stderr."""
    text = str(getattr(exc, "stderr", "") or "").strip().strip("'\"")
    text = text.removeprefix("stderr:").strip().strip("'\"")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for key in ("[remote rejected]", "[rejected]", "fatal:", "error:"):
        for line in lines:
            if key in line:
                return line.lstrip("! ").strip()
    return lines[-1] if lines else type(exc).__name__


class GitRepo:
    """A work tree and its repository; use as a context manager (closes git processes)."""

    def __init__(self, path: str | Path = ".") -> None:
        from git import InvalidGitRepositoryError, NoSuchPathError, Repo

        try:
            self.repo = Repo(path, search_parent_directories=True)
        except (InvalidGitRepositoryError, NoSuchPathError):
            raise GitStateError(f"{Path(path).resolve()} is not inside a git repository: run "
                                "this in a clone of the strategy repository (or `git init`)"
                                ) from None
        if self.repo.bare or self.repo.working_tree_dir is None:
            self.repo.close()
            raise GitStateError(f"{path} is a bare git repository: run this in a work tree")
        self.root = Path(self.repo.working_tree_dir)

    def close(self) -> None:
        self.repo.close()

    def __enter__(self) -> GitRepo:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _git(self, *args: str, quiet: bool = False) -> str:
        from git import GitCommandError

        try:
            if quiet:
                with self.repo.git.custom_environment(**_QUIET):
                    return self.repo.git.execute(["git", *args])
            return self.repo.git.execute(["git", *args])
        except GitCommandError as exc:
            raise RunError(f"git {args[0]} failed: {_git_line(exc)}") from None

    # -- state -------------------------------------------------------------------------

    def current_branch(self) -> str:
        """The checked-out branch; a detached HEAD or an unborn branch is refused."""
        if self.repo.head.is_detached:
            sha = self.repo.head.commit.hexsha[:12]
            raise GitStateError(f"HEAD is detached at {sha}: check out a branch first "
                                "(git switch main)")
        if not self.repo.head.is_valid():
            raise GitStateError("the current branch has no commit yet: commit the repository "
                                "first")
        return self.repo.active_branch.name

    def checked_out(self) -> str | None:
        """The checked-out branch, or None (a detached or unborn HEAD)."""
        if self.repo.head.is_detached:
            return None
        return self.repo.head.ref.name

    def head_sha(self, rev: str = "HEAD") -> str:
        return self.repo.commit(rev).hexsha

    def commit_of(self, rev: str) -> str | None:
        """The commit ``rev`` names (a branch, tag, sha, ``refs/...``), or None."""
        from git import GitCommandError

        try:
            return self.repo.git.rev_parse("--verify", "--quiet", f"{rev}^{{commit}}") or None
        except GitCommandError:
            return None

    def is_dirty(self) -> bool:
        """Uncommitted changes to tracked files (staged or not); untracked files don't count."""
        return self.repo.is_dirty(index=True, working_tree=True, untracked_files=False)

    def dirty_paths(self, untracked_under: Iterable[str] = ()) -> list[str]:
        """Tracked changes (staged or not) and untracked files under ``untracked_under``
        (directories ending in ``/`` or exact paths), as ``git status --short`` lines."""
        out = self.repo.git.status("--porcelain=v1", "-z", "--untracked-files=all")
        prefixes = tuple(untracked_under)
        lines, parts = [], out.split("\0")
        i = 0
        while i < len(parts):
            entry = parts[i]
            i += 1
            if len(entry) < 4:
                continue
            code, path = entry[:2], entry[3:]
            if code[0] in "RC":  # a rename/copy is followed by its source path
                i += 1
            if code == "??":
                if not any(path == p or (p.endswith("/") and path.startswith(p))
                           for p in prefixes):
                    continue
            elif code == "!!":
                continue
            lines.append(f"{code.strip() or code} {path}")
        return lines

    def branch_exists(self, branch: str, remote: str | None = None) -> bool:
        """A local branch, or a remote-tracking branch of ``remote``, of that name."""
        refs = [f"refs/heads/{branch}"]
        if remote:
            refs.append(f"refs/remotes/{remote}/{branch}")
        from git import BadName

        for ref in refs:
            try:
                self.repo.rev_parse(ref)
            except (BadName, ValueError):
                continue
            return True
        return False

    def check_branch_name(self, branch: str) -> bool:
        from git import GitCommandError

        try:
            self.repo.git.check_ref_format("--branch", branch)
        except GitCommandError:
            return False
        return True

    # -- changes -----------------------------------------------------------------------

    def create_branch(self, branch: str, checkout: bool = True) -> None:
        """Create ``branch`` at HEAD (and check it out)."""
        self._git("branch", branch)
        if checkout:
            self._git("checkout", "-q", branch)

    def checkout(self, branch: str) -> None:
        self._git("checkout", "-q", branch)

    def delete_branch(self, branch: str) -> None:
        self._git("branch", "-D", branch)

    def changed_paths(self, base: str) -> list[str]:
        """Repository-relative paths added, copied, modified or renamed in ``base...HEAD``."""
        from git import GitCommandError

        try:
            out = self.repo.git.diff("--name-only", "--diff-filter=ACMRT", "-z",
                                     f"{base}...HEAD")
        except GitCommandError as exc:
            raise RunError(f"git diff {base}...HEAD failed: {_git_line(exc)}") from None
        return [name for name in out.split("\0") if name]

    def is_tracked(self, path: str) -> bool:
        return bool(self.repo.git.ls_files("--", path))

    def restore(self, path: str) -> None:
        """Put a tracked file back as in HEAD (index and work tree)."""
        self._git("checkout", "HEAD", "--", path)

    def unstage(self, paths: Iterable[str]) -> None:
        """Drop ``paths`` from the index (kept as they are in HEAD, or removed if new)."""
        paths = list(paths)
        if paths:
            self._git("reset", "-q", "HEAD", "--", *paths)

    def commit(self, paths: Iterable[str], message: str) -> str:
        """Stage ``paths`` (repository-relative; listed, so staged even where ignored) and
        commit only them; returns the sha."""
        paths = list(paths)
        self._git("add", "-f", "--", *paths)
        self._git("commit", "-q", "-m", message, "--", *paths)
        return self.head_sha()

    def file_at(self, rev: str, path: str) -> str | None:
        """The text of ``path`` at ``rev`` (None if absent there)."""
        from git import GitCommandError

        try:
            return self.repo.git.show(f"{rev}:{path}", strip_newline_in_stdout=False)
        except GitCommandError:
            return None

    def has_identity(self) -> bool:
        """Whether git has a committer e-mail configured (CI runners often have none)."""
        from git import GitCommandError

        try:
            return bool(self.repo.git.config("user.email"))
        except GitCommandError:
            return False

    def tag(self, tag: str, rev: str, message: str, env: dict[str, str] | None = None) -> None:
        """Create the annotated tag ``tag`` at ``rev`` (``env``: e.g. a committer identity)."""
        with self.repo.git.custom_environment(**(env or {})):
            self._git("tag", "-a", tag, "-m", message, rev)

    # -- remotes -----------------------------------------------------------------------

    def remote_url(self, remote: str) -> str | None:
        """The URL of ``remote`` or None when there is no such remote."""
        if remote not in [r.name for r in self.repo.remotes]:
            return None
        urls = list(self.repo.remote(remote).urls)
        return urls[0] if urls else None

    def remote_sha(self, remote: str, branch: str) -> str | None:
        """The commit ``branch`` points to on ``remote`` (asks the remote), or None."""
        from git import GitCommandError

        try:
            with self.repo.git.custom_environment(**_QUIET):
                out = self.repo.git.ls_remote(remote, f"refs/heads/{branch}")
        except GitCommandError as exc:
            raise PushError(f"cannot reach remote {remote}: {_git_line(exc)}") from None
        return out.split()[0] if out.strip() else None

    def push_tags(self, remote: str, tags: Iterable[str]) -> None:
        """Push the tags ``tags`` to ``remote``."""
        from git import GitCommandError

        refs = [f"refs/tags/{t}" for t in tags]
        if not refs:
            return
        try:
            with self.repo.git.custom_environment(**_QUIET):
                self.repo.git.push(remote, *refs)
        except GitCommandError as exc:
            raise PushError(f"git push: {_git_line(exc)}") from None

    def push(self, remote: str, branch: str) -> None:
        """Push ``branch`` to the same name on ``remote`` and track it."""
        from git import GitCommandError

        try:
            with self.repo.git.custom_environment(**_QUIET):
                self.repo.git.push("-u", remote,
                                   f"refs/heads/{branch}:refs/heads/{branch}")
        except GitCommandError as exc:
            raise PushError(f"push of {branch} to {remote} failed: {_git_line(exc)}") from None


    # -- following a branch (the daemon) ----------------------------------------------

    def fetch(self, remote: str, branch: str) -> None:
        """Fetch ``branch`` from ``remote`` into ``refs/remotes/<remote>/<branch>``."""
        self._git("fetch", "-q", remote,
                  f"+refs/heads/{branch}:refs/remotes/{remote}/{branch}", quiet=True)

    def is_ancestor(self, older: str, newer: str) -> bool:
        from git import GitCommandError

        try:
            self.repo.git.merge_base("--is-ancestor", older, newer)
        except GitCommandError:
            return False
        return True

    def fast_forward(self, branch: str, to: str) -> None:
        """Move ``branch`` to ``to`` (a descendant; never a merge commit), updating the work
        tree when ``branch`` is checked out."""
        if self.checked_out() == branch:
            self._git("merge", "-q", "--ff-only", to)
        else:
            self._git("update-ref", f"refs/heads/{branch}", to)


def provenance(path: str | Path) -> tuple[str | None, bool | None]:
    """(HEAD commit, uncommitted changes?) of the repository holding ``path`` (a file or
    folder), not of the current directory; (None, None) outside a repository or before its
    first commit."""
    target = Path(path).resolve()
    try:
        git = GitRepo(target if target.is_dir() else target.parent)
    except GitStateError:
        return None, None
    with git:
        head = git.commit_of("HEAD")
        return (head, git.is_dirty()) if head else (None, None)
