"""The forge: pull requests and pull-request comments on GitHub (or GitHub Enterprise) via
PyGithub.

The token comes from the ``GITHUB_TOKEN`` environment variable only. It is handed to PyGithub
and nowhere else: it is never part of a message, a log line, a file or a URL.

Typical use::

    forge = Forge.from_env()                  # None when GITHUB_TOKEN is not set
    pr = forge.open_pull("acme/strategies", head="promote/v2", base="main",
                         title="...", body="...")     # idempotent: an open PR is reused
    upsert_comment("acme/strategies", pr.number, body, "<!-- otonom-validate -->")

``base_url`` is the REST API root: ``https://api.github.com`` (the default),
``https://ghe.example.com/api/v3`` for GitHub Enterprise, or a local stand-in in tests.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from otonom_trader.domain.errors import ForgeError, InputError

__all__ = [
    "DEFAULT_API_URL",
    "CommentRef",
    "Forge",
    "PullRef",
    "RemoteRepo",
    "api_url_for",
    "compare_url",
    "parse_remote",
    "resolve_api_url",
    "resolve_repo",
    "upsert_comment",
]

DEFAULT_API_URL = "https://api.github.com"
TOKEN_ENV = "GITHUB_TOKEN"
_SLUG = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
# https://host/owner/repo(.git), ssh://git@host(:port)/owner/repo(.git), git@host:owner/repo(.git)
_REMOTE_PATTERNS = (
    re.compile(r"^(?:https?|ssh|git)://(?:[^@/]+@)?(?P<host>[^/:]+)(?::\d+)?/"
               r"(?P<slug>[^/]+/[^/]+?)(?:\.git)?/?$"),
    re.compile(r"^(?:[^@/]+@)?(?P<host>[^/:]+):(?P<slug>[^/]+/[^/]+?)(?:\.git)?/?$"),
)


@dataclass(frozen=True)
class RemoteRepo:
    """A repository on a forge host, parsed from a git remote URL."""

    host: str  # github.com, ghe.example.com
    slug: str  # owner/name

    @property
    def is_github(self) -> bool:
        return self.host.lower() in ("github.com", "www.github.com")


@dataclass(frozen=True)
class PullRef:
    number: int
    url: str  # the web page (html_url)
    head: str
    base: str
    created: bool  # False: an open pull request for the head already existed


@dataclass(frozen=True)
class CommentRef:
    id: int
    url: str  # the web page (html_url)
    created: bool  # False: the marked comment existed and was updated


def parse_remote(url: str | None) -> RemoteRepo | None:
    """``owner/name`` and host of an https or ssh git remote URL; None for local paths."""
    if not url:
        return None
    url = url.strip()
    if url.startswith(("/", ".", "file:")) or re.match(r"^[A-Za-z]:[\\/]", url):
        return None
    for pattern in _REMOTE_PATTERNS:
        m = pattern.match(url)
        if m and _SLUG.match(m["slug"]):
            return RemoteRepo(m["host"], m["slug"])
    return None


def api_url_for(remote: RemoteRepo | None) -> str | None:
    """The REST API root for a github.com remote (Enterprise needs an explicit URL)."""
    return DEFAULT_API_URL if remote is not None and remote.is_github else None


def resolve_api_url(forge_url: str | None, remote: RemoteRepo | None) -> str | None:
    """``--forge-url``, else ``GITHUB_API_URL`` (set by GitHub Actions), else api.github.com
    for a github.com remote, else None (no forge)."""
    url = forge_url or os.environ.get("GITHUB_API_URL") or api_url_for(remote)
    return url.rstrip("/") if url else None


def resolve_repo(explicit: str | None, remote: RemoteRepo | None) -> str | None:
    """``--repo``, else ``GITHUB_REPOSITORY``, else the remote's ``owner/name``."""
    slug = explicit or os.environ.get("GITHUB_REPOSITORY") or (remote.slug if remote else None)
    if slug and not _SLUG.match(slug):
        raise InputError(f"repository {slug!r}: expected owner/name (e.g. acme/strategies)")
    return slug


def compare_url(remote: RemoteRepo | None, base: str, head: str) -> str | None:
    """The web page that opens a pull request from ``head`` into ``base``."""
    if remote is None:
        return None
    return f"https://{remote.host}/{remote.slug}/compare/{base}...{head}?expand=1"


