"""The operators' console in headless Chromium: a priority-1 alert appears live, is acknowledged."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests.integration.alerts import IN_ZONE_A, beep, signal
from tests.integration.center_support import RunningCenter, center_with_worker, wait_until
from tests.integration.support import Producer, now_ts

pytestmark = pytest.mark.e2e

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]


OPERATOR = "op-secret"  # examples/tigre: "Operator 1"


@pytest.fixture(scope="module")
def center(stack, example_config, tmp_path_factory) -> Iterator[RunningCenter]:  # type: ignore[no-untyped-def]
    with center_with_worker(stack, example_config, tmp_path_factory.mktemp("console") / "worker.log") as running:
        yield running


@pytest.fixture
def page() -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": 1400, "height": 900})
        finally:
            browser.close()


def test_a_priority_1_alert_appears_live_and_is_acknowledged(center: RunningCenter, page: Page, stack) -> None:  # type: ignore[no-untyped-def]
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(center.url + "/")
    page.fill("#token", OPERATOR)
    page.press("#token", "Enter")
    expect(page.locator("#who")).to_have_text("Operator 1 · operator")
    expect(page.locator("#link")).to_have_text("live")
    expect(page.locator("#map polygon")).to_have_count(3)

    producer = Producer(stack)
    producer.send("devices.beeps", "bpr-0005", beep("bpr-0005", location=IN_ZONE_A))  # a panic in tigre-centro
    producer.close()
    with center.client(OPERATOR) as http:
        alert_id = wait_until(lambda: next((a["alert_id"] for a in http.get("/api/alerts").json()["alerts"]
                                            if a["source"]["id"] == "bpr-0005"), None), timeout=30)
    row = page.locator(f'#queue-rows tr[data-alert-id="{alert_id}"]')
    expect(row).to_be_visible(timeout=5_000)
    expect(row).to_have_attribute("data-status", "open")
    for flag in ("row-p1", "flash", "selected"):  # a new priority 1 flashes and is selected at once
        expect(row).to_have_class(re.compile(rf"\b{flag}\b"))
    expect(page.locator("#d-title")).to_contain_text("anic")

    page.keyboard.press("a")
    expect(row).to_have_attribute("data-status", "acknowledged", timeout=10_000)
    expect(page.locator("#action-message")).to_have_text("ack recorded by Operator 1")
    expect(page.locator("#history-rows tr").first).to_contain_text("Operator 1")
    assert page.evaluate("sessionStorage.getItem('centinela.token')") == OPERATOR
    assert problems == []


SUPERVISOR = "sup-secret"  # examples/tigre: "Supervisor"


def test_the_console_lists_active_silences_with_what_they_held_back_and_a_supervisor_ends_one(
        center: RunningCenter, page: Page, stack) -> None:  # type: ignore[no-untyped-def]
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    with center.client(SUPERVISOR) as supervisor:
        created = supervisor.post("/api/silences", json={
            "zones": ["tigre-delta"], "category": "intrusion", "ends_at": now_ts(3600), "reason": "panel maintenance"})
        assert created.status_code == 201, created.text
        silence_id = created.json()["id"]
    producer = Producer(stack)
    for _ in range(2):
        producer.send("devices.alarms", "acct-1003", signal("acct-1003", 130))  # intrusions in tigre-delta: held back
    producer.close()

    page.goto(center.url + "/")
    page.fill("#token", OPERATOR)
    page.press("#token", "Enter")
    row = page.locator(f'#silence-rows tr[data-silence-id="{silence_id}"]')
    expect(row).to_contain_text("panel maintenance")
    expect(row.locator(".end-silence")).to_be_hidden()  # operators see silences but may not end them
    page.click("#logout")

    page.fill("#token", SUPERVISOR)
    page.press("#token", "Enter")
    expect(row).to_contain_text("tigre-delta")
    expect(row).to_contain_text("intrusion")
    expect(row.locator(".held-back")).to_have_text("2", timeout=30_000)  # refreshed while the console is open
    row.locator(".end-silence").click()
    expect(row).to_have_count(0)
    expect(page.locator("#silence-message")).to_have_text("silence ended: panel maintenance")
    with center.client(SUPERVISOR) as supervisor:
        assert supervisor.get("/api/silences").json() == {"silences": []}
    assert problems == []
