"""The reports of a real center over a real PostgreSQL holding an imported history: the API's roles,
errors and CSV, and the console's Reports view in headless Chromium."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from centinela.config import load_config
from deploy import postgres as embedded
from history.importer import import_file
from tests.e2e.test_console import CHROMIUM_ARGS
from tests.integration.center_support import RunningCenter, running_center
from tests.integration.history_cases import CITY, FROM, TO, write_history
from tests.integration.test_history import fresh_database

pytestmark = pytest.mark.e2e
OPERATOR, VIEWER, RESPONDER = "op-history", "view-history", "resp-history"
PERIOD = {"from": FROM, "to": TO}


@pytest.fixture(scope="module")
def center(stack, postgres: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCenter]:  # type: ignore[no-untyped-def]
    url = fresh_database(postgres)
    import_file(url, write_history(tmp_path_factory.mktemp("reports") / "history.jsonl"))
    config = load_config(CITY)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(embedded.ENV, url)
        with running_center(config.city, stack.kafka, stack.redis_url, rules=config.rules) as running:
            yield running


def test_reports_answer_operators_supervisors_and_viewers_only(center: RunningCenter) -> None:
    with center.client() as anonymous:
        assert anonymous.get("/api/reports/response", params=PERIOD).status_code == 401
    with center.client(RESPONDER) as responder:
        refused = responder.get("/api/reports/operators", params=PERIOD)
        assert refused.status_code == 403 and "error" in refused.json()
    with center.client(VIEWER) as viewer:
        body = viewer.get("/api/reports/response", params=PERIOD).json()
        assert body["alerts"] == 7 and body["by_priority"]["1"]["ack_s"] == {"p50": 40.0, "p90": 48.0, "max": 50.0}
        leaders = viewer.get("/api/reports/false-alarms", params=PERIOD).json()["sources"]
        assert [s["id"] for s in leaders] == ["pn-1"]
        for bad in ({"from": "last week"}, {"from": TO, "to": FROM}, {"to": "2026-13-01T00:00:00Z"}):
            answer = viewer.get("/api/reports/response", params=bad)
            assert answer.status_code == 422 and answer.json()["error"]
        table = viewer.get("/api/reports/operators", params={**PERIOD, "format": "csv"})
        assert table.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(table.text)))
        assert rows[0] == ["name", "acknowledged", "dispatched", "resolved", "steps", "ack_p50_s"]
        assert rows[1] == ["Ana", "2", "2", "2", "1", "50.0"]


def test_reports_are_503_without_a_reachable_store(center: RunningCenter, monkeypatch: pytest.MonkeyPatch) -> None:
    with center.client(OPERATOR) as operator:
        monkeypatch.delenv(embedded.ENV)
        missing = operator.get("/api/reports/response")
        assert missing.status_code == 503 and "CENTINELA_POSTGRES" in missing.json()["error"]
        monkeypatch.setenv(embedded.ENV, "postgresql://centinela:wrong@127.0.0.1:1/centinela")
        down = operator.get("/api/reports/response")
        assert down.status_code == 503 and "wrong" not in down.text


@pytest.fixture
def page() -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 900}, timezone_id="UTC",
                                          accept_downloads=True)
            yield context.new_page()
        finally:
            browser.close()


def test_the_reports_view_shows_the_history(center: RunningCenter, page: Page, tmp_path: Path) -> None:
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(center.url + "/")
    page.fill("#token", OPERATOR)
    page.press("#token", "Enter")
    page.click('#views button[data-view="reports"]')
    expect(page.locator("#reports")).to_be_visible()
    page.fill("#reports-from", "2026-11-01")
    page.fill("#reports-to", "2026-11-07")  # through the 7th: to = 2026-11-08T00:00Z
    page.click('#reports-form button[type="submit"]')

    expect(page.locator("#reports-summary")).to_have_text("7 alerts")
    p1 = page.locator('#response-rows tr[data-priority="1"] td')
    expect(p1.nth(1)).to_have_text("3")
    expect(p1.nth(3)).to_have_text("40 s")  # ack p50
    expect(page.locator('#response-rows tr[data-priority="1"] td.within')).to_have_text("67 %")
    expect(page.locator("#dispositions")).to_have_text("real 2 · false alarm 2 · test 0 · unresolved 3")
    expect(page.locator("#hour-chart rect.bar")).to_have_count(24)
    expect(page.locator('#hour-chart rect[data-hour="23"]')).to_have_attribute("data-count", "2")
    expect(page.locator('#hour-chart rect[data-hour="12"]')).to_have_attribute("data-count", "1")
    expect(page.locator("#false-alarm-rows tr")).to_have_count(2)  # bp-2 and pn-1 raised false alarms
    expect(page.locator("#false-alarm-rows tr").first).to_have_attribute("data-source", "bp-2")
    expect(page.locator("#operator-rows tr")).to_have_count(3)
    expect(page.locator('#operator-rows tr[data-name="Beto"] td').nth(5)).to_have_text("30 s")

    page.select_option("#reports-zone", "centro")
    page.click('#reports-form button[type="submit"]')
    expect(page.locator("#reports-summary")).to_have_text("4 alerts")

    with page.expect_download() as download:
        page.click('button.csv[data-report="false-alarms"]')
    saved = tmp_path / "false-alarms.csv"
    download.value.save_as(saved)
    rows = list(csv.reader(saved.open(encoding="utf-8")))
    assert rows[0] == ["kind", "id", "alerts", "resolved", "false_alarm", "rate"]
    assert ["beeper", "bp-2", "1", "1", "1", "1.0"] in rows
    assert problems == []
