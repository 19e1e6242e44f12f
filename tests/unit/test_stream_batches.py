"""How a flood stays small on the wire: one zone.events message per zone and batch."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest

from streams.admission import ZONE_BATCH_BYTES, per_zone
from streams.admit import Received, admit
from streams.batching import in_batches
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


class Revocations:
    """The app's on_partitions_revoked signal, as in_batches uses it."""

    def __init__(self) -> None:
        self.handlers: list[Any] = []

    def connect(self, handler: Any) -> None:
        self.handlers.append(handler)

    def disconnect(self, handler: Any) -> None:
        self.handlers.remove(handler)

    async def send(self) -> None:
        for handler in list(self.handlers):
            await handler(set())


class Stream:
    """A Faust stream fed by hand."""

    def __init__(self) -> None:
        self.source: asyncio.Queue[str] = asyncio.Queue()
        self.app = SimpleNamespace(on_partitions_revoked=Revocations())

    def noack(self) -> Stream:
        return self

    async def events(self) -> AsyncIterator[str]:
        while True:
            yield await self.source.get()


def test_events_queued_when_a_rebalance_revokes_the_partitions_are_dropped_to_be_fetched_again() -> None:
    async def run() -> list[list[str]]:
        stream = Stream()
        batches = in_batches(stream, 10)  # type: ignore[arg-type]
        stream.source.put_nowait("e1")
        first = await anext(batches)
        for event in ("e2", "e3"):
            stream.source.put_nowait(event)
        await asyncio.sleep(0.01)  # fetched and queued, not yet handled
        await stream.app.on_partitions_revoked.send()
        stream.source.put_nowait("e2 again")  # the consumer fetches from the committed offset
        second = await anext(batches)
        await batches.aclose()
        assert stream.app.on_partitions_revoked.handlers == []
        return [first, second]

    assert asyncio.run(run()) == [["e1"], ["e2 again"]]
