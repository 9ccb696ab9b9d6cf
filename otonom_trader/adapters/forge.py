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
``https://ghe.example.com/api/v3`` for GitHub Enterprise, or a local stand-in in tests; user-info
in it is dropped (:func:`api_root`).

Whatever the forge answers (an error, an HTML page, ``{}``, a redirect, nothing at all), each
operation ends within ``OTONOM_FORGE_TIMEOUT`` seconds (default 30) with a result or one
``ForgeError`` line, redacted (:mod:`otonom_trader.domain.redact`).
"""

from __future__ import annotations

import logging
import math
import os
import re
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from otonom_trader.domain.errors import ForgeError, InputError
from otonom_trader.domain.redact import redact

__all__ = [
    "DEFAULT_API_URL",
    "CommentRef",
    "Forge",
    "PullRef",
    "RemoteRepo",
    "api_root",
    "api_url_for",
    "compare_url",
    "forge_wait",
    "parse_remote",
    "resolve_api_url",
    "resolve_repo",
    "upsert_comment",
]

DEFAULT_API_URL = "https://api.github.com"
TOKEN_ENV = "GITHUB_TOKEN"
WAIT_ENV = "OTONOM_FORGE_TIMEOUT"  # seconds one forge operation may take, all requests included
DEFAULT_WAIT, MAX_WAIT = 30.0, 3600.0
_API_EXAMPLE = "e.g. https://api.github.com or https://ghe.example.com/api/v3"
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


def api_root(url: str, what: str = "--forge-url") -> str:
    """``url`` as a REST API root ``http(s)://host[:port][/path]``: user-info dropped (the
    token comes from ``GITHUB_TOKEN`` only), no trailing slash. Anything else is an
    ``InputError`` naming ``what``."""
    text = url if isinstance(url, str) else ""
    try:
        parts = urlsplit(text)
        port = parts.port  # ValueError for a port that is not a number
    except ValueError:
        parts, port = None, None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname \
            or parts.query or parts.fragment or any(c.isspace() or ord(c) < 32 for c in text):
        raise InputError(f"{what} {redact(url)!r}: not an API URL ({_API_EXAMPLE})")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    netloc = host + (f":{port}" if port is not None else "")
    return urlunsplit((parts.scheme.lower(), netloc, parts.path.rstrip("/"), "", ""))


def resolve_api_url(forge_url: str | None, remote: RemoteRepo | None) -> str | None:
    """``--forge-url``, else ``GITHUB_API_URL`` (set by GitHub Actions), else api.github.com
    for a github.com remote, else None (no forge). A malformed URL is an ``InputError``."""
    if forge_url is not None:
        return api_root(forge_url, "--forge-url")
    if os.environ.get("GITHUB_API_URL"):
        return api_root(os.environ["GITHUB_API_URL"], "GITHUB_API_URL")
    return api_url_for(remote)


def forge_wait() -> float:
    """Seconds one forge operation may take: ``OTONOM_FORGE_TIMEOUT``, default 30."""
    text = os.environ.get(WAIT_ENV, "").strip()
    if not text:
        return DEFAULT_WAIT
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 1 <= value <= MAX_WAIT:
        raise InputError(f"{WAIT_ENV}={text[:20]!r}: expected seconds between 1 and "
                         f"{MAX_WAIT:g} (default {DEFAULT_WAIT:g})")
    return value


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


_NOT_API = (f"the answer is not the GitHub REST API: check that --forge-url is the API root "
            f"({_API_EXAMPLE})")


def _one_line(exc: BaseException) -> str:
    """What went wrong, as one short line: a GitHub error's status and message (never its
    headers), a network failure's kind, or that the answer was not the GitHub API."""
    from github import GithubException
    from requests import RequestException
    from requests.exceptions import RetryError

    if isinstance(exc, _MissingField):
        return f"{exc}; {_NOT_API}"
    if isinstance(exc, GithubException):
        data = exc.data if isinstance(exc.data, dict) else {}
        message = data.get("message") if isinstance(data.get("message"), str) else None
        details = [str(e.get("message") if isinstance(e, dict) else e)
                   for e in (data.get("errors") if isinstance(data.get("errors"), list) else [])
                   if e]
        text = f"HTTP {exc.status}" + (f" {message}" if message else "")
        text += f" ({'; '.join(details)})" if details else ""
        if 300 <= (exc.status or 0) < 400:
            text += f"; a redirect: {_NOT_API}"
        return " ".join(text.split())[:300]
    if isinstance(exc, RetryError):
        return "it kept answering with server errors (HTTP 5xx), retried"
    if isinstance(exc, RequestException | OSError):
        return f"cannot reach it ({type(exc).__name__})"
    if isinstance(exc, RuntimeError) and "redirected" in str(exc):  # PyGithub on a 301
        return f"it redirected the request elsewhere; {_NOT_API}"
    return f"{_NOT_API} ({type(exc).__name__})"


