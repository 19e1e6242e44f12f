"""Contract section 2, items 1 to 7, one table row per behaviour, through the pure engine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from alert_rules.city import City
from alert_rules.engine import Outcome, RuleEngine, ZoneState, alert_id_for, zone_event
from alert_rules.rules import Rules
from vocabulary.events import AlarmSignal, Alert, MotionEvent, OperatorAction, PanicBeep, ZoneEvent

T0 = datetime(2026, 11, 21, 14, 0, tzinfo=UTC)  # 11:00 in Buenos Aires
CENTRO = [[-58.585, -34.43], [-58.57, -34.43], [-58.57, -34.42], [-58.585, -34.42]]
NORTE = [[-58.60, -34.42], [-58.585, -34.42], [-58.585, -34.405], [-58.60, -34.405]]

CITY = City.model_validate({
    "zones": [
        {"id": "centro", "polygon": CENTRO, "timezone": "America/Argentina/Buenos_Aires"},
        {"id": "norte", "polygon": NORTE, "timezone": "America/Argentina/Buenos_Aires"},
    ],
    "beepers": [{"id": "bpr-1", "home_zone": "norte"}, {"id": "bpr-2", "home_zone": "centro"}],
    "panels": [{"id": "acct-1", "zone": "centro", "supervision_s": 600},
               {"id": "acct-2", "zone": "centro"}],
    "cameras": [{"id": "cam-1", "zone": "centro"}, {"id": "cam-2", "zone": "norte"}],
})


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def beep(event_id: str, kind: str = "panic", device: str = "bpr-1", s: float = 0, where: Any = None) -> PanicBeep:
    data: dict[str, Any] = {"event_id": event_id, "device_id": device, "ts": at(s).isoformat(), "kind": kind}
    if where is not None:
        data["location"] = {"lat": where[0], "lon": where[1], "accuracy_m": 10}
    return PanicBeep.model_validate(data)


def alarm(event_id: str, code: int, qualifier: int = 1, panel: str = "acct-1", s: float = 0) -> AlarmSignal:
    return AlarmSignal.model_validate({"event_id": event_id, "panel_id": panel, "ts": at(s).isoformat(),
                                       "qualifier": qualifier, "code": code, "group": 1, "zone": 4})


def motion(event_id: str, camera: str = "cam-1", s: float = 0, phase: str = "start", area: float = 10,
           episode: str = "mo-1", regions: tuple[str, ...] = (), snapshot: str | None = "/snap.jpg") -> MotionEvent:
    return MotionEvent.model_validate({
        "event_id": event_id, "camera_id": camera, "ts": at(s).isoformat(), "motion_id": episode,
        "phase": phase, "area_pct": area, "boxes": [], "regions": list(regions), "snapshot": snapshot})


class Center:
    """One engine and the states of every zone, driven like the streams worker drives it."""

    def __init__(self, rules: Rules | None = None, city: City = CITY) -> None:
        self.engine = RuleEngine(city, rules or Rules())
        self.states = {z.id: self.engine.new_state(z.id, T0) for z in city.zones}
        self.published: list[Alert] = []

    def send(self, event: PanicBeep | AlarmSignal | MotionEvent, s: float | None = None) -> Outcome:
        now = at(s) if s is not None else event.ts
        admitted = zone_event(self.engine.city, event, now)
        assert admitted is not None
        return self._keep(self.engine.evaluate(self.states[admitted.zone_id], admitted, now))

    def tick(self, s: float, zone: str = "centro") -> Outcome:
        return self._keep(self.engine.tick(self.states[zone], at(s)))

    def act(self, alert: Alert, action: str, s: float, **fields: Any) -> Outcome:
        request = OperatorAction.model_validate({
            "action_id": f"{action}-{alert.alert_id}-{s}", "alert_id": alert.alert_id, "zone_id": alert.zone_id,
            "action": action, "by": "Operator 1", "at": at(s).isoformat(), **fields})
        return self._keep(self.engine.act(self.states[alert.zone_id], request))

    def _keep(self, outcome: Outcome) -> Outcome:
        self.published.extend(outcome.alerts)
        return outcome

    def latest(self) -> dict[str, Alert]:
        found: dict[str, Alert] = {}
        for alert in self.published:
            found[alert.alert_id] = alert
        return found

    def unresolved(self) -> list[Alert]:
        return [a for a in self.latest().values() if a.status != "resolved"]


# -- 1. a panic opens a priority-1 alert in the zone of its location, else the home zone ---------

@pytest.mark.parametrize("where, zone", [
    ((-34.425, -58.58), "centro"),   # inside centro, though bpr-1 lives in norte
    (None, "norte"),                  # no location: home zone
    ((10.0, 10.0), "norte"),          # in no zone: home zone
])
def test_panic_opens_priority_1_in_the_right_zone(where: Any, zone: str) -> None:
    center = Center()
    outcome = center.send(beep("e1", where=where))
    [alert] = outcome.alerts
    assert (alert.zone_id, alert.priority, alert.category, alert.status, alert.change) == (
        zone, 1, "panic", "open", "opened")
    assert alert.source.kind == "beeper" and alert.source.id == "bpr-1"
    assert alert.event_ids == ["e1"] and alert.count == 1 and alert.rule == "beep:panic"
    assert alert.cameras == CITY.cameras_by_zone[zone]
    assert (alert.location is not None) == (where is not None)


def test_the_alert_snapshot_serialises_as_the_contract_says() -> None:
    [alert] = Center().send(beep("e1", where=(-34.425, -58.58))).alerts
    again = Alert.model_validate_json(alert.model_dump_json())
    assert again == alert
    assert '"opened_at":"2026-11-21T14:00:00.000Z"' in alert.model_dump_json()


@pytest.mark.parametrize("kind", ["test", "heartbeat"])
def test_routine_beeps_raise_nothing(kind: str) -> None:
    assert Center().send(beep("e1", kind)).alerts == []


# -- 2. grouping ------------------------------------------------------------------------------

@pytest.mark.parametrize("gap, alerts", [(0, 1), (60, 1), (120, 1), (121, 2), (600, 2)])
def test_signals_within_the_window_group_into_one_alert(gap: float, alerts: int) -> None:
    center = Center()
    center.send(beep("e1", s=0))
    second = center.send(beep("e2", s=gap)).alerts[-1]
    assert len(center.latest()) == alerts
    if alerts == 1:
        assert (second.count, second.event_ids, second.change) == (2, ["e1", "e2"], "grouped")
        assert second.updated_at == at(gap) and second.version == 2


def test_the_window_runs_from_the_latest_signal() -> None:
    center = Center()
    for n in range(5):
        center.send(beep(f"e{n}", s=100 * n))
    [alert] = center.latest().values()
    assert alert.count == 5


@pytest.mark.parametrize("first, second, alerts", [
    (beep("e1"), beep("e2", device="bpr-2", where=(-34.425, -58.58)), 2),  # another source
    (alarm("a1", 130), alarm("a2", 110), 2),                                   # another category
    (alarm("a1", 130), alarm("a2", 131), 1),                                   # same category
])
def test_grouping_is_per_source_and_category(first: Any, second: Any, alerts: int) -> None:
    center = Center()
    center.send(first, 0)
    center.send(second, 10)
    assert len(center.latest()) == alerts


def test_grouping_keeps_at_most_50_event_ids_newest_last() -> None:
    center = Center()
    for n in range(60):
        center.send(beep(f"e{n}", s=n))
    [alert] = center.latest().values()
    assert alert.count == 60 and len(alert.event_ids) == 50 and alert.event_ids[-1] == "e59"


def test_a_configured_window_per_zone() -> None:
    center = Center(Rules.model_validate({"zones": {"norte": {"grouping_window_s": 600}}}))
    center.send(beep("e1", s=0))
    center.send(beep("e2", s=500))
    assert len(center.latest()) == 1


# -- 3. cancel ---------------------------------------------------------------------------------

def test_cancel_marks_the_alert_and_never_closes_it() -> None:
    center = Center()
    opened = center.send(beep("e1")).alerts[0]
    [cancelled] = center.send(beep("e2", "cancel", s=200)).alerts  # even after the grouping window
    assert cancelled.alert_id == opened.alert_id
    assert (cancelled.cancel_requested, cancelled.status, cancelled.change) == (True, "open", "cancel_requested")
    assert center.unresolved() == [cancelled]


def test_cancel_without_a_panic_opens_nothing() -> None:
    outcome = Center().send(beep("e1", "cancel"))
    assert outcome.alerts == [] and "no unresolved panic alert" in outcome.notes[0]


# -- 4. Contact ID ---------------------------------------------------------------------------

@pytest.mark.parametrize("code, category, priority", [
    (100, "medical", 1), (101, "medical", 1),
    *((c, "fire", 1) for c in range(110, 119)),
    (120, "panic", 1), (122, "panic", 1), (123, "panic", 1), (121, "duress", 1),
    *((c, "intrusion", 2) for c in range(130, 140)),
    (144, "tamper", 3), (145, "tamper", 3), (383, "tamper", 3),
    *((c, "trouble", 4) for c in (300, 301, 302, 350, 373, 382, 384, 399)),
])
def test_contact_id_codes_open_their_alert(code: int, category: str, priority: int) -> None:
    [alert] = Center().send(alarm("a1", code)).alerts
    assert (alert.category, alert.priority, alert.rule, alert.source.kind) == (
        category, priority, f"contact-id:{code}", "alarm")


@pytest.mark.parametrize("code", [*range(401, 410), 601, 602])
def test_open_close_and_test_codes_raise_nothing(code: int) -> None:
    assert Center().send(alarm("a1", code)).alerts == []


@pytest.mark.parametrize("qualifier", [1, 6])
def test_new_and_still_present_both_open(qualifier: int) -> None:
    assert len(Center().send(alarm("a1", 110, qualifier)).alerts) == 1


def test_a_restore_updates_the_matching_alert() -> None:
    center = Center()
    opened = center.send(alarm("a1", 130)).alerts[0]
    [restored] = center.send(alarm("a2", 130, qualifier=3, s=400)).alerts
    assert restored.alert_id == opened.alert_id and restored.change == "restored"
    assert restored.status == "open" and restored.event_ids == ["a1", "a2"]


@pytest.mark.parametrize("code", [130, 110, 100, 121, 301, 383])
def test_a_restore_never_opens_an_alert(code: int) -> None:
    center = Center()
    center.send(alarm("a0", 110 if code != 110 else 130))  # an unrelated open alert
    assert center.send(alarm("a1", code, qualifier=3, s=5)).alerts == []


def test_codes_are_overridable_per_zone() -> None:
    rules = Rules.model_validate({"contact_id": {602: {"category": "trouble", "priority": 5}},
                                  "zones": {"centro": {"contact_id": {130: {"category": "intrusion", "priority": 1},
                                                                      121: None}}}})
    center = Center(rules)
    assert center.send(alarm("a1", 130)).alerts[0].priority == 1
    assert center.send(alarm("a2", 121)).alerts == []
    assert center.send(alarm("a3", 602)).alerts[0].priority == 5


# -- 5. motion ---------------------------------------------------------------------------------

NIGHT = Rules.model_validate({"motion": [{
    "id": "closed-at-night", "zones": ["centro"], "hours": {"from": "22:00", "to": "06:00"},
    "min_area_pct": 5, "min_duration_s": 2, "priority": 3, "regions": ["door"]}]})
LOCAL_23H = 12 * 3600  # 14:00 UTC + 12 h = 02:00 UTC = 23:00 in Buenos Aires


def test_motion_opens_nothing_without_a_rule() -> None:
    assert Center().send(motion("m1")).alerts == []


@pytest.mark.parametrize("s, area, duration, regions, opens", [
    (LOCAL_23H, 10, 3, ("door",), True),
    (0, 10, 3, ("door",), False),            # 11:00 local: outside the hours
    (LOCAL_23H, 1, 3, ("door",), False),     # too small
    (LOCAL_23H, 10, 1, ("door",), False),    # too short
    (LOCAL_23H, 10, 3, ("street",), False),  # another region
])
def test_motion_rules_match_hours_area_duration_region(
        s: float, area: float, duration: float, regions: tuple[str, ...], opens: bool) -> None:
    center = Center(NIGHT)
    center.send(motion("m1", s=s, area=area, regions=regions))
    outcome = center.send(motion("m2", s=s + duration, phase="update", area=area, regions=regions))
    assert bool(outcome.alerts) is opens
    if opens:
        alert = outcome.alerts[0]
        assert (alert.category, alert.priority, alert.rule, alert.snapshot) == (
            "motion", 3, "motion:closed-at-night", "/snap.jpg")


def test_motion_hours_follow_the_zones_time_zone() -> None:
    rules = Rules.model_validate({"motion": [{"id": "morning", "hours": {"from": "10:00", "to": "12:00"}}]})
    center = Center(rules)  # T0 is 14:00 UTC, 11:00 in Buenos Aires
    assert len(center.send(motion("m1")).alerts) == 1


@pytest.mark.parametrize("priority, attached", [(1, True), (2, True), (3, False)])
def test_motion_attaches_to_an_urgent_alert_and_opens_nothing(priority: int, attached: bool) -> None:
    code = {1: 110, 2: 130, 3: 144}[priority]
    rules = Rules.model_validate({"motion": [{"id": "any"}]})
    center = Center(rules)
    opened = center.send(alarm("a1", code)).alerts[0]
    outcome = center.send(motion("m1", snapshot="/s/1.jpg", s=5))
    [changed] = outcome.alerts
    if attached:
        assert changed.alert_id == opened.alert_id and changed.change == "camera_attached"
        assert changed.snapshot == "/s/1.jpg" and "cam-1" in changed.cameras
        assert len(center.latest()) == 1
    else:
        assert changed.category == "motion"


def test_attachments_applied_together_are_one_change_until_another_change_comes_between() -> None:
    center = Center()
    opened = center.send(alarm("a1", 110)).alerts[0]  # fire, priority 1, zone centro
    state = center.states["centro"]

    def admitted(event: PanicBeep | AlarmSignal | MotionEvent, s: float) -> ZoneEvent:
        found = zone_event(CITY, event, at(s))
        assert found is not None
        return found

    together = center.engine.evaluate(state, admitted(motion("m1", snapshot="/s/1.jpg"), 5), at(5))
    center.engine.evaluate(state, admitted(motion("m2", snapshot="/s/2.jpg", episode="mo-2"), 6), at(6), together)
    [folded] = together.alerts
    assert folded.version == opened.version + 1 and folded.change == "camera_attached"
    assert folded.snapshot == "/s/2.jpg" and folded.event_ids[-2:] == ["m1", "m2"]

    center.engine.evaluate(state, admitted(alarm("a2", 110), 7), at(7), together)  # grouped: a change of its own
    center.engine.evaluate(state, admitted(motion("m3", snapshot="/s/3.jpg", episode="mo-3"), 8), at(8), together)
    assert [(a.version, a.change) for a in together.alerts] == [
        (opened.version + 1, "camera_attached"), (opened.version + 2, "grouped"), (opened.version + 3, "camera_attached")]
    assert together.alerts[0].snapshot == "/s/2.jpg" and together.alerts[2].snapshot == "/s/3.jpg"

    newer = center.engine.evaluate(state, admitted(beep("p1", device="bpr-2"), 9), at(9), together).alerts[-1]
    center.engine.evaluate(state, admitted(motion("m4", snapshot="/s/4.jpg", episode="mo-4"), 10), at(10), together)
    assert together.alerts[-1].alert_id == newer.alert_id != opened.alert_id, "motion goes to the newest P1 now"

    apart = Center()
    apart.send(alarm("a1", 110))
    assert len(apart.send(motion("m1", snapshot="/s/1.jpg"), 5).alerts) == 1
    assert [a.version for a in apart.send(motion("m2", snapshot="/s/2.jpg", episode="mo-2"), 6).alerts] == [
        opened.version + 2], "applied apart, each attachment is a change"


# -- 6. supervision ----------------------------------------------------------------------------

def test_a_supervision_alert_resolved_while_the_panel_stays_silent_comes_back_as_a_new_alert() -> None:
    center = Center()
    [first] = center.tick(660).alerts
    center.act(first, "resolve", 700, disposition="false_alarm", note="checked")
    [again] = center.tick(701).alerts
    assert (again.category, again.change, again.version) == ("supervision", "opened", 1)
    assert again.alert_id != first.alert_id, "under the old id, consumers would keep the resolved version"


def test_a_silent_panel_gets_a_supervision_alert_after_its_grace() -> None:
    center = Center()
    assert center.engine.next_deadline(center.states["centro"]) == at(660)  # 600 s + 10 %
    assert center.tick(659).alerts == []
    [alert] = center.tick(660).alerts
    assert (alert.category, alert.priority, alert.source.id, alert.rule) == ("supervision", 4, "acct-1", "supervision")
    assert center.tick(5000).alerts == []  # one alert per silence


def test_any_signal_from_the_panel_restores_its_supervision_alert() -> None:
    center = Center()
    opened = center.tick(700).alerts[0]
    outcome = center.send(alarm("a1", 602, s=800))
    [restored] = outcome.alerts
    assert restored.alert_id == opened.alert_id and restored.change == "restored" and restored.status == "resolved"
    assert center.states["centro"].alerts == {}


def test_signals_keep_a_panel_supervised_from_its_last_signal() -> None:
    center = Center()
    center.send(alarm("a1", 602, s=500))
    assert center.tick(1000).alerts == []
    assert center.tick(1160).alerts[0].category == "supervision"


def test_the_grace_is_configurable_per_zone() -> None:
    center = Center(Rules.model_validate({"zones": {"centro": {"supervision": {"grace_pct": 50}}}}))
    assert center.tick(899).alerts == [] and len(center.tick(900).alerts) == 1


# -- 7. escalation -----------------------------------------------------------------------------

@pytest.mark.parametrize("code, deadline", [(110, 30), (130, 60), (144, 300)])
def test_open_alerts_escalate_at_every_deadline(code: int, deadline: int) -> None:
    center = Center()
    center.send(alarm("a1", code))
    assert center.tick(deadline - 1).alerts == []
    assert center.tick(deadline).alerts[0].escalation == 1
    assert center.tick(2 * deadline - 1).alerts == []
    [again] = center.tick(2 * deadline).alerts
    assert (again.escalation, again.change, again.status) == (2, "escalated", "open")


def test_priority_4_never_escalates() -> None:
    center = Center()
    center.send(alarm("a1", 301, panel="acct-2"))
    center.tick(100_000)
    assert center.published and all(a.change != "escalated" for a in center.published)


def test_acknowledged_alerts_stop_escalating() -> None:
    center = Center()
    opened = center.send(beep("e1")).alerts[0]
    center.act(opened, "ack", 10)
    assert center.tick(300, "norte").alerts == []


def test_a_late_tick_counts_every_missed_deadline() -> None:
    center = Center()
    center.send(beep("e1"))
    [alert] = center.tick(95, "norte").alerts
    assert alert.escalation == 3


# -- operators ---------------------------------------------------------------------------------

def test_ack_dispatch_resolve_in_order() -> None:
    center = Center()
    opened = center.send(beep("e1")).alerts[0]
    acked = center.act(opened, "ack", 5).alerts[0]
    sent = center.act(opened, "dispatch", 6, responder="Patrol 7").alerts[0]
    done = center.act(opened, "resolve", 7, disposition="real", note="attended").alerts[0]
    assert [a.status for a in (acked, sent, done)] == ["acknowledged", "dispatched", "resolved"]
    assert [a.version for a in (opened, acked, sent, done)] == [1, 2, 3, 4]
    assert done.changed_by == "Operator 1" and done.responder == "Patrol 7" and done.disposition == "real"
    assert center.states["norte"].alerts == {}


def test_ack_after_dispatch_does_not_move_backwards() -> None:
    center = Center()
    opened = center.send(beep("e1")).alerts[0]
    center.act(opened, "dispatch", 5, responder="Patrol 7")
    assert center.act(opened, "ack", 6).alerts == []


# -- silences and inhibitions --------------------------------------------------------------------

def test_a_silence_holds_back_and_records_what_it_held() -> None:
    rules = Rules.model_validate({"silences": [{
        "id": "maintenance", "match": {"source": "acct-1"}, "starts_at": "2026-11-21T13:00:00Z",
        "ends_at": "2026-11-21T15:00:00Z", "author": "Supervisor", "reason": "battery swap"}]})
    center = Center(rules)
    outcome = center.send(alarm("a1", 110))
    assert outcome.alerts == [] and outcome.held_back[0].by == "silence:maintenance"
    held = center.states["centro"].held_back["silence:maintenance"]
    assert (held.count, held.event_ids) == (1, ["a1"])
    assert len(center.send(alarm("a2", 110), s=3600).alerts) == 1  # after ends_at
    assert len(center.send(alarm("a3", 110, panel="acct-2")).alerts) == 1  # another panel


def test_an_inhibition_holds_back_its_targets_while_the_source_alert_is_unresolved() -> None:
    rules = Rules.model_validate({"inhibit": [{
        "id": "intrusion-covers-tamper", "source": {"category": "intrusion"}, "target": {"category": "tamper"}}]})
    center = Center(rules)
    intrusion = center.send(alarm("a1", 130)).alerts[0]
    assert center.send(alarm("a2", 144, s=1)).held_back[0].by == "inhibition:intrusion-covers-tamper"
    assert len(center.send(alarm("a3", 144, panel="acct-2", s=2)).alerts) == 1  # equal: source
    center.act(intrusion, "resolve", 3, disposition="real")
    assert len(center.send(alarm("a4", 144, s=4)).alerts) == 1


def test_an_inhibition_can_hold_back_supervision() -> None:
    rules = Rules.model_validate({"inhibit": [{
        "id": "ac-loss", "source": {"category": "trouble"}, "target": {"category": "supervision"}}]})
    center = Center(rules)
    center.send(alarm("a1", 301))
    outcome = center.tick(2000)
    assert [a.category for a in outcome.alerts] == [] and outcome.held_back[0].by == "inhibition:ac-loss"


# -- idempotence, ids, bounds -------------------------------------------------------------------

@pytest.mark.parametrize("event", [beep("e1"), alarm("a1", 130), beep("e2", "cancel")])
def test_the_same_event_twice_changes_nothing(event: Any) -> None:
    center = Center()
    center.send(beep("e0"))
    center.send(event, 1)
    before = {z: s.to_json() for z, s in center.states.items()}
    outcome = center.send(event, 2)
    assert outcome.duplicate and outcome.alerts == []
    assert {z: s.to_json() for z, s in center.states.items()} == before


def test_alert_ids_are_derived_from_zone_category_source_and_first_event() -> None:
    [alert] = Center().send(beep("e1")).alerts
    assert alert.alert_id == alert_id_for("norte", "panic", "beeper", "bpr-1", "e1")
    assert Center().send(beep("e1")).alerts[0].alert_id == alert.alert_id


def test_state_survives_a_json_round_trip() -> None:
    import json

    center = Center(NIGHT)
    center.send(beep("e1", where=(-34.425, -58.58)))
    center.send(alarm("a1", 130, s=650))
    center.send(motion("m1", s=LOCAL_23H))
    center.tick(700)
    state = center.states["centro"]
    copy = ZoneState.from_json(json.loads(json.dumps(state.to_json())))
    assert copy.to_json() == state.to_json()
    outcome = center.engine.evaluate(copy, _admitted(alarm("a2", 130, s=710)), at(710))
    assert [(a.change, a.count) for a in outcome.alerts] == [("grouped", 2)]


def _admitted(event: AlarmSignal) -> ZoneEvent:
    found = zone_event(CITY, event, event.ts)
    assert found is not None
    return found


def test_too_many_unresolved_alerts_expire_the_least_urgent_oldest() -> None:
    center = Center(Rules.model_validate({"limits": {"max_alerts": 10}}))
    for n in range(10):
        center.send(alarm(f"t{n}", 301, panel="acct-2" if n % 2 else "acct-1"), 200 * n)
    center.send(alarm("fire", 110), 5000)
    state = center.states["centro"]
    assert len(state.alerts) == 10
    assert any(a.category == "fire" for a in state.alerts.values())
    assert center.published[-1].change == "expired" and center.published[-1].opened_at == at(0)


def test_an_event_for_another_zone_is_refused() -> None:
    center = Center()
    with pytest.raises(ValueError):
        center.engine.evaluate(center.states["norte"], _admitted(alarm("a1", 130)), T0)
