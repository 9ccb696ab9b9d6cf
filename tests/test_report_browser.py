"""The HTML report in a real headless Chromium: every section is there and every plot renders
offline (Debian's chromium is installed with apt-get when missing)."""

import os
import re
import shutil
import struct
import subprocess

import pytest

from otonom_trader.adapters.report import FIGURE_IDS, SECTIONS
from otonom_trader.cli import main
from tests.test_show import GRID, grid_search

pytestmark = pytest.mark.slow

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def chromium() -> str:
    found = shutil.which("chromium")
    if found:
        return found
    if shutil.which("apt-get") is None:
        pytest.skip("chromium is not installed and apt-get is unavailable to install it")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "chromium"]):
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900,
                              check=False)
        assert done.returncode == 0, f"{' '.join(cmd)} failed: {done.stderr[-2000:]}"
    found = shutil.which("chromium")
    assert found, "apt-get installed chromium but it is not on PATH"
    return found


@pytest.fixture(scope="module")
def report_page(tmp_path_factory):
    folder = tmp_path_factory.mktemp("browser")
    grid_search(folder, "sweep", GRID)
    page = folder / "report.html"
    with pytest.raises(SystemExit) as exc:
        main(["experiments", "show", "1", "--export", "html", "--output", str(page),
              "--db", f"sqlite:///{folder}/s.db"])
    assert exc.value.code == 0
    return page


def run_chromium(binary, tmp_path, *args):
    profile = tmp_path / f"profile{len(list(tmp_path.iterdir()))}"
    done = subprocess.run([binary, *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_every_section_and_plot_renders(report_page, tmp_path):
    binary = chromium()
    source = report_page.read_text()
    n_figures = source.count('class="plotly-graph-div"')
    assert n_figures == len(FIGURE_IDS)
    dom = run_chromium(binary, tmp_path, "--virtual-time-budget=10000", "--dump-dom",
                       report_page.as_uri())
    for key, _ in SECTIONS:
        assert f'id="{key}"' in dom
    for fig in FIGURE_IDS:
        assert re.search(rf'id="{fig}"[^>]*class="[^"]*js-plotly-plot', dom) or re.search(
            rf'class="[^"]*js-plotly-plot[^"]*"[^>]*id="{fig}"', dom), f"{fig} did not render"
    assert dom.count('<svg class="main-svg"') >= n_figures
    assert dom.count('class="plot-container plotly"') == n_figures


def test_screenshot(report_page, tmp_path):
    binary = chromium()
    png = tmp_path / "report.png"
    run_chromium(binary, tmp_path, "--virtual-time-budget=10000", f"--screenshot={png}",
                 "--window-size=1400,3000", report_page.as_uri())
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1400, 3000)
    assert len(data) > 50_000  # a page of tables and plots, not a blank image
