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
            yield browser.new_page(viewport={"width": 1400, "height": 900},
                                   permissions=["clipboard-read", "clipboard-write"])
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


def test_an_operator_works_a_burglary_through_its_plan(center: RunningCenter, page: Page, stack) -> None:  # type: ignore[no-untyped-def]
    """From the queue to resolved: the account beside the alert, a number copied, the passcode
    revealed, every step of the plan recorded (by button and by key), each in the history."""
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(center.url + "/")
    page.fill("#token", OPERATOR)
    page.press("#token", "Enter")
    expect(page.locator("#link")).to_have_text("live")

    producer = Producer(stack)
    producer.send("devices.alarms", "acct-1001", signal("acct-1001", 130))  # burglary at Rosa's, tigre-centro
    producer.close()
    with center.client(OPERATOR) as http:
        alert_id = wait_until(lambda: next((a["alert_id"] for a in http.get("/api/alerts").json()["alerts"]
                                            if a["source"]["id"] == "acct-1001" and a["category"] == "intrusion"), None),
                              timeout=30)
    row = page.locator(f'#queue-rows tr[data-alert-id="{alert_id}"]')
    row.click()
    expect(page.locator(f'#map circle[data-alert-id="{alert_id}"]')).to_have_count(1)  # the home on the map
    account = page.locator("#account")
    for text in ("Av. Cazón 1234, Tigre", "Rosa Benítez (82)", "Gate code 4512"):
        expect(account).to_contain_text(text)
    expect(page.locator("#a-contacts li")).to_have_count(2)
    expect(page.locator("#passcode-value")).to_be_hidden()
    steps = page.locator("#plan-steps li")
    expect(steps).to_have_count(4)

    page.locator("#a-contacts button.phone").first.click()
    expect(page.locator("#action-message")).to_have_text("copied Laura Benítez's number")
    assert page.evaluate("navigator.clipboard.readText()") == "+54 11 5555 0101"

    page.keyboard.press("p")
    expect(page.locator("#passcode-value")).to_have_text("girasol")
    page.keyboard.press("a")
    expect(row).to_have_attribute("data-status", "acknowledged", timeout=10_000)

    def outcome_of(step: str) -> object:
        return expect(page.locator(f'#plan-steps li[data-step="{step}"]'))

    page.fill("#step-note", "no answer after 10 rings")
    page.locator('#plan-steps li[data-step="call-home"] button[data-outcome="no_answer"]').click()
    outcome_of("call-home").to_have_attribute("data-outcome", "no_answer", timeout=10_000)  # type: ignore[attr-defined]
    expect(page.locator('#plan-steps li[data-step="call-home"]')).to_contain_text("no answer after 10 rings")
    expect(page.locator("#plan-steps li.current")).to_have_attribute("data-step", "call-contacts")
    page.keyboard.press("1")  # the current step, done: Laura answered
    outcome_of("call-contacts").to_have_attribute("data-outcome", "done", timeout=10_000)  # type: ignore[attr-defined]
    page.keyboard.press("d")
    page.fill("#dispatch-responder", "Móvil 7")
    page.press("#dispatch-responder", "Enter")
    expect(row).to_have_attribute("data-status", "dispatched", timeout=10_000)
    page.keyboard.press("1")
    outcome_of("dispatch-patrol").to_have_attribute("data-outcome", "done", timeout=10_000)  # type: ignore[attr-defined]
    page.keyboard.press("1")
    outcome_of("confirm-on-site").to_have_attribute("data-outcome", "done", timeout=10_000)  # type: ignore[attr-defined]

    page.keyboard.press("r")
    page.select_option("#resolve-disposition", "real")
    page.fill("#resolve-note", "back door forced; house secured")
    page.press("#resolve-note", "Enter")
    expect(row).to_have_count(0, timeout=10_000)  # resolved: out of the queue
    expected = [
        ("opened", "system", ""),
        ("passcode_revealed", "Operator 1", "passcode revealed"),
        ("acknowledged", "Operator 1", ""),
        ("step", "Operator 1", "call-home → no answer · no answer after 10 rings"),
        ("step", "Operator 1", "call-contacts → done"),
        ("dispatched", "Operator 1", "→ Móvil 7"),
        ("step", "Operator 1", "dispatch-patrol → done"),
        ("step", "Operator 1", "confirm-on-site → done"),
        ("resolved", "Operator 1", "→ Móvil 7 · real · back door forced; house secured"),
    ]
    history = page.locator("#history-rows tr")  # newest first
    expect(history).to_have_count(len(expected), timeout=10_000)
    rows = [[cell.inner_text() for cell in row.locator("td").all()] for row in history.all()]
    assert [(r[2], r[3], r[5]) for r in reversed(rows)] == expected


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
