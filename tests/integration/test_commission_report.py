"""`centinela report --out FILE.pdf` on the history with known answers: the figures are in the PDF's text,
and its pages render (poppler's pdftotext and pdftoppm)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration import commission_history as known

pytestmark = pytest.mark.integration
POPPLER = shutil.which("pdftotext") and shutil.which("pdftoppm")


@pytest.fixture(scope="module")
def history_url(postgres: str) -> Iterator[str]:
    with known.database(postgres) as url:
        known.load(url, known.known_alerts())
        yield url


def report(url: str, config: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CENTINELA_POSTGRES": url}
    return subprocess.run(
        [sys.executable, "-m", "centinela", "report", "--config", str(config), "--from", "2026-08-31T00:00:00Z",
         "--to", "2026-11-23T00:00:00Z", "--out", str(out), *extra],
        capture_output=True, text=True, env=env, timeout=120, check=False)


@pytest.mark.skipif(not POPPLER, reason="poppler-utils (pdftotext, pdftoppm) is not installed")
def test_the_report_holds_the_figures_and_renders(history_url: str, tmp_path: Path) -> None:
    out = tmp_path / "comision.pdf"
    done = report(history_url, known.write_city(tmp_path / "city"), out)
    assert done.returncode == 0, done.stderr
    for step in ("response figures", "hotspots", "weekly counts", "interventions", "false-alarm leaders",
                 "drawing hotspot map", "5 pages"):
        assert step in done.stderr
    text = subprocess.run(["pdftotext", "-layout", str(out), "-"], capture_output=True, text=True, check=True).stdout
    assert "incidents in the study area: 92; outside it: 2; without a location: 3" in text
    # luces-norte at 26 weeks: norte 24 before (R's weeks 0-5, 2 outside, rosa), after R's weeks 6-11 (57) and
    # `late`, 2 days after the report's period but within the intervention's (58); sur 12 before, 4 after
    assert re.search(r"luces-norte.*?\b24\s+58\s+12\s+4\s+" + re.escape(f"{(58 / 24) / (4 / 12):.2f}"), text, re.S)
    assert "patrulla-sur" in text and "no incidents in treated after" in text
    assert re.search(r"beeper\s+bpr-7\s+3\s+3\s+2\s+67 %", text)  # 2 false alarms and a test
    assert "acct-rosa" not in text  # one medical alert: not a false-alarm leader
    pages = subprocess.run(["pdftoppm", "-r", "40", "-png", str(out), str(tmp_path / "page")],
                           capture_output=True, text=True, check=False)
    assert pages.returncode == 0, pages.stderr
    rendered = sorted(tmp_path.glob("page-*.png"))
    assert len(rendered) == 5 and all(p.stat().st_size > 2000 for p in rendered)


def test_a_bad_request_is_one_line_and_exit_2(history_url: str, tmp_path: Path) -> None:
    config = known.write_city(tmp_path / "city")
    done = report(history_url, config, tmp_path / "report.txt")
    assert done.returncode == 2 and "name it .pdf" in done.stderr and "Traceback" not in done.stderr
    done = report("postgresql://nobody:x@127.0.0.1:1/none", config, tmp_path / "report.pdf")
    assert done.returncode == 1 and "not reachable" in done.stderr and "Traceback" not in done.stderr