class _Redacted(logging.Filter):
    """Log records with secrets redacted (see ``domain.redact``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage()), ()
        return True


def _quiet_pygithub() -> None:
    """PyGithub logs INFO lines (retries, redirects) to stderr through its own handler: keep
    warnings and worse only, redacted, so a failure stays one line."""
    log = logging.getLogger("github")
    log.setLevel(logging.WARNING)
    for handler in log.handlers:  # handler filters see the records of child loggers too
        if not any(isinstance(f, _Redacted) for f in handler.filters):
            handler.addFilter(_Redacted())


class _MissingField(ValueError):
    """An answer without a field otonom needs (``{}``, an HTML page...)."""


def _need(value: Any, kind: type, what: str) -> Any:
    """A field PyGithub read from an answer, or ``_MissingField`` when the answer lacked it."""
    if not isinstance(value, kind) or isinstance(value, bool):
        raise _MissingField(f"the answer has no {what}")
    return value


class Forge:
    """A GitHub REST client for one API root and one token. Each operation (``find_pull``,
    ``open_pull``, ``upsert_comment``) ends within ``wait`` seconds: every request waits at
    most a third of it and is retried at most twice (5xx, rate limits), and whatever is
    still unanswered when ``wait`` runs out is abandoned."""

    def __init__(self, token: str, base_url: str = DEFAULT_API_URL, *,
                 wait: float | None = None) -> None:
        from github import Auth, Github, GithubRetry

        if not token:
            raise InputError(f"no forge token: set {TOKEN_ENV}")
        self.base_url = api_root(base_url, "the forge URL")
        self.wait = forge_wait() if wait is None else float(wait)
        self._token = token
        self._deadline = math.inf
        retry = GithubRetry(total=2, backoff_factor=0.5, max_rate_limit_wait=self.wait)
        _quiet_pygithub()
        self._gh = Github(base_url=self.base_url, auth=Auth.Token(token),
                          timeout=max(1, min(10, int(self.wait // 3))), retry=retry)

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

    def _start(self) -> None:
        """Start the clock of one operation."""
        self._deadline = time.monotonic() + self.wait

    def _call(self, what: str, fn, *args, **kwargs):
        """``fn(*args, **kwargs)`` (PyGithub calls, and reading their answers) in a daemon
        thread, given what is left of the operation's time; any failure is one redacted
        ``ForgeError`` line."""
        box: dict[str, Any] = {}

        def run() -> None:
            try:
                box["value"] = fn(*args, **kwargs)
            except Exception as exc:
                box["error"] = exc

        remaining = self._deadline - time.monotonic()
        worker = threading.Thread(target=run, name="otonom-forge", daemon=True)
        if remaining > 0:
            worker.start()
            worker.join(None if math.isinf(remaining) else remaining)
        if remaining <= 0 or worker.is_alive():
            raise ForgeError(redact(
                f"{what}: no answer from {self.base_url} within {self.wait:g} s (set "
                f"{WAIT_ENV} to wait longer)", self._token))
        if "error" in box:
            raise ForgeError(redact(f"{what} on {self.base_url} failed: "
                                    f"{_one_line(box['error'])}", self._token)) from None
        return box["value"]

    def _repo(self, slug: str):
        def get():
            repo = self._gh.get_repo(slug)
            _need(repo.url, str, "repository url")
            return repo

        return self._call(f"reading repository {slug}", get)

    def find_pull(self, repo: str, head: str) -> PullRef | None:
        """The open pull request whose head is branch ``head`` of ``repo``, if any."""
        self._start()
        gh_repo = self._repo(repo)
        return self._find_pull(gh_repo, repo, head)

    def _find_pull(self, gh_repo, repo: str, head: str) -> PullRef | None:
        owner = repo.split("/")[0]

        def first():
            for pull in gh_repo.get_pulls(state="open", head=f"{owner}:{head}"):
                return PullRef(_need(pull.number, int, "pull request number"),
                               _need(pull.html_url, str, "pull request html_url"), head,
                               _need(pull.base.ref, str, "pull request base"), created=False)
            return None

        return self._call(f"listing pull requests of {repo}", first)

    def open_pull(self, repo: str, *, head: str, base: str, title: str, body: str) -> PullRef:
        """Open a pull request from branch ``head`` into ``base``; if one is already open for
        ``head``, return it unchanged (``created=False``). Title and body are redacted."""
        self._start()
        gh_repo = self._repo(repo)
        existing = self._find_pull(gh_repo, repo, head)
        if existing is not None:
            return existing

        def create():
            pull = gh_repo.create_pull(base=base, head=head, title=redact(title, self._token),
                                       body=redact(body, self._token))
            return PullRef(_need(pull.number, int, "pull request number"),
                           _need(pull.html_url, str, "pull request html_url"), head, base,
                           created=True)

        return self._call(f"opening a pull request {head} → {base} in {repo}", create)

    def upsert_comment(self, repo: str, pr_number: int, body: str, marker: str) -> CommentRef:
        """Update the one issue comment of pull request ``pr_number`` that contains
        ``marker`` (e.g. ``<!-- otonom-validate -->``), or create it. The marker is added to
        ``body`` when missing, so the next call finds the comment again. The body is
        redacted."""
        if not marker or not marker.strip():
            raise InputError("the comment marker is empty: pass e.g. '<!-- otonom-validate -->'")
        body = redact(body, self._token)
        if marker not in body:
            body = f"{body.rstrip()}\n\n{marker}\n"
        self._start()
        gh_repo = self._repo(repo)
        where = f"pull request #{pr_number} of {repo}"

        def get_issue():
            issue = gh_repo.get_issue(int(pr_number))
            _need(issue.url, str, "issue url")
            return issue

        issue = self._call(f"reading {where}", get_issue)

        def find():
            for comment in issue.get_comments():
                if marker in (comment.body or ""):
                    return (comment, _need(comment.id, int, "comment id"),
                            _need(comment.html_url, str, "comment html_url"))
            return None

        found = self._call(f"listing comments of {where}", find)
        if found is None:
            def create():
                made = issue.create_comment(body)
                return CommentRef(_need(made.id, int, "comment id"),
                                  _need(made.html_url, str, "comment html_url"), created=True)

            return self._call(f"commenting on {where}", create)
        comment, cid, url = found
        self._call(f"updating comment {cid} of {where}", comment.edit, body)
        return CommentRef(cid, url, created=False)


def upsert_comment(repo: str, pr_number: int, body: str, marker: str, *,
                   base_url: str | None = None) -> CommentRef:
    """Create or update the marked comment on a pull request with ``GITHUB_TOKEN``.

    ``base_url`` defaults to ``GITHUB_API_URL``, then ``https://api.github.com``. Raises
    ``InputError`` without a token, ``ForgeError`` when GitHub refuses or cannot be reached.
    """
    forge = Forge.from_env(resolve_api_url(base_url, None))
    if forge is None:
        raise InputError(f"{TOKEN_ENV} is not set: export a token that may comment on {repo}")
    with forge:
        return forge.upsert_comment(repo, pr_number, body, marker)
