"""How a flood stays small on the wire: one zone.events message per zone and batch."""

from __future__ import annotations

import json

import pytest

from streams.admission import ZONE_BATCH_BYTES, per_zone
from streams.admit import Received, admit
from streams.codec import ZoneBatch, decode_zone_items
from tests.unit.test_admit import CITY, NOW, SETTINGS, alarm, motion


def admitted(topic: str, value: dict[str, object], padding: int = 0) -> tuple[object, Received]:
    raw = json.dumps(value).encode() + b" " * padding
    message = Received(topic, None, raw)
    return admit(message, CITY, SETTINGS, NOW), message


def test_admitted_events_travel_one_message_per_zone_in_their_order() -> None:
    events = [
        admitted("cameras.motion", motion(event_id="m1")),       # tigre-norte
        admitted("devices.alarms", alarm(event_id="a1")),        # tigre-centro
        admitted("cameras.motion", motion(event_id="m2")),       # tigre-norte
    ]
    batches = per_zone(events)  # type: ignore[arg-type]
    assert [(b.zone_id, [e.event.event_id for e in b.events]) for b in batches] == [
        ("tigre-norte", ["m1", "m2"]), ("tigre-centro", ["a1"])]
    again = decode_zone_items(batches[0].model_dump_json().encode())
    assert again == batches[0].events


def test_a_zone_batch_is_cut_before_it_grows_too_large() -> None:
    padding = SETTINGS.max_bytes - 300
    events = [admitted("cameras.motion", motion(event_id=f"m{i}"), padding) for i in range(600)]
    batches = per_zone(events)  # type: ignore[arg-type]
    sizes = {e.event.event_id: len(m.value) for e, m in events}  # type: ignore[attr-defined]
    assert len(batches) > 1
    assert all(sum(sizes[e.event.event_id] for e in b.events) <= ZONE_BATCH_BYTES for b in batches)
    assert [e.event.event_id for b in batches for e in b.events] == [f"m{i}" for i in range(600)]


def test_an_unknown_zone_events_message_is_an_error_not_an_empty_batch() -> None:
    with pytest.raises(ValueError):
        decode_zone_items(b'{"zone_id": "tigre-centro"}')
    assert isinstance(ZoneBatch.model_validate({"zone_id": "tigre-centro", "events": []}), ZoneBatch)
