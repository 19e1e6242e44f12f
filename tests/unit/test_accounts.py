"""Accounts and action plans (contract section 8): configuration, the engine, what each role sees."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest

from alert_rules.city import City
from alert_rules.engine import ZoneState
from alert_rules.rules import Rules
from center import accounts
from centinela.config import load_config
from tests.unit.test_config import ZONE, problems, write
from tests.unit.test_engine import CENTRO, Center, alarm, beep
from vocabulary.events import Alert, Category

PHONE, PASSCODE = "+54 11 5555 0101", "girasol"

CITY = City.model_validate({
    "zones": [{"id": "centro", "polygon": CENTRO}],
    "beepers": [{"id": "bpr-1", "home_zone": "centro", "wearer": "Ana",
                 "contacts": [{"name": "Jorge", "relation": "brother", "phone": "+54 11 5555 0103"}]}],
    "panels": [
        {"id": "acct-1", "zone": "centro", "supervision_s": 600, "address": "Av. Cazón 1234, Tigre",
         "location": {"lat": -34.4251, "lon": -58.5797}, "occupants": "Rosa (82), lives alone",
         "contacts": [{"name": "Laura", "relation": "daughter", "phone": PHONE}], "passcode": PASSCODE,
         "instructions": "Gate code 4512."},
        {"id": "acct-2", "zone": "centro",
         "action_plans": {"intrusion": [{"id": "call-keyholder", "text": "Call the keyholder"}]}},
    ],
})
RULES = Rules.model_validate({
    "action_plans": {
        "intrusion": [{"id": "call-home", "text": "Call the home; ask for the passcode"},
                      {"id": "dispatch", "text": "Dispatch a patrol"}],
        "panic": [{"id": "call-wearer", "text": "Call the wearer"}],
    },
    "zones": {"norte": {"action_plans": {"intrusion": [{"id": "call-shop", "text": "Call the shop"}]}}},
})


# -- configuration ------------------------------------------------------------------------------

ACCOUNT_PROBLEMS = [
    ("panels: [{id: p1, zone: z1, location: {lat: -134, lon: 0}}]", "panels[0] (id 'p1'): location.lat:"),
    ("panels: [{id: p1, zone: z1, location: {lat: 1}}]", "panels[0] (id 'p1'): location.lon: Field required"),
    ("panels: [{id: p1, zone: z1, contacts: [{name: Laura, phone: call-me}]}]",
     "panels[0] (id 'p1'): contacts.0.phone:"),
    ("panels: [{id: p1, zone: z1, contacts: [{phone: '+54 11 5555 0101'}]}]",
     "panels[0] (id 'p1'): contacts.0.name: Field required"),
    ("panels: [{id: p1, zone: z1, contacts: {name: Laura}}]", "panels[0] (id 'p1'): contacts:"),
    ("panels: [{id: p1, zone: z1, passcode: 42}]", "panels[0] (id 'p1'): passcode:"),
    ("panels: [{id: p1, zone: z1, address: ''}]", "panels[0] (id 'p1'): address:"),
    ("panels: [{id: p1, zone: z1, occupant: Rosa}]", "panels[0] (id 'p1'): occupant: Extra inputs"),
    ("panels: [{id: p1, zone: z1, action_plans: {robbery: [{id: a, text: b}]}}]",
     "panels[0] (id 'p1'): action_plans.robbery.[key]:"),
    ("panels: [{id: p1, zone: z1, action_plans: {fire: [{id: a, text: b}, {id: a, text: c}]}}]",
     "panels[0] (id 'p1'): action_plans.fire: Value error, step id 'a' is used twice"),
    ("beepers: [{id: b1, home_zone: z1, wearer: Ana, contacts: [{name: Jorge, phone: '12'}]}]",
     "beepers[0] (id 'b1'): contacts.0.phone:"),
    ("beepers: [{id: b1, home_zone: z1, passcode: x}]", "beepers[0] (id 'b1'): passcode: Extra inputs"),
    ("rules: {action_plans: {intrusion: []}}", "rules.action_plans.intrusion: List should have at least 1 item"),
    ("rules: {action_plans: {intrusion: [{id: 'bad id', text: x}]}}", "rules.action_plans.intrusion.0.id:"),
    ("rules: {action_plans: {intrusion: [{id: a}]}}", "rules.action_plans.intrusion.0.text: Field required"),
    ("rules: {zones: {z1: {action_plans: {medical: [{id: a, txt: b}]}}}}",
     "rules.zones.z1.action_plans.medical.0.txt: Extra inputs"),
]


@pytest.mark.parametrize(("text", "expected"), ACCOUNT_PROBLEMS)
def test_each_account_problem_names_file_entry_and_field(tmp_path: Path, text: str, expected: str) -> None:
    found = problems(write(tmp_path, **{"city.yaml": f"zones: [{ZONE}]\n{text}"}))
    assert any(p.startswith(f"city.yaml: {expected}") for p in found), found


def test_no_problem_shows_a_phone_or_a_passcode(tmp_path: Path) -> None:
    write(tmp_path, **{"city.yaml": f"zones: [{ZONE}]\npanels: [{{id: p1, zone: z1, passcode: [girasol],"
                                    " contacts: [{name: L, phone: '+54 11 5555 0101', extra: 1}]}]"})
    found = "\n".join(problems(tmp_path))
    assert "passcode" in found and "extra" in found
    assert "girasol" not in found and "5555" not in found


def test_the_example_city_has_accounts_and_plans(example_config: Path) -> None:
    config = load_config(example_config)
    panel = config.city.panel_by_id["acct-1001"]
    assert panel.address and panel.location and panel.contacts and panel.passcode
    assert PASSCODE not in repr(panel) and PHONE not in repr(panel)  # a stray log line shows neither
    assert config.rules.action_plan("tigre-centro", "intrusion")[0].id == "call-home"
    assert config.rules.action_plan("tigre-norte", "intrusion")[0].id == "call-keyholder"


def test_the_most_specific_plan_wins_whole() -> None:
    own = CITY.panel_by_id["acct-2"].action_plans
    assert [s.id for s in RULES.action_plan("centro", "intrusion", own)] == ["call-keyholder"]
    assert [s.id for s in RULES.action_plan("norte", "intrusion")] == ["call-shop"]
    assert [s.id for s in RULES.action_plan("centro", "intrusion")] == ["call-home", "dispatch"]
    assert RULES.action_plan("centro", "fire") == []


# -- the engine ---------------------------------------------------------------------------------

def burglary(center: Center) -> Alert:
    return center.send(alarm("e1", 130)).alerts[-1]


def test_a_panels_alert_carries_its_address_and_location() -> None:
    center = Center(RULES, CITY)
    alert = burglary(center)
    assert alert.address == "Av. Cazón 1234, Tigre"
    assert alert.location is not None and (alert.location.lat, alert.location.lon) == (-34.4251, -58.5797)
    grouped = center.send(alarm("e2", 130, s=5)).alerts[-1]
    assert (grouped.change, grouped.address) == ("grouped", "Av. Cazón 1234, Tigre")
    silent = center.tick(700).alerts[-1]  # acct-1 supervised every 600 s: its silence alert says where too
    assert (silent.category, silent.address) == ("supervision", "Av. Cazón 1234, Tigre")
    assert center.send(alarm("e3", 130, panel="acct-2", s=800)).alerts[-1].address is None


def test_a_step_is_recorded_with_who_and_when_and_changes_no_status() -> None:
    center = Center(RULES, CITY)
    alert = burglary(center)
    [first] = center.act(alert, "step", 10, step="call-home", outcome="no_answer", note="rang 10 times").alerts
    assert (first.change, first.changed_by, first.status, first.version) == ("step", "Operator 1", "open", 2)
    assert [(s.step, s.outcome, s.by, s.note) for s in first.steps] == [
        ("call-home", "no_answer", "Operator 1", "rang 10 times")]
    [second] = center.act(alert, "step", 20, step="call-home", outcome="done").alerts
    assert [s.outcome for s in second.steps] == ["no_answer", "done"] and second.steps[1].note is None
    assert center.tick(61).alerts[-1].change == "escalated"  # a step is not an acknowledgement


def test_a_step_outside_the_plan_or_on_a_resolved_alert_changes_nothing() -> None:
    center = Center(RULES, CITY)
    alert = burglary(center)
    outcome = center.act(alert, "step", 10, step="call-keyholder", outcome="done")  # acct-2's plan, not acct-1's
    assert outcome.alerts == [] and "not in the plan" in outcome.notes[0]
    center.act(alert, "resolve", 20, disposition="real")
    assert center.act(alert, "step", 30, step="call-home", outcome="done").alerts == []


def test_a_reveal_is_recorded_and_carries_no_passcode() -> None:
    center = Center(RULES, CITY)
    alert = burglary(center)
    [revealed] = center.act(alert, "reveal", 10).alerts
    assert (revealed.change, revealed.changed_by, revealed.steps) == ("passcode_revealed", "Operator 1", [])
    assert PASSCODE not in revealed.model_dump_json()


def test_steps_survive_the_saved_state() -> None:
    center = Center(RULES, CITY)
    alert = burglary(center)
    center.act(alert, "step", 10, step="call-home", outcome="failed", note="wrong passcode")
    state = center.states["centro"]
    again = ZoneState.from_json(state.to_json())
    assert again.alerts[alert.alert_id].to_alert() == state.alerts[alert.alert_id].to_alert()


# -- what each role sees ---------------------------------------------------------------------------

def test_operators_see_the_whole_account_and_the_steps_outcomes() -> None:
    center = Center(RULES, CITY)
    alert = burglary(center)
    worked = center.act(alert, "step", 10, step="call-home", outcome="done", note="Rosa gave the passcode").alerts[-1]
    plan = accounts.plan(RULES, CITY, worked, full=True)
    assert "passcode" not in plan.account.model_dump() and PASSCODE not in plan.model_dump_json(), "only a reveal"
    assert plan.account.has_passcode and plan.account.contacts is not None
    assert plan.account.contacts[0].phone == PHONE
    assert [(s.id, s.outcome, s.by, s.note) for s in plan.steps] == [
        ("call-home", "done", "Operator 1", "Rosa gave the passcode"), ("dispatch", None, None, None)]


def test_responders_and_viewers_never_see_a_phone_or_the_passcode() -> None:
    alert = burglary(Center(RULES, CITY))
    plan = accounts.plan(RULES, CITY, alert, full=False)
    body = plan.model_dump_json()
    assert PHONE not in body and PASSCODE not in body
    assert plan.account.contacts is None and PASSCODE not in plan.model_dump_json() and plan.account.has_passcode
    assert (plan.account.address, plan.account.occupants, plan.account.instructions) == (
        "Av. Cazón 1234, Tigre", "Rosa (82), lives alone", "Gate code 4512.")


def test_a_beepers_account_is_its_wearer_and_call_list() -> None:
    alert = Center(RULES, CITY).send(beep("e1", device="bpr-1")).alerts[-1]
    plan = accounts.plan(RULES, CITY, alert, full=True)
    assert (plan.account.wearer, plan.account.contacts[0].name) == ("Ana", "Jorge")  # type: ignore[index]
    assert [s.id for s in plan.steps] == ["call-wearer"]
    assert accounts.plan(RULES, CITY, alert, full=False).account.contacts is None


def test_the_demo_city_has_an_account_for_every_device_and_a_plan_for_every_category() -> None:
    config = load_config(Path(__file__).resolve().parents[2] / "deploy" / "city")
    city, rules = config.city, config.rules
    for panel in city.panels:
        assert panel.address and panel.location and panel.occupants and panel.contacts and panel.passcode, panel.id
        assert city.zone_by_id[panel.zone].contains(panel.location.lat, panel.location.lon), panel.id
    assert all(b.wearer and b.contacts for b in city.beepers)
    for zone in city.zones:
        for category in get_args(Category):
            assert rules.action_plan(zone.id, category), (zone.id, category)
