"""Use case: push a promotion branch and open its pull request (now, or later with
``otonom pr open``).

The pull request's title and body are saved under ``.otonom/pr/<name>.md`` (the body, usable
with ``gh pr create --body-file``) and ``<name>.json`` (title, head, base, remote), so a push
or API call that failed can be finished later. A forge is used when ``GITHUB_TOKEN`` is set
and the API root is known (``--forge-url``, ``GITHUB_API_URL`` or a github.com remote).
"""

from __future__ import annotations

import json
import os
import shlex
from dataclasses import dataclass
from pathlib import Path

from otonom_trader.adapters.atomic import write_atomic
from otonom_trader.adapters.forge import (
    TOKEN_ENV,
    Forge,
    PullRef,
    api_root,
    compare_url,
    forge_wait,
    parse_remote,
    resolve_api_url,
    resolve_repo,
)
from otonom_trader.domain.errors import ForgeError, InputError, PushError
from otonom_trader.domain.names import check_name, inside
from otonom_trader.domain.redact import redact

__all__ = ["PR_DIR", "PublishResult", "SavedPull", "check_forge_settings", "finish_command",
           "forge_for", "load_saved", "open_saved_pull", "publish", "remove_saved", "save_body"]

PR_DIR = ".otonom/pr"


@dataclass(frozen=True)
class SavedPull:
    title: str
    head: str
    base: str
    remote: str
    body_path: str  # repository-relative


def save_body(root: Path, name: str, *, title: str, body: str, head: str, base: str,
              remote: str) -> str:
    """Write ``.otonom/pr/<name>.md`` and ``.json`` (secrets redacted); returns the body's
    relative path."""
    name = check_name(name, "--output-name")
    folder = inside(root, PR_DIR, "the pull request folder")
    folder.mkdir(parents=True, exist_ok=True)
    ignore = root / ".otonom" / ".gitignore"
    if not ignore.exists():  # local state, never committed (even without a .gitignore entry)
        ignore.write_text("*\n", encoding="utf-8")
    write_atomic(inside(folder, f"{name}.md", "--output-name"), redact(body))
    meta = {"title": redact(title), "head": head, "base": base, "remote": remote}
    write_atomic(inside(folder, f"{name}.json", "--output-name"),
                 json.dumps(meta, indent=2) + "\n")
    return f"{PR_DIR}/{name}.md"


def remove_saved(root: Path, name: str) -> None:
    """Forget the saved pull request of a promotion that was rolled back."""
    for suffix in (".md", ".json"):
        (root / PR_DIR / f"{name}{suffix}").unlink(missing_ok=True)


def _saved_name(branch: str) -> str:
    """The saved name of ``promote/<name>`` or ``rollout/<name>`` (the name rule: it names
    saved files)."""
    for prefix in ("promote/", "rollout/"):
        if branch.startswith(prefix):
            return check_name(branch.removeprefix(prefix), "BRANCH promote/<name>, name")
    return check_name(branch, "BRANCH promote/<name>, name")


def load_saved(root: Path, branch: str) -> SavedPull:
    name = _saved_name(branch)
    folder = root / PR_DIR
    body, meta = inside(folder, f"{name}.md", "BRANCH"), inside(folder, f"{name}.json", "BRANCH")
    if not body.is_file() or not meta.is_file():
        raise InputError(f"no saved pull request for {branch} ({PR_DIR}/{name}.md): it is "
                         "written by `otonom promote` in this clone; open the pull request by "
                         "hand")
    try:
        data = json.loads(meta.read_text(encoding="utf-8"))
        return SavedPull(data["title"], data.get("head", branch), data["base"],
                         data.get("remote", "origin"), f"{PR_DIR}/{name}.md")
    except (ValueError, KeyError, TypeError):
        raise InputError(f"{PR_DIR}/{name}.json is not a saved pull request: remove it and "
                         "open the pull request by hand") from None


def check_forge_settings(forge_url: str | None, repo: str | None) -> None:
    """Refuse a malformed ``--forge-url``/``GITHUB_API_URL``, ``--repo`` or
    ``OTONOM_FORGE_TIMEOUT`` before anything is written (exit 2)."""
    resolve_api_url(forge_url, None)
    resolve_repo(repo, None)
    forge_wait()


def finish_command(branch: str, forge_url: str | None) -> str:
    """``otonom pr open <branch> [--forge-url <API root>]``: the URL without user-info."""
    argv = ["otonom", "pr", "open", branch]
    if forge_url is not None:
        argv += ["--forge-url", api_root(forge_url)]
    return redact(shlex.join(argv))


@dataclass(frozen=True)
class ForgeTarget:
    forge: Forge | None  # None: no token or no API root
    repo: str | None  # owner/name
    why_not: str | None  # why there is no forge (None when there is one)


