"""Welfare check-ins (contract section 15): the schedule, what counts as activity, and the engine's alerts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from alert_rules.checkins import CheckIn, is_activity
from alert_rules.city import City
from alert_rules.engine import Outcome, RuleEngine, ZoneState, plan_of, zone_event
from alert_rules.rules import Rules
from centinela.config import load_config
from vocabulary.errors import ConfigError
from vocabulary.events import AlarmSignal, Alert, PanicBeep

BA = ZoneInfo("America/Argentina/Buenos_Aires")  # UTC-3, no daylight saving
NEW_YORK = ZoneInfo("America/New_York")
MONDAY = date(2026, 12, 7)

# -- the schedule --------------------------------------------------------------------------


def test_the_deadline_is_by_plus_grace_on_the_zone_s_clock() -> None:
    checkin = CheckIn(by="09:00", grace_min=30)
    assert checkin.deadline(MONDAY, BA) == datetime(2026, 12, 7, 12, 30, tzinfo=UTC)
    assert checkin.due(MONDAY, BA).isoformat() == "2026-12-07T09:00:00-03:00"
    assert checkin.deadline(MONDAY, ZoneInfo("UTC")) == datetime(2026, 12, 7, 9, 30, tzinfo=UTC)


def test_grace_defaults_to_30_minutes_and_days_to_every_day() -> None:
    checkin = CheckIn(by="10:15")
    assert checkin.grace_min == 30
    assert all(checkin.scheduled(MONDAY + timedelta(days=n)) for n in range(7))


def test_only_the_listed_days_are_scheduled() -> None:
    checkin = CheckIn(by="09:00", days=["mon", "thu"])
    scheduled = [(MONDAY + timedelta(days=n)).strftime("%a") for n in range(7) if checkin.scheduled(MONDAY + timedelta(days=n))]
    assert scheduled == ["Mon", "Thu"]


def test_the_next_deadline_skips_days_off_and_passed_deadlines() -> None:
    checkin = CheckIn(by="09:00", grace_min=0, days=["mon", "thu"])
    tuesday_noon = datetime(2026, 12, 8, 15, 0, tzinfo=UTC)
    assert checkin.next_deadline(tuesday_noon, BA) == (date(2026, 12, 10), datetime(2026, 12, 10, 12, 0, tzinfo=UTC))
    at_deadline = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)  # strictly after: Monday's is not next once reached
    assert checkin.next_deadline(at_deadline, BA)[0] == date(2026, 12, 10)
    assert checkin.last_deadline(tuesday_noon, BA) == (MONDAY, at_deadline)
    assert checkin.last_deadline(at_deadline - timedelta(seconds=1), BA)[0] == date(2026, 12, 3)  # type: ignore[index]


def test_a_deadline_in_the_spring_gap_falls_at_the_first_instant_after_it() -> None:
    # New York, 8 March 2026: clocks go from 02:00 EST to 03:00 EDT; 02:30 never happens
    checkin = CheckIn(by="02:00", grace_min=30)
    deadline = checkin.deadline(date(2026, 3, 8), NEW_YORK)
    assert deadline.astimezone(UTC) == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)
    assert deadline.isoformat() == "2026-03-08T03:00:00-04:00"
    assert checkin.due(date(2026, 3, 8), NEW_YORK).isoformat() == "2026-03-08T03:00:00-04:00"
    assert checkin.deadline(date(2026, 3, 9), NEW_YORK).isoformat() == "2026-03-09T02:30:00-04:00"


def test_a_deadline_in_the_autumn_overlap_is_its_first_occurrence() -> None:
    # New York, 1 November 2026: 01:30 happens twice, first in EDT
    deadline = CheckIn(by="01:00", grace_min=30).deadline(date(2026, 11, 1), NEW_YORK)
    assert deadline.astimezone(UTC) == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)


def test_the_next_deadline_crosses_a_daylight_saving_change() -> None:
    checkin = CheckIn(by="09:00", grace_min=0)
    saturday_night = datetime(2026, 3, 7, 23, 0, tzinfo=NEW_YORK)
    assert checkin.next_deadline(saturday_night, NEW_YORK)[1].astimezone(UTC) == datetime(2026, 3, 8, 13, 0, tzinfo=UTC)


@pytest.mark.parametrize("fields, message", [
    ({"by": "9:00"}, "by"),
    ({"by": "24:00"}, "by"),
    ({"by": "09:60"}, "by"),
    ({"by": "09:00", "days": ["monday"]}, "days.0"),
    ({"by": "09:00", "days": []}, "days"),
    ({"by": "09:00", "grace_min": -1}, "grace_min"),
    ({"by": "23:45", "grace_min": 30}, "passes midnight"),
])
def test_a_bad_schedule_is_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        CheckIn.model_validate(fields)
    assert message in str(caught.value)


ZONE = "{id: z1, polygon: [[-58.585, -34.43], [-58.57, -34.43], [-58.57, -34.42]]}"


@pytest.mark.parametrize("entry, expected", [
    ("panels: [{id: p1, zone: z1, checkin: {by: '25:00'}}]", "city.yaml: panels[0] (id 'p1'): checkin.by:"),
    ("panels: [{id: p1, zone: z1, checkin: {by: '09:00', days: [mon, funday]}}]",
     "city.yaml: panels[0] (id 'p1'): checkin.days.1:"),
    ("beepers: [{id: b1, home_zone: z1, checkin: {by: '09:00', grace_min: 2000}}]",
     "city.yaml: beepers[0] (id 'b1'): checkin.grace_min:"),
    ("beepers: [{id: b1, home_zone: z1, checkin: {by: '23:50'}}]", "city.yaml: beepers[0] (id 'b1'): checkin: Value error"),
])
def test_config_check_names_file_entry_and_field_of_a_bad_checkin(tmp_path: Path, entry: str, expected: str) -> None:
    (tmp_path / "city.yaml").write_text(f"zones: [{ZONE}]\n{entry}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    assert any(p.startswith(expected) for p in caught.value.problems), caught.value.problems


# -- activity ------------------------------------------------------------------------------


def signal(code: int, qualifier: int = 1, event_id: str = "e1", panel: str = "acct-1", ts: datetime | None = None) -> AlarmSignal:
    return AlarmSignal.model_validate({"event_id": event_id, "panel_id": panel, "ts": (ts or T0).isoformat(),
                                       "qualifier": qualifier, "code": code, "group": 1, "zone": 3})


def beep(kind: str, event_id: str = "b1", device: str = "bp-1", ts: datetime | None = None,
         where: tuple[float, float] | None = None) -> PanicBeep:
    data: dict[str, Any] = {"event_id": event_id, "device_id": device, "ts": (ts or T0).isoformat(), "kind": kind}
    if where:
        data["location"] = {"lat": where[0], "lon": where[1]}
    return PanicBeep.model_validate(data)


@pytest.mark.parametrize("code, active", [
    (401, True), (130, True), (100, True), (120, True), (570, True), (603, True),
    (601, False), (602, False), (641, False), (642, False), (300, False), (301, False), (383, False), (399, False),
])
def test_a_panel_s_activity_is_anything_but_tests_polls_senior_watch_and_troubles(code: int, active: bool) -> None:
    assert is_activity(signal(code)) is active
    assert is_activity(signal(code, qualifier=3)) is active


@pytest.mark.parametrize("kind, active", [
    ("checkin", True), ("panic", True), ("cancel", True), ("test", True), ("heartbeat", False), ("low_battery", False)])
def test_a_beeper_s_activity_is_any_kind_but_heartbeat_and_low_battery(kind: str, active: bool) -> None:
    assert is_activity(beep(kind)) is active


# -- the engine ----------------------------------------------------------------------------

T0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)  # Monday 07:00 in Tigre; check-ins are due by 09:00, alerts at 09:30
DEADLINE = datetime(2026, 12, 7, 12, 30, tzinfo=UTC)
CENTRO = [[-58.585, -34.43], [-58.57, -34.43], [-58.57, -34.42], [-58.585, -34.42]]
NORTE = [[-58.60, -34.42], [-58.585, -34.42], [-58.585, -34.405], [-58.60, -34.405]]
IN_NORTE = (-34.41, -58.59)
SCHEDULE = {"by": "09:00", "grace_min": 30, "days": ["mon", "tue", "wed", "thu", "fri"]}
CITY = City.model_validate({
    "zones": [{"id": "centro", "polygon": CENTRO, "timezone": "America/Argentina/Buenos_Aires"},
              {"id": "norte", "polygon": NORTE, "timezone": "America/Argentina/Buenos_Aires"}],
    "panels": [
        {"id": "acct-1", "zone": "centro", "checkin": SCHEDULE, "address": "Av. Cazón 1234, Tigre",
         "location": {"lat": -34.425, "lon": -58.58}, "occupants": "Rosa (82), lives alone"},
        {"id": "acct-2", "zone": "centro"},
    ],
    "beepers": [{"id": "bp-1", "home_zone": "centro", "checkin": SCHEDULE}, {"id": "bp-2", "home_zone": "centro"}],
})
RULES = Rules.model_validate({"action_plans": {"welfare": [
    {"id": "call-home", "text": "Call the home"}, {"id": "call-contacts", "text": "Call the contacts in order"}]}})


class Zone:
    """The centro zone's state, driven as the evaluate lane drives it."""

    def __init__(self, since: datetime = T0) -> None:
        self.engine = RuleEngine(CITY, RULES)
        self.state = self.engine.new_state("centro", since)
        self.published: list[Alert] = []

    def send(self, event: PanicBeep | AlarmSignal, at: datetime) -> Outcome:
        admitted = zone_event(CITY, event, at)
        assert admitted is not None and admitted.zone_id == "centro"
        return self._keep(self.engine.evaluate(self.state, admitted, at))

    def tick(self, at: datetime) -> Outcome:
        return self._keep(self.engine.tick(self.state, at))

    def _keep(self, outcome: Outcome) -> Outcome:
        self.published += outcome.alerts
        return outcome

    def welfare(self, source: str) -> list[Alert]:
        """The welfare alerts opened for a device."""
        return [a for a in self.published if a.category == "welfare" and a.source.id == source and a.change == "opened"]


