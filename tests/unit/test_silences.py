"""Supervisors' silences added and ended at run time: held in the zone's state, checked like configured ones."""

from __future__ import annotations

import json
from typing import Any

import pytest

from alert_rules.engine import MAX_RUNTIME_SILENCES, Outcome, ZoneState
from alert_rules.rules import Rules, SilenceCommand
from streams.codec import Tick, decode_zone_items
from streams.evaluate import apply, held_back_by_silences
from tests.unit.test_engine import Center, alarm, at


def command(command_id: str, action: str = "add", s: float = 0, *, silence_id: str = "rt-1", zone: str = "centro",
            starts: float = 0, ends: float = 3600, **match: Any) -> SilenceCommand:
    return SilenceCommand.model_validate({
        "silence_command": command_id, "zone_id": zone, "action": action, "at": at(s).isoformat(),
        "silence": {"id": silence_id, "match": {"zone": [zone], **match}, "starts_at": at(starts).isoformat(),
                    "ends_at": at(ends).isoformat(), "author": "Supervisor", "reason": "works on the panel"}})


def silence(center: Center, cmd: SilenceCommand) -> Outcome:
    return center.engine.silence(center.states[cmd.zone_id], cmd)


def test_a_run_time_silence_holds_back_a_matching_signal_and_records_it() -> None:
    center = Center()
    silence(center, command("c1", category="intrusion"))
    out = center.send(alarm("e1", 130, s=10))  # intrusion
    assert out.alerts == []
    assert [(h.by, h.event_id, h.source_id) for h in out.held_back] == [("silence:rt-1", "e1", "acct-1")]
    held = center.states["centro"].held_back["silence:rt-1"]
    assert (held.count, held.event_ids) == (1, ["e1"])
    fire = center.send(alarm("e2", 110, s=20))  # another category still opens
    assert [a.category for a in fire.alerts] == ["fire"]
    assert silence(center, command("c1n", zone="norte", category="intrusion")).notes  # other zones are apart
    assert center.states["norte"].silences and "rt-1" in center.states["centro"].silences


def test_it_holds_back_only_between_starts_at_and_ends_at() -> None:
    center = Center()
    silence(center, command("c1", starts=100, ends=200, source="acct-1"))
    assert [a.category for a in center.send(alarm("e1", 130, s=50)).alerts] == ["intrusion"]
    assert center.send(alarm("e2", 110, s=150)).held_back  # any category of acct-1 while active
    assert center.send(alarm("e3", 110, s=250)).alerts


def test_an_ended_silence_no_longer_holds_back() -> None:
    center = Center()
    silence(center, command("c1", category="intrusion"))
    assert center.send(alarm("e1", 130, s=10)).held_back
    out = silence(center, command("c2", "end", s=20, category="intrusion"))
    assert out.notes == ["silence rt-1 ended by Supervisor"]
    assert center.states["centro"].silences == {}
    opened = center.send(alarm("e2", 130, s=30))
    assert ([a.category for a in opened.alerts], opened.held_back) == (["intrusion"], [])
    assert center.states["centro"].held_back["silence:rt-1"].count == 1  # the record stays


def test_commands_are_idempotent_by_id() -> None:
    center = Center()
    silence(center, command("c1", category="intrusion"))
    silence(center, command("c2", "end", s=10, category="intrusion"))
    again = silence(center, command("c1", s=20, category="intrusion"))  # a replay of the add
    assert again.duplicate and center.states["centro"].silences == {}
    silence(center, command("c3", s=30, category="intrusion"))
    before = center.states["centro"].to_json()
    assert silence(center, command("c3", s=40, category="intrusion")).duplicate
    assert center.states["centro"].to_json() == before


def test_pruned_once_it_ends() -> None:
    center = Center()
    silence(center, command("c1", ends=100, category="intrusion"))
    silence(center, command("c2", silence_id="rt-2", ends=1000, category="fire"))
    center.tick(150)
    assert list(center.states["centro"].silences) == ["rt-2"]
    center.send(alarm("e1", 130, s=1100))
    assert center.states["centro"].silences == {}
    late = silence(center, command("c3", s=1200, silence_id="rt-3", ends=1150, category="fire"))
    assert late.notes == ["silence rt-3 has already ended: not added"] and center.states["centro"].silences == {}


def test_bounded_per_zone() -> None:
    center = Center()
    for i in range(MAX_RUNTIME_SILENCES + 5):
        silence(center, command(f"c{i}", silence_id=f"rt-{i}", category="intrusion"))
    assert len(center.states["centro"].silences) == MAX_RUNTIME_SILENCES


def test_state_round_trips_through_json_and_old_states_still_load() -> None:
    center = Center()
    silence(center, command("c1", category="intrusion", priority=[2, 3]))
    state = center.states["centro"]
    copy = ZoneState.from_json(json.loads(json.dumps(state.to_json())))
    assert copy.to_json() == state.to_json() and copy.silences == state.silences
    old = state.to_json()
    del old["silences"]
    assert ZoneState.from_json(old).silences == {}


def test_configured_silences_behave_as_before() -> None:
    rules = Rules.model_validate({"silences": [{
        "id": "cfg", "match": {"source": "acct-1"}, "starts_at": at(0).isoformat(), "ends_at": at(100).isoformat(),
        "author": "Supervisor", "reason": "maintenance"}]})
    center = Center(rules)
    silence(center, command("c1", category="fire"))
    assert [h.by for h in center.send(alarm("e1", 130, s=10)).held_back] == ["silence:cfg"]
    assert [h.by for h in center.send(alarm("e2", 110, s=200)).held_back] == ["silence:rt-1"]


def test_a_command_for_another_zone_is_refused() -> None:
    center = Center()
    with pytest.raises(ValueError):
        center.engine.silence(center.states["norte"], command("c1", category="fire"))


def test_zone_events_carry_silence_commands_to_the_engine() -> None:
    cmd = command("c1", category="intrusion")
    [decoded] = decode_zone_items(cmd.model_dump_json().encode())
    assert isinstance(decoded, SilenceCommand) and decoded == cmd
    assert decode_zone_items(Tick(tick="centro", at=at(0)).model_dump_json().encode()) == [Tick(tick="centro", at=at(0))]
    center = Center()
    apply(center.engine, center.states["centro"], decoded)
    assert center.send(alarm("e1", 130, s=10)).held_back


def test_what_a_silence_held_back_is_reported_as_absolute_counts_per_zone() -> None:
    center = Center()
    silence(center, command("c1", category="intrusion"))
    first = center.send(alarm("e1", 130, s=10))
    assert held_back_by_silences(first, "centro") == {"rt-1|centro": 1}
    second = center.send(alarm("e2", 131, s=20))
    assert held_back_by_silences(second, "centro") == {"rt-1|centro": 2}
    assert held_back_by_silences(center.send(alarm("e3", 110, s=30)), "centro") == {}  # fire: not held back
