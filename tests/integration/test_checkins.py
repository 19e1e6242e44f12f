"""Welfare check-ins on the real stack (contract section 15): a deadline about a minute ahead.

One senior checks in and gets no alert, one does not and gets one, one checks in late and her
alert is updated; Contact ID 641 and 642 open welfare alerts over Kafka and through the DC-09
receiver; the day's call list, by the API and in the console (Chromium); and a worker killed
before the deadline fires it once. The day is played once, by the module's fixture.
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis
from playwright.sync_api import expect, sync_playwright

from deploy.stack import Stack
from receivers import dc09
from streams.zone_records import ZoneRecords
from tests.e2e.test_console import CHROMIUM_ARGS
from tests.integration.alerts import Alerts, AlertWatch, beep, find
from tests.integration.alerts import signal as alarm_signal
from tests.integration.center_support import RunningCenter, center_with_worker
from tests.integration.receiver_support import Panel, receiver
from tests.integration.support import Producer, worker

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

OPERATOR, VIEWER, RESPONDER = "op-secret", "viewer-secret", "patrol-secret"
POLYGON = "[[-58.585, -34.43], [-58.57, -34.43], [-58.57, -34.42], [-58.585, -34.42]]"
TIMEZONES = ("America/Argentina/Buenos_Aires", "Asia/Tokyo", "UTC")  # the first whose day the deadline fits


def schedule_ahead(lead_s: float) -> tuple[str, str, datetime]:
    """A time zone, a `by` and the deadline (`by` + 1 minute of grace) at the first whole minute `lead_s` from now."""
    soon = datetime.now(UTC) + timedelta(seconds=lead_s + 59)
    deadline = soon.replace(second=0, microsecond=0)
    for name in TIMEZONES:
        local = deadline.astimezone(ZoneInfo(name))
        if 5 <= local.hour * 60 + local.minute <= 23 * 60 + 50:
            by = local - timedelta(minutes=1)
            return name, f"{by.hour:02d}:{by.minute:02d}", deadline
    raise AssertionError("no time zone has room for the deadline")


def write_city(directory: Path, zone: str, timezone: str, devices: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "city.yaml").write_text(f"""
zones:
  - {{id: {zone}, timezone: {timezone}, polygon: {POLYGON}}}
{devices}
tokens:
  - {{token: {OPERATOR}, role: operator, name: "Operator 1"}}
  - {{token: {VIEWER}, role: viewer, name: "Viewer 1"}}
  - {{token: {RESPONDER}, role: responder, name: "Patrol 7", zones: [{zone}]}}
rules:
  action_plans:
    welfare:
      - {{id: call-home, text: "Call the home"}}
      - {{id: call-contacts, text: "Call the contacts in order"}}
""", encoding="utf-8")
    return directory


def welfare_of(alerts: Alerts, device: str) -> list[dict[str, Any]]:
    return [a for a in find(alerts, category="welfare") if a["source"]["id"] == device]


def until(moment: datetime) -> float:
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


@dataclass
class Day:
    """One day of check-ins, played once for the module's tests."""

    center: RunningCenter
    timezone: str
    deadline: datetime
    alerts: Alerts  # the newest version of every alert seen, a few seconds after the late check-in
    missed: dict[str, Any]  # the welfare alert of the senior who never checked in, as it opened
    late: dict[str, Any]  # the welfare alert of the senior who checked in late, as it opened

    @property
    def date(self) -> str:
        return self.deadline.astimezone(ZoneInfo(self.timezone)).date().isoformat()


