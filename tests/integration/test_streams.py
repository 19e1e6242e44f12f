"""Contract section 2, end to end: devices in on the real broker, alerts out, one real worker."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from deploy.stack import Stack
from tests.integration.alerts import FAST_CITY, IN_ZONE_A, Alerts, AlertWatch, beep, find, motion, signal, uid
from tests.integration.support import Producer, now_ts, worker
from vocabulary.events import OperatorAction

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def running(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with worker(stack, FAST_CITY, tmp_path_factory.mktemp("streams") / "worker.log"):
        yield stack


@pytest.fixture
def watch(running: Stack) -> Iterator[AlertWatch]:
    made = AlertWatch(running)
    yield made
    made.close()


@pytest.fixture
def send(running: Stack) -> Iterator[Producer]:
    made = Producer(running)
    yield made
    made.close()


def test_a_panic_opens_a_priority_1_alert_in_the_zone_of_its_location(watch: AlertWatch, send: Producer) -> None:
    panic = beep("bpr-c", location=IN_ZONE_A)
    send.send("devices.beeps", "bpr-c", panic)
    alerts = watch.wait(lambda a: bool(holding(a, "bpr-c", {panic["event_id"]})))
    [alert] = holding(alerts, "bpr-c", {panic["event_id"]})
    assert (alert["zone_id"], alert["priority"], alert["category"], alert["status"]) == ("zone-a", 1, "panic", "open")
    assert alert["event_ids"] == [panic["event_id"]]
    assert alert["location"]["lat"] == IN_ZONE_A["lat"]
    assert alert["cameras"] == ["cam-a"]
    assert {key for key, m in watch.messages if m["alert_id"] == alert["alert_id"]} == {b"zone-a"}


def test_a_panic_without_location_uses_the_home_zone_and_signals_group(watch: AlertWatch, send: Producer) -> None:
    panics = [beep("bpr-d") for _ in range(3)]
    for panic in panics:
        send.send("devices.beeps", "bpr-d", panic)
    ids = {p["event_id"] for p in panics}
    alerts = watch.wait(lambda a: any(x["count"] == 3 for x in holding(a, "bpr-d", ids)))
    [alert] = holding(alerts, "bpr-d", ids)
    assert alert["zone_id"] == "zone-c" and alert["count"] == 3
    assert alert["event_ids"] == [p["event_id"] for p in panics]
    assert len({m["alert_id"] for _, m in watch.messages if ids & set(m["event_ids"])}) == 1


def holding(alerts: Alerts, beeper: str, event_ids: set[str]) -> list[dict[str, Any]]:
    """The beeper's alerts that hold any of these events. Earlier modules on the session's
    stack (the simulator in test_receivers) may have left other alerts of the same beeper
    open, and their escalations are published while this test watches."""
    return [a for a in find(alerts, source={"kind": "beeper", "id": beeper}) if event_ids & set(a["event_ids"])]


def test_cancel_marks_the_alert_and_never_closes_it(watch: AlertWatch, send: Producer) -> None:
    send.send("devices.beeps", "bpr-e", beep("bpr-e"))
    send.send("devices.beeps", "bpr-e", beep("bpr-e", kind="cancel"))
    alerts = watch.wait(lambda a: any(x["cancel_requested"] for x in find(a, source={"kind": "beeper", "id": "bpr-e"})))
    [alert] = find(alerts, source={"kind": "beeper", "id": "bpr-e"})
    assert alert["cancel_requested"] and alert["status"] in ("open", "acknowledged")


@pytest.mark.parametrize(("code", "category", "priority"), [
    (100, "medical", 1), (110, "fire", 1), (121, "duress", 1), (122, "panic", 1), (131, "intrusion", 2),
    (144, "tamper", 3), (301, "trouble", 4),
])
def test_contact_id_codes_open_their_category_and_priority(
        watch: AlertWatch, send: Producer, code: int, category: str, priority: int) -> None:
    event = signal("acct-a", code)
    send.send("devices.alarms", "acct-a", event)
    alerts = watch.wait(lambda a: any(event["event_id"] in x["event_ids"] for x in a.values()))
    [alert] = [x for x in alerts.values() if event["event_id"] in x["event_ids"]]
    assert (alert["category"], alert["priority"], alert["zone_id"]) == (category, priority, "zone-a")


def test_open_close_and_tests_raise_nothing_and_a_restore_never_opens(watch: AlertWatch, send: Producer) -> None:
    quiet = [signal("acct-b", 401), signal("acct-b", 602), signal("acct-b", 135, qualifier=3)]
    for event in quiet:
        send.send("devices.alarms", "acct-b", event)
    marker = beep("bpr-g")  # same zone, after them: once it is out, they have been evaluated
    send.send("devices.beeps", "bpr-g", marker)
    alerts = watch.wait(lambda a: any(marker["event_id"] in x["event_ids"] for x in a.values()))
    quiet_ids = {e["event_id"] for e in quiet}
    assert not [x for x in alerts.values() if quiet_ids & set(x["event_ids"])]


def test_a_restore_updates_the_open_alert(watch: AlertWatch, send: Producer) -> None:
    burglary, restore = signal("acct-d", 132), signal("acct-d", 132, qualifier=3)
    send.send("devices.alarms", "acct-d", burglary)
    send.send("devices.alarms", "acct-d", restore)
    alerts = watch.wait(lambda a: any(restore["event_id"] in x["event_ids"] for x in a.values()))
    [alert] = [x for x in alerts.values() if burglary["event_id"] in x["event_ids"]]
    assert restore["event_id"] in alert["event_ids"] and alert["version"] >= 2


def test_motion_attaches_to_an_urgent_alert_and_opens_only_where_rules_say(watch: AlertWatch, send: Producer) -> None:
    send.send("devices.beeps", "bpr-f", beep("bpr-f"))  # P1 in zone-a
    watch.wait(lambda a: bool(find(a, source={"kind": "beeper", "id": "bpr-f"})))
    send.send("cameras.motion", "cam-e", motion("cam-e"))  # zone-e has no motion rule
    send.send("cameras.motion", "cam-a", motion("cam-a", snapshot="/snapshots/cam-a-1.jpg"))
    send.send("cameras.motion", "cam-d", motion("cam-d"))  # zone-d's rule: any motion, priority 3
    alerts = watch.wait(lambda a: bool(find(a, source={"kind": "camera", "id": "cam-d"})) and any(
        x.get("snapshot") == "/snapshots/cam-a-1.jpg" for x in a.values()))
    [panic] = find(alerts, source={"kind": "beeper", "id": "bpr-f"})
    assert panic["snapshot"] == "/snapshots/cam-a-1.jpg" and "cam-a" in panic["cameras"]
    assert not find(alerts, source={"kind": "camera", "id": "cam-a"})  # attached, not a new alert
    assert not find(alerts, zone_id="zone-e")
    [zone_d] = find(alerts, source={"kind": "camera", "id": "cam-d"})
    assert (zone_d["category"], zone_d["priority"], zone_d["rule"]) == ("motion", 3, "motion:zone-d-always")


def test_a_silent_panel_gets_a_supervision_alert_and_a_signal_restores_it(running: Stack, send: Producer) -> None:
    watch = AlertWatch(running, from_start=True)  # it may have fired before this test began
    alerts = watch.wait(lambda a: bool(find(a, category="supervision", source={"kind": "alarm", "id": "acct-quiet"})),
                        timeout_s=30)
    [alert] = find(alerts, category="supervision", source={"kind": "alarm", "id": "acct-quiet"})
    assert alert["priority"] == 4 and alert["zone_id"] == "zone-c"
    send.send("devices.alarms", "acct-quiet", signal("acct-quiet", 602))
    alerts = watch.wait(lambda a: a[alert["alert_id"]]["status"] == "resolved")
    watch.close()
    assert alerts[alert["alert_id"]]["status"] == "resolved"


def test_an_unacknowledged_alert_escalates_at_every_deadline_until_acknowledged(
        watch: AlertWatch, send: Producer) -> None:
    send.send("devices.alarms", "acct-c", signal("acct-c", 110))  # fire, P1, deadline 2 s in this city
    alerts = watch.wait(lambda a: any(x["escalation"] >= 2 for x in find(a, source={"kind": "alarm", "id": "acct-c"})),
                        timeout_s=15)
    [fire] = find(alerts, source={"kind": "alarm", "id": "acct-c"})
    escalations = [m["escalation"] for _, m in watch.messages if m["alert_id"] == fire["alert_id"]]
    assert escalations[:3] == [0, 1, 2]
    action = OperatorAction(action_id=uid(), alert_id=fire["alert_id"], zone_id="zone-c", action="ack",
                            by="Operator 1", at=now_ts())
    send.send_internal("zone.events", "zone-c", action.model_dump_json().encode())
    alerts = watch.wait(lambda a: a[fire["alert_id"]]["status"] == "acknowledged")
    acknowledged = alerts[fire["alert_id"]]
    assert acknowledged["changed_by"] == "Operator 1"
    time.sleep(2.5)  # past another deadline: an acknowledged alert does not escalate
    alerts = watch.wait(lambda a: False, timeout_s=1)
    assert alerts[fire["alert_id"]]["escalation"] == acknowledged["escalation"]


def test_operator_actions_dispatch_and_resolve(watch: AlertWatch, send: Producer) -> None:
    send.send("devices.alarms", "acct-b", signal("acct-b", 100))
    alerts = watch.wait(lambda a: bool(find(a, category="medical", source={"kind": "alarm", "id": "acct-b"})))
    [medical] = find(alerts, category="medical", source={"kind": "alarm", "id": "acct-b"})
    for action, extra in (("dispatch", {"responder": "Ambulance 3"}),
                          ("resolve", {"disposition": "real", "note": "taken to hospital"})):
        change = OperatorAction(action_id=uid(), alert_id=medical["alert_id"], zone_id="zone-b", action=action,
                                by="Operator 1", at=now_ts(), **extra)
        send.send_internal("zone.events", "zone-b", change.model_dump_json().encode())
    alerts = watch.wait(lambda a: a[medical["alert_id"]]["status"] == "resolved")
    final = alerts[medical["alert_id"]]
    assert (final["responder"], final["disposition"], final["note"]) == ("Ambulance 3", "real", "taken to hospital")
    assert [m["change"] for _, m in watch.messages if m["alert_id"] == medical["alert_id"]][-2:] == [
        "dispatched", "resolved"]