def forge_for(remote_url: str | None, forge_url: str | None, repo: str | None) -> ForgeTarget:
    """The forge to open pull requests on, or why there is none."""
    remote = parse_remote(remote_url)
    api = resolve_api_url(forge_url, remote)
    slug = resolve_repo(repo, remote)
    if not os.environ.get(TOKEN_ENV):
        return ForgeTarget(None, slug, f"{TOKEN_ENV} is not set")
    if api is None:
        return ForgeTarget(None, slug, "the remote is not a GitHub repository (pass --forge-url "
                                       "for GitHub Enterprise)")
    if slug is None:
        return ForgeTarget(None, None, "the repository's owner/name is unknown (pass --repo or "
                                       "set GITHUB_REPOSITORY)")
    return ForgeTarget(Forge.from_env(api), slug, None)


@dataclass(frozen=True)
class PublishResult:
    remote_url: str | None
    pushed: bool
    push_error: str | None
    pull: PullRef | None
    pull_error: str | None
    manual: tuple[str, ...]  # how to open the pull request by hand (no forge)
    notes: tuple[str, ...]

    @property
    def failed(self) -> bool:
        return bool(self.push_error or self.pull_error)


def _manual(remote_url: str | None, branch: str, base: str, title: str, body_path: str
            ) -> tuple[str, ...]:
    lines = [shlex.join(["gh", "pr", "create", "--base", base, "--head", branch, "--title",
                         title, "--body-file", body_path])]
    url = compare_url(parse_remote(remote_url), base, branch)
    if url:
        lines.append(url)
    return tuple(lines)


def publish(git, *, branch: str, base: str, remote: str, forge_url: str | None,
            repo: str | None, title: str, body_path: str) -> PublishResult:
    """Push ``branch`` and open its pull request; failures are reported, not raised."""
    remote_url = git.remote_url(remote)
    if remote_url is None:
        note = (f"no remote '{remote}': {branch} stays local; add one and run "
                f"`otonom pr open {branch}`")
        return PublishResult(None, False, None, None, None,
                             _manual(None, branch, base, title, body_path), (note,))
    try:
        git.push(remote, branch)
    except PushError as exc:
        return PublishResult(remote_url, False, str(exc), None, None, (), ())
    try:
        target = forge_for(remote_url, forge_url, repo)
    except (InputError, ForgeError) as exc:  # the commit exists: report, never raise
        return PublishResult(remote_url, True, None, None, str(exc), (), ())
    if target.forge is None:
        return PublishResult(remote_url, True, None, None, None,
                             _manual(remote_url, branch, base, title, body_path),
                             (f"no pull request opened: {target.why_not}",))
    body = (git.root / body_path).read_text(encoding="utf-8")
    try:
        with target.forge as forge:
            pull = forge.open_pull(target.repo, head=branch, base=base, title=title, body=body)
    except ForgeError as exc:
        return PublishResult(remote_url, True, None, None, str(exc), (), ())
    return PublishResult(remote_url, True, None, pull, None, (), ())


@dataclass(frozen=True)
class OpenOutcome:
    branch: str
    pushed_now: bool
    pull: PullRef


def open_saved_pull(branch: str, *, remote: str | None = None, forge_url: str | None = None,
                    repo: str | None = None, cwd: str | Path = ".") -> OpenOutcome:
    """Finish a promotion: push ``branch`` if the remote lacks its commit, then open the
    pull request from the saved body (or report the one already open)."""
    from otonom_trader.adapters.git_repo import GitRepo

    _saved_name(branch)
    with GitRepo(cwd) as git:
        if not git.branch_exists(branch):
            raise InputError(f"no local branch {branch}: check the name (git branch --list "
                             "'promote/*')")
        saved = load_saved(git.root, branch)
        remote = remote or saved.remote
        remote_url = git.remote_url(remote)
        if remote_url is None:
            raise InputError(f"no remote '{remote}': add it (git remote add {remote} URL) or "
                             "pass --remote")
        pushed_now = False
        if git.remote_sha(remote, branch) != git.head_sha(branch):
            git.push(remote, branch)
            pushed_now = True
        target = forge_for(remote_url, forge_url, repo)
        if target.forge is None:
            manual = _manual(remote_url, branch, saved.base, saved.title, saved.body_path)
            done = f"pushed {branch} to {remote}, but " if pushed_now else ""
            raise InputError(f"{done}cannot open the pull request ({target.why_not}): fix "
                             f"that, or open it by hand: {manual[0]}")
        body = (git.root / saved.body_path).read_text(encoding="utf-8")
        try:
            with target.forge as forge:
                pull = forge.open_pull(target.repo, head=branch, base=saved.base,
                                       title=saved.title, body=body)
        except ForgeError as exc:
            pushed = f"pushed {branch}; " if pushed_now else ""
            raise ForgeError(f"{exc}: {pushed}the branch and its commit stay; run "
                             f"`{finish_command(branch, forge_url)}` again") from None
    return OpenOutcome(branch, pushed_now, pull)