def test_no_activity_by_the_deadline_opens_a_priority_3_welfare_alert_with_the_account_and_plan() -> None:
    zone = Zone()
    assert zone.engine.next_deadline(zone.state) == DEADLINE
    assert zone.tick(DEADLINE - timedelta(seconds=1)).alerts == []
    [alert] = [a for a in zone.tick(DEADLINE).alerts if a.source.id == "acct-1"]
    assert (alert.category, alert.priority, alert.status, alert.change) == ("welfare", 3, "open", "opened")
    assert (alert.source.kind, alert.source.id, alert.rule) == ("alarm", "acct-1", "checkin")
    assert alert.address == "Av. Cazón 1234, Tigre"
    assert alert.location is not None and (alert.location.lat, alert.location.lon) == (-34.425, -58.58)
    assert "09:00" in alert.title
    assert [s.id for s in plan_of(CITY, RULES, "centro", alert.category, alert.source.kind, alert.source.id)] == [
        "call-home", "call-contacts"]
    [beeper_alert] = zone.welfare("bp-1")
    assert beeper_alert.source.kind == "beeper" and beeper_alert.address is None


def test_activity_before_the_deadline_opens_nothing() -> None:
    zone = Zone()
    zone.send(signal(401, qualifier=3), T0 + timedelta(hours=1))  # she disarmed the panel at 08:00
    zone.send(beep("checkin"), T0 + timedelta(hours=2))
    assert zone.tick(DEADLINE + timedelta(minutes=1)).alerts == []
    assert zone.engine.next_deadline(zone.state) == DEADLINE + timedelta(days=1)
    [day_panel, day_beeper] = sorted(zone.engine.checkin_days(zone.state), key=lambda d: d.kind)
    assert (day_panel.device_id, day_panel.checked_in_at, day_panel.alert_id) == ("acct-1", T0 + timedelta(hours=1), None)
    assert day_beeper.day == MONDAY and day_beeper.checked_in_at == T0 + timedelta(hours=2)


