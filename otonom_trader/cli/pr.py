"""``otonom pr``: finish a promotion's pull request; upsert a marked pull-request comment."""

from __future__ import annotations

import sys

import click

from otonom_trader.cli import ranges

DEFAULT_MARKER = "<!-- otonom -->"


@click.group()
def pr():
    """Pull requests on the forge (GitHub; token from GITHUB_TOKEN)."""


@pr.command("open")
@click.argument("branch")
@click.option("--forge-url", help="GitHub (Enterprise) API root (default: GITHUB_API_URL, or "
                                  "api.github.com for a github.com remote).")
@click.option("--remote", help="Git remote (default: the one the promotion used).")
@click.option("--repo", help="owner/name (default: GITHUB_REPOSITORY, then the remote URL).")
def open_(branch, forge_url, remote, repo):
    """Push BRANCH if needed and open its pull request from the body `otonom promote` saved.

    Safe to repeat: an open pull request for BRANCH is reported, not duplicated."""
    from otonom_trader.app.publishing.pull_request import open_saved_pull

    outcome = open_saved_pull(branch, remote=remote, forge_url=forge_url, repo=repo)
    if outcome.pushed_now:
        click.echo(f"⬆️  Pushed {branch}")
    state = "opened" if outcome.pull.created else "already open"
    click.echo(f"🔗 Pull request #{outcome.pull.number} {state}: {outcome.pull.url}")


def _default_repo(explicit: str | None, remote: str) -> str | None:
    import os

    if explicit or os.environ.get("GITHUB_REPOSITORY"):
        return explicit or os.environ["GITHUB_REPOSITORY"]
    from otonom_trader.adapters.forge import parse_remote
    from otonom_trader.adapters.git_repo import GitRepo
    from otonom_trader.domain.errors import GitStateError

    try:
        with GitRepo(".") as git:
            parsed = parse_remote(git.remote_url(remote))
    except GitStateError:
        return None
    return parsed.slug if parsed else None


@pr.command("comment")
@click.option("--pr", "pr_number", type=ranges.PR_NUMBER, required=True,
              help="Pull request number.")
@click.option("--body-file", required=True, type=click.Path(dir_okay=False, allow_dash=True),
              help="Markdown body ('-' reads stdin).")
@click.option("--marker", default=DEFAULT_MARKER, show_default=True,
              help="Hidden text that identifies the comment to update.")
@click.option("--repo", help="owner/name (default: GITHUB_REPOSITORY, then the remote URL).")
@click.option("--forge-url", help="GitHub (Enterprise) API root (default: GITHUB_API_URL, "
                                  "then https://api.github.com).")
@click.option("--remote", default="origin", show_default=True,
              help="Remote whose URL names the repository when --repo is not given.")
def comment(pr_number, body_file, marker, repo, forge_url, remote):
    """Create or update the one comment of a pull request that contains MARKER."""
    from otonom_trader.adapters.forge import resolve_repo, upsert_comment
    from otonom_trader.domain.errors import InputError

    try:
        if body_file == "-":
            body = sys.stdin.read()
        else:
            with open(body_file, encoding="utf-8") as fh:
                body = fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"--body-file {body_file}: cannot read it ({exc})") from None
    slug = resolve_repo(_default_repo(repo, remote), None)
    if slug is None:
        raise InputError("which repository? pass --repo owner/name or set GITHUB_REPOSITORY")
    result = upsert_comment(slug, pr_number, body, marker, base_url=forge_url)
    verb = "Created" if result.created else "Updated"
    click.echo(f"💬 {verb} comment {result.id} on {slug}#{pr_number}: {result.url}")
