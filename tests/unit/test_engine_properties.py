"""Invariants of the engine over generated event streams (hypothesis)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from alert_rules.rules import Rules
from tests.unit.test_engine import Center, alarm, beep, motion
from vocabulary.events import AlarmSignal, MotionEvent, PanicBeep

CODES = [100, 110, 121, 130, 144, 301, 383, 401, 602, 999]
P1_CODES = [100, 110, 121]
SILENCE = Rules.model_validate({"silences": [{
    "id": "s", "match": {"source": "acct-2"}, "starts_at": "2026-11-21T14:00:00Z",
    "ends_at": "2026-11-21T16:00:00Z", "author": "a", "reason": "r"}],
    "motion": [{"id": "any", "min_area_pct": 30}],
    "limits": {"max_alerts": 10, "event_memory": 100}})


@st.composite
def streams(draw: Any, size: int = 40) -> list[tuple[PanicBeep | AlarmSignal | MotionEvent, float]]:
    count = draw(st.integers(1, size))
    gaps = draw(st.lists(st.floats(0, 400), min_size=count, max_size=count))
    events: list[tuple[PanicBeep | AlarmSignal | MotionEvent, float]] = []
    s = 0.0
    for n, gap in enumerate(gaps):
        s += gap
        kind = draw(st.sampled_from(["beep", "alarm", "motion"]))
        if kind == "beep":
            event: Any = beep(f"e{n}", draw(st.sampled_from(["panic", "cancel", "test", "low_battery"])),
                              draw(st.sampled_from(["bpr-1", "bpr-2"])), s)
        elif kind == "alarm":
            event = alarm(f"e{n}", draw(st.sampled_from(CODES)), draw(st.sampled_from([1, 3, 6])),
                          draw(st.sampled_from(["acct-1", "acct-2"])), s)
        else:
            event = motion(f"e{n}", draw(st.sampled_from(["cam-1", "cam-2"])), s,
                           draw(st.sampled_from(["start", "update", "end"])), draw(st.floats(0, 100)),
                           f"mo{n // 3}")
        events.append((event, s))
    return events


def run(events: list[tuple[Any, float]], twice: bool = False) -> Center:
    center = Center(SILENCE)
    for event, s in events:
        for zone in center.states:
            center.tick(s, zone)
        center.send(event, s)
        if twice:
            center.send(event, s)
    return center


def states(center: Center) -> str:
    return json.dumps({z: s.to_json() for z, s in center.states.items()}, sort_keys=True)


@settings(max_examples=30, deadline=None)
@given(streams(), st.sampled_from([*P1_CODES, "panic"]), st.sampled_from(["acct-1", "acct-2", "bpr-1"]))
def test_a_priority_1_signal_always_leaves_an_open_alert_unless_silenced(
        history: list[tuple[Any, float]], what: Any, source: str) -> None:
    center = run(history)
    s = history[-1][1] + 1
    event: Any = beep("last", "panic", "bpr-1", s) if what == "panic" or source == "bpr-1" else \
        alarm("last", what, 1, source, s)
    outcome = center.send(event, s)
    silenced = any(h.by.startswith("silence:") for h in outcome.held_back)
    assert silenced == (source == "acct-2" and what != "panic" and s < 7200)
    if not silenced:
        [alert] = [a for a in outcome.alerts if "last" in a.event_ids and a.category != "supervision"]
        assert alert.priority == 1 and alert.status != "resolved"
        assert alert.alert_id in center.states[alert.zone_id].alerts


@settings(max_examples=30, deadline=None)
@given(streams())
def test_a_restore_never_opens_an_alert(history: list[tuple[Any, float]]) -> None:
    center = run(history)
    s = history[-1][1]
    for code in CODES:
        outcome = center.send(alarm(f"r{code}", code, 3, "acct-1", s), s)
        assert all(a.change != "opened" for a in outcome.alerts)


@settings(max_examples=30, deadline=None)
@given(streams())
def test_applying_every_event_twice_changes_nothing(history: list[tuple[Any, float]]) -> None:
    once, twice = run(history), run(history, twice=True)
    assert states(once) == states(twice)
    assert [a.model_dump() for a in once.published] == [a.model_dump() for a in twice.published]


@settings(max_examples=20, deadline=None)
@given(streams())
def test_alert_ids_are_stable_across_runs(history: list[tuple[Any, float]]) -> None:
    assert [a.alert_id for a in run(history).published] == [a.alert_id for a in run(history).published]


@settings(max_examples=8, deadline=None)
@given(streams(size=250))
def test_zone_state_stays_bounded(history: list[tuple[Any, float]]) -> None:
    center = run(history)
    for state in center.states.values():
        assert len(state.alerts) <= 10 and len(state.seen) <= 100 and len(state.groups) <= len(state.alerts)
        assert len(state.episodes) <= 256 and len(state.held_back) <= 256
        assert all(len(a.event_ids) <= 50 for a in state.alerts.values())
        assert all(len(h.event_ids) <= 20 for h in state.held_back.values())


@settings(max_examples=30, deadline=None)
@given(streams(), st.lists(st.sampled_from(["ack", "dispatch", "resolve", "none"]), min_size=40, max_size=40))
def test_an_alert_record_never_changes_without_a_new_version(history: list[tuple[Any, float]],
                                                             actions: list[str]) -> None:
    """What lets the evaluate lane re-encode only the alerts whose version moved (`streams.evaluate.StateEncoder`)."""
    from streams.evaluate import StateEncoder

    center, encoder = Center(SILENCE), StateEncoder()
    encoded: dict[tuple[str, int], str] = {}

    def unchanged_unless_versioned() -> None:
        for state in center.states.values():
            for record in state.alerts.values():
                now = json.dumps(record.to_json(), sort_keys=True)
                was = json.loads(encoded.setdefault((record.alert_id, record.version), now))
                changed = {k for k, v in json.loads(now).items() if was[k] != v}
                assert not changed, f"{record.alert_id} v{record.version} changed {changed} without a new version"
            assert json.loads(encoder.dump(state)) == json.loads(json.dumps(state.to_json()))

    for (event, s), action in zip(history, actions, strict=False):
        for zone in center.states:
            center.tick(s, zone)
        unchanged_unless_versioned()
        center.send(event, s)
        unchanged_unless_versioned()
        open_alerts = [a for state in center.states.values() for a in state.alerts.values()]
        if action != "none" and open_alerts:
            fields = {"dispatch": {"responder": "Móvil 3"}, "resolve": {"disposition": "real", "note": "n"}}
            center.act(open_alerts[0].to_alert(), action, s, **fields.get(action, {}))
            unchanged_unless_versioned()