def test_automatic_signals_are_not_activity() -> None:
    zone = Zone()
    for n, code in enumerate((602, 601, 641, 301, 383)):
        zone.send(signal(code, event_id=f"auto-{n}"), T0 + timedelta(minutes=n))
    zone.send(beep("heartbeat", "hb"), T0)
    zone.send(beep("low_battery", "lb"), T0)
    zone.tick(DEADLINE)
    assert len(zone.welfare("acct-1")) == 2  # the 641's own welfare alert, and the missed check-in's
    assert len(zone.welfare("bp-1")) == 1


def test_yesterday_s_activity_does_not_count_for_today() -> None:
    zone = Zone(since=T0 - timedelta(days=1))
    zone.send(beep("checkin", "yesterday"), T0 - timedelta(hours=12))  # Sunday 19:00
    zone.tick(T0 - timedelta(hours=12))
    zone.tick(DEADLINE)
    assert len(zone.welfare("bp-1")) == 1


def test_activity_later_that_day_updates_the_alert_once_and_the_operator_still_resolves_it() -> None:
    zone = Zone()
    [opened] = [a for a in zone.tick(DEADLINE).alerts if a.source.id == "bp-1"]
    late = DEADLINE + timedelta(minutes=20)
    [updated] = zone.send(beep("checkin", "late"), late).alerts
    assert (updated.alert_id, updated.change, updated.status, updated.version) == (opened.alert_id, "checked_in", "open", 2)
    assert updated.event_ids == ["late"]
    assert zone.send(beep("test", "later"), late + timedelta(minutes=5)).alerts == []  # the first activity is the one
    [day] = [d for d in zone.engine.checkin_days(zone.state) if d.device_id == "bp-1"]
    assert (day.checked_in_at, day.alert_id) == (late, opened.alert_id)