@pytest.fixture(scope="module")
def day(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Day]:
    """ck-ok disarms before the deadline, ckb-miss sends only heartbeats, ck-late a test and then,
    after her alert opened, a disarm; ck-watch sends 641 through DC-09 and ck-latch 642 over Kafka."""
    tmp = tmp_path_factory.mktemp("checkins")
    timezone, by, deadline = schedule_ahead(lead_s=30)
    checkin = f'checkin: {{by: "{by}", grace_min: 1}}'
    config = write_city(tmp / "city", "zone-welfare", timezone, f"""
panels:
  - {{id: ck-ok, zone: zone-welfare, {checkin}}}
  - {{id: ck-late, zone: zone-welfare, {checkin}, address: "Av. Cazón 1234, Tigre", location: {{lat: -34.425, lon: -58.58}}}}
  - {{id: ck-watch, zone: zone-welfare, account: "6410"}}
  - {{id: ck-latch, zone: zone-welfare}}
beepers:
  - {{id: ckb-miss, home_zone: zone-welfare, {checkin}}}
""")
    watch = AlertWatch(stack)
    producer = Producer(stack)
    try:
        with center_with_worker(stack, config, tmp / "worker.log") as center, \
                receiver(stack, config, tmp / "receiver.log") as running:
            assert datetime.now(UTC) < deadline - timedelta(seconds=10), "the stack took too long to start"
            producer.send("devices.alarms", "ck-ok", alarm_signal("ck-ok", 401))  # she disarmed: activity
            producer.send("devices.beeps", "ckb-miss", beep("ckb-miss", "heartbeat"))  # not activity
            producer.send("devices.alarms", "ck-late", alarm_signal("ck-late", 602))  # a test: not activity
            producer.send("devices.alarms", "ck-latch", alarm_signal("ck-latch", 642))  # latch-key, over Kafka
            panel = Panel(running.dc09_port)  # senior watch, through the DC-09 receiver (ADM-CID)
            panel.send(dc09.frame(f'"ADM-CID"0101R1L1#6410[#6410|1641 01 000]{dc09.format_timestamp(datetime.now(UTC))}'))
            assert panel.read() == [b'"ACK"0101R1L1#6410[]']
            panel.close()
            assert datetime.now(UTC) < deadline, "the deadline passed before the check-ins were sent"
            found = watch.wait(lambda a: bool(welfare_of(a, "ckb-miss") and welfare_of(a, "ck-late")),
                               timeout_s=until(deadline) + 45)
            [missed], [late] = welfare_of(found, "ckb-miss"), welfare_of(found, "ck-late")
            producer.send("devices.alarms", "ck-late", alarm_signal("ck-late", 401))  # late, but well
            watch.wait(lambda a: a[late["alert_id"]]["version"] >= 2, timeout_s=30)
            watch.wait(lambda a: False, timeout_s=3)  # anything doubled or late would show now
            yield Day(center, timezone, deadline, watch.latest, missed, late)
    finally:
        producer.close()
        watch.close()


def test_contact_id_641_through_dc09_and_642_over_kafka_open_priority_3_welfare_alerts(day: Day) -> None:
    for device, code in (("ck-watch", 641), ("ck-latch", 642)):
        [alert] = welfare_of(day.alerts, device)
        assert (alert["priority"], alert["rule"], alert["source"]["kind"]) == (3, f"contact-id:{code}", "alarm")


def test_the_senior_who_checked_in_gets_no_alert(day: Day) -> None:
    assert welfare_of(day.alerts, "ck-ok") == []


def test_the_senior_who_did_not_gets_one_welfare_alert_at_the_deadline(day: Day) -> None:
    [alert] = welfare_of(day.alerts, "ckb-miss")
    opened = datetime.fromisoformat(alert["opened_at"].replace("Z", "+00:00"))
    assert day.deadline <= opened < day.deadline + timedelta(seconds=15)
    assert (alert["priority"], alert["status"], alert["rule"], alert["source"]) == (
        3, "open", "checkin", {"kind": "beeper", "id": "ckb-miss"})
    with day.center.client(OPERATOR) as http:
        plan = http.get(f"/api/alerts/{alert['alert_id']}/plan").json()
    assert [s["id"] for s in plan["steps"]] == ["call-home", "call-contacts"]


def test_the_late_senior_s_alert_carries_her_account_and_is_updated_checked_in(day: Day) -> None:
    assert day.late["address"] == "Av. Cazón 1234, Tigre" and day.late["location"]["lat"] == -34.425
    updated = day.alerts[day.late["alert_id"]]
    assert (updated["change"], updated["status"], updated["version"]) == ("checked_in", "open", 2)


def test_the_call_list_of_the_day(day: Day) -> None:
    with day.center.client(OPERATOR) as http:
        answer = http.get(f"/api/checkins?date={day.date}").json()
        assert http.get("/api/checkins?date=2026-02-30").status_code == 422
    assert answer["date"] == day.date
    rows = {r["device_id"]: r for r in answer["checkins"]}
    assert set(rows) == {"ck-ok", "ck-late", "ckb-miss"}
    due = (day.deadline - timedelta(minutes=1)).astimezone(ZoneInfo(day.timezone)).isoformat()
    assert {r["due"] for r in rows.values()} == {due}
    assert rows["ck-ok"]["checked_in_at"] is not None and rows["ck-ok"]["alert_id"] is None
    assert (rows["ckb-miss"]["kind"], rows["ckb-miss"]["checked_in_at"], rows["ckb-miss"]["alert_id"]) == (
        "beeper", None, day.missed["alert_id"])
    assert rows["ck-late"]["alert_id"] == day.late["alert_id"]
    assert rows["ck-late"]["checked_in_at"] == day.alerts[day.late["alert_id"]]["updated_at"]
    with day.center.client(VIEWER) as http:
        assert http.get(f"/api/checkins?date={day.date}").status_code == 200
    with day.center.client(RESPONDER) as http:
        assert http.get(f"/api/checkins?date={day.date}").status_code == 403


