"""A local stand-in for the GitHub REST endpoints otonom uses, for offline tests.

Use the ``forge_standin`` pytest fixture (tests/conftest.py); it yields a started
``ForgeStandin`` and stops it afterwards::

    def test_x(forge_standin, monkeypatch):
        monkeypatch.setenv("GITHUB_TOKEN", forge_standin.token)
        forge = Forge(forge_standin.token, base_url=forge_standin.url)   # or --forge-url URL
        number = forge_standin.add_pull("promote/v2")      # a PR to comment on, if needed
        ...
        assert forge_standin.comments_on(number)[0]["body"] == "..."
        assert not forge_standin.errors                    # the fixture checks this too

What it serves on ``http://127.0.0.1:<port>`` (``.url`` is the API root, like
``https://api.github.com``), with GitHub-shaped JSON that PyGithub accepts:

- ``GET  /repos/{owner}/{repo}`` (repositories in ``.repos``; default ``acme/strategies``;
  others are 404 like GitHub),
- ``GET  /repos/{o}/{r}/pulls?state=open&head=owner:branch``, ``POST /repos/{o}/{r}/pulls``
  (JSON ``title``, ``head``, ``base``, ``body`` required; 422 if an open pull request for the
  head exists), ``GET /repos/{o}/{r}/pulls/{n}``, ``GET /repos/{o}/{r}/issues/{n}`` (a pull
  request seen as an issue),
- ``GET /repos/{o}/{r}/issues/{n}/comments``, ``POST /repos/{o}/{r}/issues/{n}/comments``
  (JSON ``body``), ``PATCH /repos/{o}/{r}/issues/comments/{id}`` (JSON ``body``).

Every request needs ``Authorization: token <token>`` or ``Bearer <token>`` (else 401). Each
request is recorded in ``.requests`` as ``Request(method, path, query, json, authorized, at)``
(the token itself is never stored). Shape problems (missing auth, a body field missing or not
a string) are answered 400/422 like GitHub and also appended to ``.errors``.

Answers have the status codes and fields of the real API: ``tests/test_forge_replay.py``
compares them with responses PyGithub's test suite recorded from api.github.com
(``tests/data/github_replay/``).

``fail(method, path_suffix, status=422, message=...)`` makes the next matching request fail
once (e.g. ``fail("POST", "/pulls")`` simulates an API failure when opening a PR); ``{auth}``
in ``message`` is replaced by the request's Authorization header (a forge that echoes it).
``fail(..., raw=b"<html>...", content_type="text/html")`` answers those bytes instead,
``location=`` adds a Location header (a redirect), ``hang=True`` never answers (until
``stop()``). ``times`` repeats the failure (PyGithub retries 5xx twice).
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.standin_server import LocalServer, Request, read_request

__all__ = ["ForgeStandin", "Request"]

_STAMP = "2026-11-24T12:00:00Z"


@dataclass
class _Failure:
    method: str
    suffix: str
    status: int
    message: str
    raw: bytes | None = None
    content_type: str = "application/json; charset=utf-8"
    location: str | None = None
    hang: bool = False


@dataclass
class ForgeStandin(LocalServer):
    token: str = "test-token"
    repos: set[str] = field(default_factory=lambda: {"acme/strategies"})
    requests: list[Request] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    pulls: dict[str, list[dict]] = field(default_factory=dict)  # repo -> pull JSON
    comments: dict[str, list[dict]] = field(default_factory=dict)  # repo -> comment JSON
    _failures: list[_Failure] = field(default_factory=list)
    _next_id: int = 1000
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stopping: threading.Event = field(default_factory=threading.Event)

    # -- helpers for tests -------------------------------------------------------------

    def fail(self, method: str, path_suffix: str, status: int = 422,
             message: str = "Simulated failure", *, raw: bytes | None = None,
             content_type: str = "application/json; charset=utf-8",
             location: str | None = None, hang: bool = False, times: int = 1) -> None:
        """The next ``times`` ``method`` requests whose path ends with ``path_suffix`` fail
        (see the module docstring)."""
        for _ in range(times):
            self._failures.append(_Failure(method.upper(), path_suffix, status, message, raw,
                                           content_type, location, hang))

    def clear_failures(self) -> None:
        """Answer normally again (failures not yet used are dropped)."""
        self._failures.clear()

    def add_pull(self, head: str, base: str = "main", repo: str = "acme/strategies",
                 title: str = "A pull request", body: str = "") -> int:
        """Create an open pull request directly; returns its number."""
        with self._lock:
            return self._create_pull(repo, {"title": title, "head": head, "base": base,
                                            "body": body})["number"]

    def comments_on(self, number: int, repo: str = "acme/strategies") -> list[dict]:
        return [c for c in self.comments.get(repo, []) if c["_issue"] == number]

    def calls(self, method: str | None = None, contains: str = "") -> list[Request]:
        return [r for r in self.requests
                if (method is None or r.method == method) and contains in r.path]

    # -- state (called under the lock) ------------------------------------------------

    def _id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _user(self) -> dict:
        return {"login": "otonom-bot", "id": 1, "type": "User",
                "url": f"{self.url}/users/otonom-bot"}

    def _repo_json(self, slug: str) -> dict:
        owner, name = slug.split("/")
        return {"id": abs(hash(slug)) % 10**6, "name": name, "full_name": slug,
                "owner": {"login": owner, "id": 2, "type": "Organization",
                          "url": f"{self.url}/users/{owner}"},
                "private": False, "default_branch": "main",
                "url": f"{self.url}/repos/{slug}",
                "html_url": f"https://github.example/{slug}"}

    def _number(self, repo: str) -> int:
        return len(self.pulls.get(repo, [])) + 1

    def _create_pull(self, repo: str, body: dict) -> dict:
        owner = repo.split("/")[0]
        number = self._number(repo)
        api = f"{self.url}/repos/{repo}"

        def ref(name: str) -> dict:
            return {"ref": name, "label": f"{owner}:{name}", "sha": "0" * 40,
                    "repo": self._repo_json(repo), "user": self._user()}

        pull = {"id": self._id(), "number": number, "state": "open", "title": body["title"],
                "body": body["body"], "head": ref(body["head"]), "base": ref(body["base"]),
                "url": f"{api}/pulls/{number}", "issue_url": f"{api}/issues/{number}",
                "comments_url": f"{api}/issues/{number}/comments",
                "html_url": f"https://github.example/{repo}/pull/{number}",
                "user": self._user(), "created_at": _STAMP, "updated_at": _STAMP,
                "merged": False}
        self.pulls.setdefault(repo, []).append(pull)
        return pull


class _Handler(BaseHTTPRequestHandler):
    standin: ForgeStandin

    def log_message(self, *_args: Any) -> None:  # quiet
        pass

    def _send(self, status: int, payload: Any, *, raw: bytes | None = None,
              content_type: str = "application/json; charset=utf-8",
              location: str | None = None) -> None:
        data = json.dumps(payload).encode() if raw is None else raw
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        if location:
            self.send_header("Location", location)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, record: bool = True,
               errors: list | None = None) -> None:
        if record:
            self.standin.errors.append(f"{self.command} {self.path}: {message}")
        payload: dict[str, Any] = {"message": message}
        if errors is not None:
            payload["errors"] = errors
        self._send(status, {**payload, "documentation_url": "https://docs.github.com/rest"})

    def _handle(self) -> None:
        s = self.standin
        path, query, body = read_request(self)
        path = path.rstrip("/")
        auth = self.headers.get("Authorization") or ""
        authorized = auth in (f"token {s.token}", f"Bearer {s.token}")
        with s._lock:
            s.requests.append(Request(self.command, path, query, body, authorized))
        if not auth:
            return self._error(401, "Requires authentication (no Authorization header)")
        if not authorized:
            return self._error(401, "Bad credentials", record=False)
        for failure in list(s._failures):
            if failure.method == self.command and path.endswith(failure.suffix):
                s._failures.remove(failure)
                if failure.hang:
                    s._stopping.wait(120)
                    return None
                if failure.raw is not None or failure.location:
                    return self._send(failure.status, None, raw=failure.raw or b"",
                                      content_type=failure.content_type,
                                      location=failure.location)
                return self._error(failure.status, failure.message.replace("{auth}", auth),
                                   record=False)
        with s._lock:
            return self._route(path, query, body)

    def _route(self, path: str, query: dict, body: Any) -> None:
        s = self.standin
        m = re.fullmatch(r"/repos/([^/]+/[^/]+)(/.*)?", path)
        if not m:
            return self._error(404, "Not Found", record=False)
        repo, rest = m[1], m[2] or ""
        if repo not in s.repos:
            return self._error(404, "Not Found", record=False)
        method = self.command
        if rest == "" and method == "GET":
            return self._send(200, s._repo_json(repo))
        if rest == "/pulls" and method == "GET":
            pulls = s.pulls.get(repo, [])
            if "state" in query and query["state"] != "all":
                pulls = [p for p in pulls if p["state"] == query["state"]]
            if "head" in query:
                if ":" not in query["head"]:
                    return self._error(422, "head must be owner:branch")
                pulls = [p for p in pulls if p["head"]["label"] == query["head"]]
            return self._send(200, [{k: v for k, v in p.items() if k != "merged"}
                                    for p in pulls])  # a list shows no merge state
        if rest == "/pulls" and method == "POST":
            problems = [k for k in ("title", "head", "base", "body")
                        if not isinstance((body or {}).get(k), str) or
                        (k != "body" and not body[k])]
            if problems:
                return self._error(422, f"Validation Failed: missing {', '.join(problems)}")
            owner = repo.split("/")[0]
            if any(p["state"] == "open" and p["head"]["label"] == f"{owner}:{body['head']}"
                   for p in s.pulls.get(repo, [])):
                return self._error(422, "Validation Failed", record=False, errors=[
                    {"resource": "PullRequest", "code": "custom",
                     "message": f"A pull request already exists for {owner}:{body['head']}."}])
            return self._send(201, s._create_pull(repo, body))
        if (n := re.fullmatch(r"/pulls/(\d+)", rest)) and method == "GET":
            pull = next((p for p in s.pulls.get(repo, []) if p["number"] == int(n[1])), None)
            return self._send(200, pull) if pull else self._error(404, "Not Found", False)
        if (n := re.fullmatch(r"/issues/(\d+)", rest)) and method == "GET":
            pull = next((p for p in s.pulls.get(repo, []) if p["number"] == int(n[1])), None)
            if pull is None:
                return self._error(404, "Not Found", record=False)
            return self._send(200, {**{k: pull[k] for k in (
                "id", "number", "state", "title", "body", "user", "comments_url", "html_url",
                "created_at", "updated_at")}, "url": pull["issue_url"],
                "pull_request": {"url": pull["url"], "html_url": pull["html_url"]}})
        if n := re.fullmatch(r"/issues/(\d+)/comments", rest):
            number = int(n[1])
            if not any(p["number"] == number for p in s.pulls.get(repo, [])):
                return self._error(404, "Not Found", record=False)
            if method == "GET":
                return self._send(200, [_public(c) for c in s.comments_on(number, repo)])
            if method == "POST":
                if not isinstance((body or {}).get("body"), str):
                    return self._error(422, "Validation Failed: missing body")
                cid = s._id()
                api = f"{s.url}/repos/{repo}"
                comment = {"id": cid, "body": body["body"], "user": s._user(),
                           "url": f"{api}/issues/comments/{cid}",
                           "html_url": f"https://github.example/{repo}/pull/{number}"
                                       f"#issuecomment-{cid}",
                           "issue_url": f"{api}/issues/{number}",
                           "created_at": _STAMP, "updated_at": _STAMP, "_issue": number}
                s.comments.setdefault(repo, []).append(comment)
                return self._send(201, _public(comment))
        if (c := re.fullmatch(r"/issues/comments/(\d+)", rest)) and method == "PATCH":
            comment = next((x for x in s.comments.get(repo, []) if x["id"] == int(c[1])), None)
            if comment is None:
                return self._error(404, "Not Found", record=False)
            if not isinstance((body or {}).get("body"), str):
                return self._error(422, "Validation Failed: missing body")
            comment["body"] = body["body"]
            return self._send(200, _public(comment))
        return self._error(404, f"Not Found ({method} {rest or '/'})")

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()


def _public(comment: dict) -> dict:
    return {k: v for k, v in comment.items() if not k.startswith("_")}


ForgeStandin.handler = _Handler
