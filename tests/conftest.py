"""Shared pytest fixtures."""

import pytest

from tests.helpers import copy_repo, git_init


@pytest.fixture
def forge_standin():
    """A started local GitHub REST stand-in (tests/forge_standin.py); token ``test-token``,
    repository ``acme/strategies``. Fails the test if a request had the wrong shape."""
    from tests.forge_standin import ForgeStandin

    standin = ForgeStandin().start()
    try:
        yield standin
    finally:
        standin.stop()
    assert not standin.errors, standin.errors


@pytest.fixture
def strategy_repo(tmp_path, monkeypatch):
    """A strategy repository (strategies/, grids/, params.yaml) committed; cwd inside it."""
    path = copy_repo(tmp_path / "repo")
    (path / ".gitignore").write_text("/experiments/\n/.otonom/\n")
    git_init(path)
    for var in ("GITHUB_TOKEN", "GITHUB_REPOSITORY", "OTONOM_DB"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    monkeypatch.chdir(path)
    return path
