"""The console's Map view in headless Chromium, on a real PostgreSQL holding the history with known answers:
the zones with their hotspot cells, a click on a cell for its count, z and trend, and the interventions."""

from __future__ import annotations

import asyncio
import contextlib
import re
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Page, expect, sync_playwright

from center.app import create_app
from centinela.config import load_config
from commission.cells import StudyArea
from commission.reports import CommissionSettings
from deploy.stack import free_port
from tests.e2e.test_console import CHROMIUM_ARGS
from tests.integration import commission_history as known
from tests.integration.center_support import wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--dir", str(tmp_path_factory.mktemp("redis"))], stdout=subprocess.DEVNULL)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture(scope="module")
def center(postgres: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The center (no broker: the Map view needs the history and Redis only) on a free port."""
    config_dir = known.write_city(tmp_path_factory.mktemp("city"))
    config = load_config(config_dir)
    with known.database(postgres) as url, pytest.MonkeyPatch.context() as patch:
        known.load(url, known.known_alerts())
        patch.setenv("CENTINELA_POSTGRES", url)
        app = create_app(config.city, "127.0.0.1:1", redis_url, internal_key=b"\x5e" * 32, rules=config.rules,
                         commission_settings=CommissionSettings(config.interventions, config.open_data))
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_until_complete, args=(server.serve(),), daemon=True)
        thread.start()
        try:
            wait_until(lambda: server.started, timeout=15)
            yield f"http://127.0.0.1:{port}", config_dir
        finally:
            server.should_exit = True
            center_state = getattr(app.state, "center", None)
            if center_state is not None:
                loop.call_soon_threadsafe(center_state.hub.close)
            thread.join(15)
            with contextlib.suppress(Exception):
                loop.close()


@pytest.fixture
def page() -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": 1400, "height": 900}, timezone_id="UTC")
        finally:
            browser.close()


def test_the_map_shows_hotspot_cells_a_cells_trend_and_the_interventions(center: tuple[str, Path], page: Page) -> None:
    url, config_dir = center
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(url + "/")
    page.fill("#token", "viewer-secret")
    page.press("#token", "Enter")
    expect(page.locator("#who")).to_have_text("Comision · viewer")
    page.locator('#views button[data-view="hotspots"]').click()
    page.fill("#hotspots-from", "2026-08-31")
    page.fill("#hotspots-to", "2026-11-22")  # the last day shown: up to 2026-11-23 00:00 UTC, 12 complete weeks
    page.locator("#hotspots-form button[type=submit]").click()

    study = StudyArea.of_zones(load_config(config_dir).city.zones, 9)
    expect(page.locator("#hotspot-map polygon.cell")).to_have_count(study.n)
    expect(page.locator("#hotspot-map polygon.zone")).to_have_count(2)
    expect(page.locator("#hotspots-summary")).to_contain_text("92 incidents in the zones · 2 outside · 3 without location")

    page.locator(f'#hotspot-map polygon[data-cell="{known.cell(known.R)}"]').click()
    detail = page.locator("#cell-detail")
    expect(detail.locator('dd[data-field="incidents"]')).to_have_text("78")
    expect(detail.locator('dd[data-field="trend"]')).to_contain_text("increasing (tau 1.00")
    expect(detail.locator('dd[data-field="z"]')).to_have_text(re.compile(r"^[1-9]\.\d\d$"))  # a clear positive z
    expect(detail.locator('dd[data-field="class"]')).to_have_text("none")  # one busy cell: not a significant cluster
    page.locator(f'#hotspot-map polygon[data-cell="{known.cell(known.ROSA)}"]').click()
    expect(detail.locator('dd[data-field="incidents"]')).to_have_text("1")
    expect(detail.locator('dd[data-field="trend"]')).to_contain_text("fewer than 10 incidents")

    lights = page.locator('#intervention-rows tr[data-intervention="luces-norte"]')
    expect(lights).to_contain_text("24 → 58")  # 26 weeks each side of 2026-10-12
    expect(lights).to_contain_text("12 → 4")
    expect(lights.locator("td.ratio")).to_have_text(f"{(58 / 24) / (4 / 12):.2f}")
    expect(page.locator('#intervention-rows tr[data-intervention="patrulla-sur"] td.reason')).to_contain_text(
        "no incidents in treated after")

    page.select_option("#hotspots-category", "motion")
    page.locator("#hotspots-form button[type=submit]").click()
    expect(page.locator("#hotspots-summary")).to_contain_text("1 incidents in the zones · 0 outside · 0 without location")
    assert wait_until(lambda: page.locator("#hotspot-map polygon.cell.hot").count() == 0)
    assert problems == []
