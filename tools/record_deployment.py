#!/usr/bin/env python3
"""Record a deployment: tag HEAD ``deploy/<name>/<UTC date>`` for every live/paper strategy
in ``deployments/production.yaml``, and optionally push the tags.

Run from the repository root (``deploy.yml`` runs it on main after validation)::

    python3 tools/record_deployment.py [--deployment FILE] [--date YYYY-MM-DD] [--push]

Annotated tags carry the stage, capital share, strategy path and commit. Re-running on the
same commit is a no-op (the tag already points at HEAD); a second deployment of the same
strategy on the same day at another commit gets ``deploy/<name>/<date>.2`` (``.3`` ...), so
no recorded tag ever moves. Exit 0 on success, 1 when git or the push fails, 2 on bad input.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
from dataclasses import dataclass

from otonom_trader.domain.deployment import PRODUCTION_FILE, DeploymentEntry, load_deployment
from otonom_trader.domain.errors import InputError, OtonomError, RunError
from otonom_trader.domain.redact import redact

BOT = {"GIT_COMMITTER_NAME": "otonom-deploy",
       "GIT_COMMITTER_EMAIL": "otonom-deploy@users.noreply.github.com"}


@dataclass(frozen=True)
class Recorded:
    tag: str
    entry: DeploymentEntry
    created: bool  # False: the tag already pointed at HEAD


def _git(*args: str, env: dict | None = None) -> str:
    out = subprocess.run(["git", *args], capture_output=True, text=True, check=False,
                         env={**os.environ, "GIT_TERMINAL_PROMPT": "0", **(env or {})})
    if out.returncode != 0:
        raise RunError(f"git {args[0]}: {_first_error(out.stderr, args[0])}")
    return out.stdout.strip()


def _first_error(stderr: str, command: str) -> str:
    """git's first ``fatal:``/``error:`` line (its last line is often a hint fragment such as
    "and the repository exists.")."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    for line in lines:
        for prefix in ("fatal: ", "error: "):
            if line.startswith(prefix):
                return line.removeprefix(prefix)
    return lines[0] if lines else f"git {command} failed"


def _tag_commit(tag: str) -> str | None:
    try:
        return _git("rev-parse", "--verify", "--quiet", f"refs/tags/{tag}^{{commit}}")
    except RunError:
        return None


def _identity() -> dict:
    """A committer for annotated tags when git has none configured (CI runners)."""
    try:
        _git("config", "user.email")
        return {}
    except RunError:
        return {k: os.environ.get(k, v) for k, v in BOT.items()}


def record(deployment: str = PRODUCTION_FILE, date: str | None = None) -> list[Recorded]:
    """Create the tags for HEAD (in the current directory's repository)."""
    dep = load_deployment(deployment)
    day = date or dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    try:
        dt.date.fromisoformat(day)
    except ValueError:
        raise InputError(f"--date {day}: expected YYYY-MM-DD") from None
    try:
        head = _git("rev-parse", "--verify", "HEAD^{commit}")
    except RunError:
        raise InputError("not inside a git repository with a commit: run this in the "
                         "strategy repository") from None
    out = []
    for entry in dep.active():
        base, n = f"deploy/{entry.name}/{day}", 1
        tag = base
        while (at := _tag_commit(tag)) is not None and at != head:
            n += 1
            tag = f"{base}.{n}"
        if at == head:
            out.append(Recorded(tag, entry, created=False))
            continue
        message = (f"{entry.name}: {entry.stage} at {entry.capital_pct:g}% of capital\n\n"
                   f"strategy: {entry.path}\ncommit: {head}\ndeployment: {deployment}\n")
        _git("tag", "-a", tag, "-m", message, head, env=_identity())
        out.append(Recorded(tag, entry, created=True))
    return out


def check_remote(remote: str) -> None:
    """InputError (exit 2) when ``--remote`` names no remote of the repository."""
    try:
        _git("rev-parse", "--git-dir")
    except RunError:
        return  # not a repository: ``record`` says so
    try:
        _git("remote", "get-url", remote)
    except RunError:
        raise InputError(f"--remote {remote}: no such git remote; see `git remote -v`") from None


def push(tags: list[str], remote: str = "origin") -> None:
    if tags:
        _git("push", remote, *(f"refs/tags/{t}" for t in tags))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deployment", default=PRODUCTION_FILE)
    parser.add_argument("--date", help="UTC date of the tags (default: today, UTC)")
    parser.add_argument("--push", action="store_true", help="push the tags to --remote")
    parser.add_argument("--remote", default="origin")
    args = parser.parse_args(argv)
    try:
        if args.push:
            check_remote(args.remote)
        recorded = record(args.deployment, args.date)
        if args.push:
            push([r.tag for r in recorded], args.remote)
    except OtonomError as exc:
        print(f"Error: {redact(exc)}", file=sys.stderr)
        return exc.exit_code
    if not recorded:
        print(f"no live or paper strategy in {args.deployment}: nothing to record")
    for r in recorded:
        verb = "tagged" if r.created else "already tagged"
        pushed = f", pushed to {args.remote}" if args.push else ""
        print(f"{verb} {r.tag} ({r.entry.stage}, {r.entry.capital_pct:g}%){pushed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
