"""Shared pytest fixtures."""

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


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


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)


@pytest.fixture
def strategy_repo(tmp_path, monkeypatch):
    """A strategy repository (strategies/, grids/, params.yaml) committed; cwd inside it."""
    path = tmp_path / "repo"
    path.mkdir()
    for name in ("strategies", "grids"):
        shutil.copytree(REPO / name, path / name)
    shutil.copy(REPO / "params.yaml", path / "params.yaml")
    (path / ".gitignore").write_text("/experiments/\n/.otonom/\n")
    _git(path, "init", "-q", "-b", "main")
    _git(path, "config", "user.name", "Test")
    _git(path, "config", "user.email", "test@example.com")
    _git(path, "config", "commit.gpgsign", "false")
    _git(path, "add", "-A")
    _git(path, "commit", "-q", "-m", "initial")
    for var in ("GITHUB_TOKEN", "GITHUB_REPOSITORY", "OTONOM_DB"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    monkeypatch.chdir(path)
    return path