def _one_line(exc: BaseException) -> str:
    """A GitHub error as one line: status and message, never headers (nor the token)."""
    status = getattr(exc, "status", None)
    data = getattr(exc, "data", None)
    if status is not None:
        message = data.get("message") if isinstance(data, dict) else None
        details = []
        if isinstance(data, dict):
            for err in data.get("errors") or []:
                text = err.get("message") if isinstance(err, dict) else str(err)
                if text:
                    details.append(str(text))
        text = f"HTTP {status}" + (f" {message}" if message else "")
        return text + (f" ({'; '.join(details)})" if details else "")
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class Forge:
    """A GitHub REST client for one API root and one token."""

    def __init__(self, token: str, base_url: str = DEFAULT_API_URL, *, timeout: int = 15,
                 retry: Any = "default") -> None:
        from github import Auth, Github

        if not token:
            raise InputError(f"no forge token: set {TOKEN_ENV}")
        self.base_url = base_url.rstrip("/")
        kwargs: dict[str, Any] = {"base_url": self.base_url, "auth": Auth.Token(token),
                                  "timeout": timeout}
        if retry != "default":
            kwargs["retry"] = retry
        self._gh = Github(**kwargs)

    @classmethod
    def from_env(cls, base_url: str | None = None, **kwargs: Any) -> Forge | None:
        """A forge with ``GITHUB_TOKEN``, or None when the variable is unset or empty."""
        token = os.environ.get(TOKEN_ENV)
        if not token:
            return None
        return cls(token, base_url or DEFAULT_API_URL, **kwargs)

    def close(self) -> None:
        self._gh.close()

    def __enter__(self) -> Forge:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _call(self, what: str, fn, *args, **kwargs):
        from github import GithubException
        from requests import RequestException

        try:
            return fn(*args, **kwargs)
        except GithubException as exc:
            raise ForgeError(f"{what} on {self.base_url} failed: {_one_line(exc)}") from None
        except (RequestException, OSError) as exc:
            raise ForgeError(f"{what}: cannot reach {self.base_url} "
                             f"({type(exc).__name__})") from None

    def _repo(self, slug: str):
        return self._call(f"reading repository {slug}", self._gh.get_repo, slug)

    def find_pull(self, repo: str, head: str) -> PullRef | None:
        """The open pull request whose head is branch ``head`` of ``repo``, if any."""
        gh_repo = self._repo(repo)
        return self._find_pull(gh_repo, repo, head)

    def _find_pull(self, gh_repo, repo: str, head: str) -> PullRef | None:
        owner = repo.split("/")[0]

        def first():
            for pull in gh_repo.get_pulls(state="open", head=f"{owner}:{head}"):
                return pull
            return None

        pull = self._call(f"listing pull requests of {repo}", first)
        if pull is None:
            return None
        return PullRef(pull.number, pull.html_url, head, pull.base.ref, created=False)

    def open_pull(self, repo: str, *, head: str, base: str, title: str, body: str) -> PullRef:
        """Open a pull request from branch ``head`` into ``base``; if one is already open for
        ``head``, return it unchanged (``created=False``)."""
        gh_repo = self._repo(repo)
        existing = self._find_pull(gh_repo, repo, head)
        if existing is not None:
            return existing
        pull = self._call(f"opening a pull request {head} → {base} in {repo}",
                          gh_repo.create_pull, base=base, head=head, title=title, body=body)
        return PullRef(pull.number, pull.html_url, head, base, created=True)

    def upsert_comment(self, repo: str, pr_number: int, body: str, marker: str) -> CommentRef:
        """Update the one issue comment of pull request ``pr_number`` that contains
        ``marker`` (e.g. ``<!-- otonom-validate -->``), or create it. The marker is added to
        ``body`` when missing, so the next call finds the comment again."""
        if not marker or not marker.strip():
            raise InputError("the comment marker is empty: pass e.g. '<!-- otonom-validate -->'")
        if marker not in body:
            body = f"{body.rstrip()}\n\n{marker}\n"
        gh_repo = self._repo(repo)
        where = f"pull request #{pr_number} of {repo}"
        issue = self._call(f"reading {where}", gh_repo.get_issue, int(pr_number))

        def find():
            for comment in issue.get_comments():
                if marker in (comment.body or ""):
                    return comment
            return None

        comment = self._call(f"listing comments of {where}", find)
        if comment is None:
            made = self._call(f"commenting on {where}", issue.create_comment, body)
            return CommentRef(made.id, made.html_url, created=True)
        self._call(f"updating comment {comment.id} of {where}", comment.edit, body)
        return CommentRef(comment.id, comment.html_url, created=False)


def upsert_comment(repo: str, pr_number: int, body: str, marker: str, *,
                   base_url: str | None = None) -> CommentRef:
    """Create or update the marked comment on a pull request with ``GITHUB_TOKEN``.

    ``base_url`` defaults to ``GITHUB_API_URL``, then ``https://api.github.com``. Raises
    ``InputError`` without a token, ``ForgeError`` when GitHub refuses or cannot be reached.
    """
    forge = Forge.from_env(base_url or os.environ.get("GITHUB_API_URL"))
    if forge is None:
        raise InputError(f"{TOKEN_ENV} is not set: export a token that may comment on {repo}")
    with forge:
        return forge.upsert_comment(repo, pr_number, body, marker)