@pytest.mark.e2e
def test_the_console_lists_the_day_and_opens_the_missed_senior_s_alert(day: Day) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            problems: list[str] = []
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.goto(day.center.url + "/")
            page.fill("#token", OPERATOR)
            page.press("#token", "Enter")
            expect(page.locator("#who")).to_have_text("Operator 1 · operator")
            welfare = page.locator(f'#queue-rows tr[data-alert-id="{day.missed["alert_id"]}"] .cat-welfare')
            expect(welfare).to_have_text("welfare")  # the category, styled like the others
            page.click('#views button[data-view="checkins"]')
            page.fill("#checkins-date", day.date)
            page.dispatch_event("#checkins-date", "change")
            rows = page.locator("#checkin-rows tr")
            expect(rows).to_have_count(3)
            expect(page.locator('#checkin-rows tr[data-device-id="ckb-miss"]')).to_have_attribute("data-state", "missed")
            expect(page.locator('#checkin-rows tr[data-device-id="ck-late"]')).to_have_attribute("data-state", "late")
            expect(page.locator('#checkin-rows tr[data-device-id="ck-ok"]')).to_have_attribute("data-state", "ok")
            expect(page.locator("#checkins-summary")).to_have_text("3 scheduled · 2 checked in · 1 missing")
            page.click('#checkin-rows tr[data-device-id="ckb-miss"] button.alert-link')
            expect(page.locator("#console")).to_be_visible()
            expect(page.locator("#checkins")).to_be_hidden()
            expect(page.locator("#d-title")).to_contain_text("No check-in from beeper ckb-miss")
            expect(page.locator(f'#queue-rows tr[data-alert-id="{day.missed["alert_id"]}"]')).to_have_class(
                re.compile(r"\bselected\b"))
            assert problems == []
        finally:
            browser.close()


def test_a_worker_killed_before_the_deadline_fires_it_once_after_a_restart(stack: Stack, tmp_path: Path) -> None:
    timezone, by, deadline = schedule_ahead(lead_s=30)
    checkin = f'checkin: {{by: "{by}", grace_min: 1}}'
    config = write_city(tmp_path / "city", "zone-welfare-kill", timezone, f"""
panels:
  - {{id: ck-kill-panel, zone: zone-welfare-kill, {checkin}}}
beepers:
  - {{id: ckb-kill, home_zone: zone-welfare-kill, {checkin}}}
""")
    store = redis.Redis.from_url(stack.redis_url)
    state_key = ZoneRecords.state_key("zone-welfare-kill")
    watch = AlertWatch(stack)
    devices = ("ck-kill-panel", "ckb-kill")
    try:
        with worker(stack, config, tmp_path / "first.log") as first:
            give_up = time.monotonic() + until(deadline) - 3
            while not store.exists(state_key) and time.monotonic() < give_up:  # the zone is watched and saved
                time.sleep(0.2)
            assert store.exists(state_key), "the worker did not save the zone before the deadline"
            assert datetime.now(UTC) < deadline
            os.killpg(first.pid, signal.SIGKILL)  # the worker and its lanes, before the deadline
            first.wait()
        time.sleep(until(deadline) + 2)  # the deadline passes with no worker
        with worker(stack, config, tmp_path / "second.log") as second:
            watch.wait(lambda a: all(welfare_of(a, d) for d in devices), timeout_s=60)
            os.killpg(second.pid, signal.SIGKILL)  # at once, maybe before the alerts' zone is saved
            second.wait()
        with worker(stack, config, tmp_path / "third.log"):
            watch.wait(lambda a: False, timeout_s=12)  # a deadline fired again would show now
        for device in devices:
            [alert] = welfare_of(watch.latest, device)
            opened = [m for _, m in watch.messages if m["alert_id"] == alert["alert_id"] and m["change"] == "opened"]
            assert {(m["version"], m["opened_at"]) for m in opened} == {(1, alert["opened_at"])}
            assert alert["change"] == "opened" and alert["status"] == "open"
    finally:
        watch.close()
        store.close()