def test_a_checkin_beep_raises_no_alert() -> None:
    zone = Zone()
    outcome = zone.send(beep("checkin"), T0)
    assert outcome.alerts == [] and "checkin beep raises no alert" in " ".join(outcome.notes)


def test_a_checkin_beep_located_elsewhere_is_kept_by_the_home_zone() -> None:
    admitted = zone_event(CITY, beep("checkin", where=IN_NORTE), T0)
    assert admitted is not None and admitted.zone_id == "centro"
    panic = zone_event(CITY, beep("panic", where=IN_NORTE), T0)
    assert panic is not None and panic.zone_id == "norte"


def test_a_deadline_fires_once_even_across_a_saved_and_reloaded_state() -> None:
    zone = Zone()
    first = zone.tick(DEADLINE + timedelta(seconds=1)).alerts
    assert len(first) == 2
    zone.state = ZoneState.from_json(zone.state.to_json())
    for later in (2, 60, 3600):
        assert [a.change for a in zone.tick(DEADLINE + timedelta(seconds=later)).alerts] in ([], ["escalated"] * 2)
    assert len(zone.welfare("acct-1")) == len(zone.welfare("bp-1")) == 1


def test_a_tick_that_comes_late_still_opens_the_day_s_alert() -> None:
    zone = Zone()
    assert len(zone.tick(DEADLINE + timedelta(hours=3)).alerts) == 2  # the worker was down over the deadline


def test_no_alert_on_a_day_off_nor_for_a_deadline_before_the_zone_was_watched() -> None:
    saturday = datetime(2026, 12, 12, 10, 0, tzinfo=UTC)
    zone = Zone(since=saturday)
    assert zone.tick(saturday + timedelta(days=1, hours=5)).alerts == []  # Sunday: not scheduled
    started_late = Zone(since=DEADLINE + timedelta(minutes=5))  # a center started after Monday's deadline
    assert started_late.tick(DEADLINE + timedelta(minutes=6)).alerts == []
    assert len(started_late.tick(DEADLINE + timedelta(days=1)).alerts) == 2  # Tuesday's counts


def test_contact_id_641_and_642_open_priority_3_welfare_alerts() -> None:
    for code in (641, 642):
        zone = Zone()
        [alert] = zone.send(signal(code, panel="acct-2"), T0).alerts
        assert (alert.category, alert.priority, alert.source.id) == ("welfare", 3, "acct-2")


def test_the_day_s_alert_held_back_by_a_silence_is_recorded_without_an_id() -> None:
    rules = Rules.model_validate({"silences": [{
        "id": "works", "match": {"category": "welfare"}, "starts_at": T0.isoformat(),
        "ends_at": (T0 + timedelta(days=1)).isoformat(), "author": "sup", "reason": "maintenance"}]})
    engine = RuleEngine(CITY, rules)
    state = engine.new_state("centro", T0)
    assert engine.tick(state, DEADLINE).alerts == []
    assert {(d.device_id, d.alert_id) for d in engine.checkin_days(state)} == {("acct-1", None), ("bp-1", None)}
