"""Security families of issue 16: names that become paths or branches, paths read from
repository files, and secrets leaving the process. (Promotion and forge-answer cases that need
a scratch repository with an experiment are in tests/test_promote.py.)"""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from otonom_trader.domain.deployment import parse_deployment
from otonom_trader.domain.errors import InputError
from tests.helpers import REPO, copy_repo
from tests.helpers import run_cli as run

TOKEN = "ghp_SecurityTestToken0123456789"
SECRET_CONTENT = "TOPSECRET-9f2c: do not publish"
BAD_NAMES = ["../../x", "/tmp/otonom-abs", "..", "../strategies", "a/b/c", "a..b", "x.lock",
             "x~1", "-lead", "x" * 300, "a\x01b", "name\n", "", "with space", "x:y", "x^y"]


def tree(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """cwd = tmp_path/work (strategies, grids, params.yaml); tmp_path/outside is watched."""
    work = copy_repo(tmp_path / "work")
    (tmp_path / "outside").mkdir()
    for var in ("GITHUB_TOKEN", "GITHUB_REPOSITORY", "GITHUB_API_URL", "OTONOM_DB",
                "OTONOM_FORGE_TIMEOUT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(work)
    return tmp_path


def assert_one_line(code: int, err: str, flag: str) -> None:
    assert code == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("Error: ") and flag in err, err
    assert "Traceback" not in err


# ---------------------------------------------------------------- names


@pytest.mark.parametrize("name", BAD_NAMES)
def test_grid_search_refuses_names_that_are_not_safe_slugs(sandbox, capsys, name):
    before = tree(sandbox)
    code, _, err = run(["experiments", "grid-search", f"--name={name}",
                        "--strategy-path", "strategies/baseline_v1.yaml",
                        "--grid-path", "grids/baseline_grid.yaml",
                        "--db", f"sqlite:///{sandbox}/outside/s.db"], capsys)
    assert_one_line(code, err, "--name")
    assert tree(sandbox) == before  # no store, no output folder, nothing outside
    assert not Path("/tmp/otonom-abs").exists()


def test_outputs_of_a_stored_experiment_with_a_bad_name_are_refused(sandbox):
    """A store made elsewhere (or by an older version) cannot lead writes out of the folder."""
    from otonom_trader.app.experiments.outputs import write_outputs

    for name in ("../escape", "a/b", "..", "x.lock"):
        info = SimpleNamespace(id=7, name=name)
        with pytest.raises(InputError, match="experiment 7's name"):
            write_outputs(info, None, sandbox / "work" / "experiments")
    assert not (sandbox / "escape").exists() and not (sandbox / "work" / "experiments").exists()


@pytest.mark.parametrize("name", ["../../x", "a/b", "x.lock", "-lead", "x" * 300, "a\x01b"])
def test_pr_open_and_the_simple_tool_refuse_bad_names(sandbox, capsys, name):
    before = tree(sandbox)
    code, _, err = run(["pr", "open", f"promote/{name}"], capsys)
    assert_one_line(code, err, "BRANCH")
    from tools.promote_experiment_simple import main as simple

    with pytest.raises(SystemExit) as exc:
        simple(["--experiment-id", "1", "--output-path", "strategies/ok.yaml",
                f"--name={name}", "--db", f"sqlite:///{sandbox}/outside/s.db"])
    assert_one_line(exc.value.code, capsys.readouterr().err, "--name")
    if "/" not in name:  # a path with folders is the user's explicit output path
        with pytest.raises(SystemExit) as exc:
            simple(["--experiment-id", "1", "--output-path", f"strategies/{name}.yaml"])
        assert_one_line(exc.value.code, capsys.readouterr().err, "--output-path")
    assert tree(sandbox) == before


def test_saved_pull_request_files_stay_in_their_folder(tmp_path):
    from otonom_trader.app.publishing.pull_request import save_body

    for name in ("../../evil", "a/b", "x.lock"):
        with pytest.raises(InputError, match="--output-name"):
            save_body(tmp_path, name, title="t", body="b", head="h", base="main", remote="o")
    assert tree(tmp_path) == set()
    path = save_body(tmp_path, "ok_1", title="t", body=f"token {TOKEN}", head="promote/ok_1",
                     base="main", remote="origin")
    assert path == ".otonom/pr/ok_1.md" and (tmp_path / path).is_file()


@pytest.mark.parametrize("name", ["../x", "a/b", "x.lock", "x~1", "-x", "x" * 65, "a b", "v\n"])
def test_deployment_names_follow_the_name_rule(name):
    data = {"strategies": [{"name": name, "path": "strategies/x.yaml", "stage": "live",
                            "capital_pct": 10}]}
    with pytest.raises(InputError, match=r"production.yaml: `strategies\[0\]`.name"):
        parse_deployment(data, "deployments/production.yaml: ")


# ---------------------------------------------------------------- paths read from the repository


@pytest.mark.parametrize("path", ["/etc/passwd", "../outside/secret.yaml",
                                  "strategies/../../outside/secret.yaml", "..\\x.yaml"])
def test_deployment_paths_must_be_repository_relative(path):
    data = {"strategies": [{"name": "a", "path": path, "stage": "paper", "capital_pct": 1}]}
    with pytest.raises(InputError, match=r"`strategies\[0\]`.path") as exc:
        parse_deployment(data, "deployments/production.yaml: ")
    assert "inside the repository" in str(exc.value)


@pytest.fixture
def hostile(sandbox):
    """A secret file outside the repository (its content parses as a YAML string, so a
    schema message would quote it) and a symlink to it inside strategies/."""
    secret = sandbox / "outside" / "secret.yaml"
    secret.write_text(SECRET_CONTENT + "\n")
    (sandbox / "work" / "strategies" / "link.yaml").symlink_to(secret)
    (sandbox / "work" / "deployments").mkdir()
    return sandbox


def write_production(root: Path, path: str) -> None:
    (root / "work" / "deployments" / "production.yaml").write_text(yaml.safe_dump(
        {"strategies": [{"name": "evil", "path": path, "stage": "live", "capital_pct": 50}]}))


@pytest.mark.parametrize("path", ["/etc/passwd", "../outside/secret.yaml",
                                  "strategies/link.yaml"])
def test_validate_deployed_refuses_paths_outside_the_repository(hostile, capsys, path):
    write_production(hostile, path)
    code, out, err = run(["validate", "--deployed", "--report-md", "report.md"], capsys)
    assert_one_line(code, err, "deployments/production.yaml: `strategies[0]`.path")
    assert SECRET_CONTENT not in out + err and "root:" not in err
    assert not Path("report.md").exists()


def test_validate_refuses_a_symlinked_strategy_leading_out(hostile, capsys):
    code, out, err = run(["validate", "--report-md", "report.md"], capsys)
    assert_one_line(code, err, "strategies/link.yaml")
    assert "must stay inside" in err and SECRET_CONTENT not in out + err


def test_the_report_never_carries_an_outside_file(hostile, capsys):
    """Production (working tree) names the symlink: the comparison row fails naming the key,
    and neither the report nor the output quotes the file."""
    (hostile / "work" / "strategies" / "link.yaml").unlink()
    (hostile / "work" / "strategies" / "prod.yaml").symlink_to(hostile / "outside" / "secret.yaml")
    write_production(hostile, "strategies/prod.yaml")
    code, out, err = run(["validate", "strategies/sma_cross.yaml", "--report-md", "report.md"],
                         capsys)
    report = Path("report.md").read_text()
    assert code == 1, err
    assert "`strategies[0]`.path" in report and "must stay inside" in report
    assert SECRET_CONTENT not in report + out + err and "TOPSECRET" not in report


# ---------------------------------------------------------------- secrets


def test_pr_comment_redacts_the_body_and_a_forge_that_echoes_the_token(
        sandbox, capsys, forge_standin, monkeypatch):
    forge = forge_standin
    forge.token = TOKEN
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    number = forge.add_pull("promote/x")
    body = sandbox / "body.md"
    body.write_text(f"report\nAuthorization: token {TOKEN}\nurl https://u:{TOKEN}@host/x\n")
    base = ["pr", "comment", "--pr", str(number), "--body-file", str(body), "--repo",
            "acme/strategies", "--forge-url", forge.url]
    code, out, err = run(base, capsys)
    assert code == 0, err
    (comment,) = forge.comments_on(number)
    assert TOKEN not in comment["body"] and "report" in comment["body"]

    forge.fail("GET", f"/issues/{number}", 403, "Forbidden for Authorization: {auth}")
    code, out, err = run(base, capsys)
    assert code == 1 and len(err.splitlines()) == 1 and "HTTP 403 Forbidden" in err, err
    assert TOKEN not in out + err


@pytest.mark.parametrize("url", ["postgresql://bob:{pw}@127.0.0.1:1/exp",
                                 "postgresql://bob@127.0.0.1:1/exp?password={pw}",
                                 "mysql://bob:{pw}@127.0.0.1:1/exp"])
def test_database_passwords_are_masked(sandbox, capsys, url):
    password = "DbS3cretPassw0rd"
    code, out, err = run(["experiments", "list", "--db", url.format(pw=password)], capsys)
    assert code == 2 and len(err.splitlines()) == 1 and "***" in err, err
    assert password not in out + err


def test_forge_url_rule_and_wait_setting(monkeypatch):
    from otonom_trader.adapters.forge import DEFAULT_WAIT, Forge, api_root, forge_wait

    assert api_root(f"https://bob:{TOKEN}@GHE.example.com:8443/api/v3/") == \
        "https://ghe.example.com:8443/api/v3"
    assert api_root("http://127.0.0.1:5000") == "http://127.0.0.1:5000"
    for bad in ("ghe.example.com", "file:///etc/passwd", f"https://u:{TOKEN}@/x",
                "https://h:99999999/", "https://h/#frag"):
        with pytest.raises(InputError, match="--forge-url") as exc:
            api_root(bad)
        assert TOKEN not in str(exc.value)
    monkeypatch.delenv("OTONOM_FORGE_TIMEOUT", raising=False)
    assert forge_wait() == DEFAULT_WAIT == 30
    with Forge(TOKEN, f"https://bob:{TOKEN}@ghe.example.com/api/v3") as forge:
        assert forge.base_url == "https://ghe.example.com/api/v3" and forge.wait == 30
    for bad in ("abc", "0", "-5", "nan", "inf", "1e9"):
        monkeypatch.setenv("OTONOM_FORGE_TIMEOUT", bad)
        with pytest.raises(InputError, match="OTONOM_FORGE_TIMEOUT"):
            forge_wait()
    monkeypatch.setenv("OTONOM_FORGE_TIMEOUT", "2.5")
    assert forge_wait() == 2.5


def test_the_deployment_tool_redacts_its_error(tmp_path):
    import subprocess
    import sys

    (tmp_path / "deployments").mkdir()
    (tmp_path / "deployments" / "production.yaml").write_text(
        "strategies: [{name: a, path: strategies/a.yaml, stage: live, capital_pct: 10}]\n")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    env = {**os.environ, "GITHUB_TOKEN": TOKEN, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, str(REPO / "tools/record_deployment.py"), "--date",
                          f"x{TOKEN}"], cwd=tmp_path, capture_output=True, text=True, env=env,
                         check=False)
    assert out.returncode == 2 and "--date" in out.stderr, out.stderr
    assert TOKEN not in out.stdout + out.stderr
