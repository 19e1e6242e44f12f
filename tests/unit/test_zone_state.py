"""The zones' states in the table: keyed like their events, saved whole, last records alone."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable

import pytest
from aiokafka.partitioner import DefaultPartitioner

from alert_rules.engine import zone_event
from streams.codec import ZoneBatch
from streams.evaluate import TICK_RESEND_S, Evaluator
from streams.zone_state import ZoneStore, dump, partition_of
from tests.unit.test_engine import Center, at, beep
from vocabulary import internal, topics

KEY = b"k" * 32


def test_a_zone_is_on_the_partition_kafka_gives_its_events() -> None:
    kafka = DefaultPartitioner()
    for partitions in (1, 4, 12):
        every = list(range(partitions))
        for zone in ["centro", "norte", "tigre-centro", "zone-a", "z:9"]:
            assert partition_of(zone, partitions) == kafka(zone.encode(), every, every)


class Recorder:
    """A table that logs each changelog record when it is sent and when its delivery is awaited."""

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}
        self.log: list[str] = []

    def send_changelog(self, partition: int | None, key: bytes, value: bytes) -> Awaitable[object]:
        assert partition is None and self.data[key] == value, "the local copy first, then by key"
        self.log.append(f"send {key.decode()}")

        async def delivered() -> None:
            self.log.append(f"delivered {key.decode()}")
        return delivered()


async def nothing(_: object) -> None:
    return None


def saved(partitions: int) -> tuple[Center, Recorder, ZoneStore]:
    center = Center()
    center.send(beep("e1", "panic", "bpr-1", 10))  # an open alert in norte: a deadline in 30 s
    table = Recorder()
    store = ZoneStore(table, partitions)
    store.states.update(center.states)
    store.dirty.update(center.states)
    save = store.take(center.engine)
    assert save.zones == {"centro", "norte"} and not store.dirty
    assert table.log == [], "taking a save writes nothing"
    asyncio.run(store.write(save))
    return center, table, store


def test_the_last_record_of_each_partition_is_written_alone_after_the_others_are_delivered() -> None:
    _, together, _ = saved(partitions=1)  # both zones on partition 0
    assert together.log == ["send centro", "delivered centro", "send norte", "delivered norte"]
    apart = next(p for p in range(2, 20) if partition_of("centro", p) != partition_of("norte", p))
    _, alone, _ = saved(partitions=apart)
    assert alone.log == ["send centro", "send norte", "delivered centro", "delivered norte"]


def test_a_saved_zone_loads_as_it_was_and_its_deadline_is_known() -> None:
    center, table, store = saved(partitions=1)
    store.forget()
    assert store.deadlines == {}
    norte = store.load("norte")
    assert norte is not None and norte is not center.states["norte"]
    assert json.dumps(norte.to_json()) == json.dumps(center.states["norte"].to_json())
    assert table.data[b"norte"] == dump(center.states["norte"])
    _, _, again = saved(partitions=1)
    [alert] = center.states["norte"].alerts.values()
    assert again.deadlines["norte"] == alert.escalate_at


def test_a_state_that_does_not_load_is_reported_and_the_zone_starts_afresh(caplog: pytest.LogCaptureFixture) -> None:
    table = Recorder()
    table.data[b"centro"] = b'{"zone_id": "centro"}'
    store = ZoneStore(table, 1)
    with caplog.at_level(logging.ERROR, logger="centinela.evaluate"):
        assert store.load("centro") is None
    assert "zone centro: its saved state does not load" in caplog.text
    assert store.load("norte") is None


def test_a_zone_is_ticked_when_due_or_not_yet_loaded_and_not_again_until_its_state_is_saved() -> None:
    center, _, store = saved(partitions=1)
    evaluator = Evaluator(center.engine, store, alerts=None, applied=nothing, secret=KEY, tally=Counted())  # type: ignore[arg-type]
    escalation = store.deadlines["norte"]
    assert evaluator.due_zones(["centro", "norte", "sur"], escalation - 1) == ["sur"]  # sur: never loaded here
    assert evaluator.due_zones(["centro", "norte", "sur"], escalation) == ["norte"]
    assert evaluator.due_zones(["norte", "sur"], escalation + TICK_RESEND_S - 2) == []
    assert evaluator.due_zones(["norte", "sur"], escalation + TICK_RESEND_S + 1) == ["norte", "sur"]


def test_a_save_that_fails_leaves_its_zones_and_events_for_the_next_one() -> None:
    center, _, store = saved(partitions=1)
    store.dirty.update(["centro", "norte"])

    async def broken() -> None:
        raise ConnectionError("broker gone")

    store.table.send_changelog = lambda *_: broken()  # type: ignore[method-assign]
    evaluator = Evaluator(center.engine, store, alerts=None, applied=nothing, secret=KEY, tally=Counted())  # type: ignore[arg-type]
    events: list = [object(), object()]  # type: ignore[type-arg]

    async def attempt() -> None:
        await evaluator.writing.acquire()
        await evaluator._write(store.take(center.engine), [], events)

    asyncio.run(attempt())
    assert store.dirty == {"centro", "norte"} and evaluator.unsaved == events
    assert not evaluator.writing.locked()


class Counted:
    def __init__(self) -> None:
        self.forged_counts: list[int] = []
        self.held: dict[str, int] = {}

    async def forged(self, count: int) -> None:
        self.forged_counts.append(count)

    async def held_back(self, counts: dict[str, int]) -> None:
        self.held.update(counts)


class Message:
    def __init__(self, key: bytes, value: bytes, headers: list[tuple[str, bytes]]) -> None:
        self.key, self.value, self.headers = key, value, headers


class Event:
    def __init__(self, message: Message) -> None:
        self.message = message


class Sent:
    def __init__(self) -> None:
        self.alerts: list[tuple[bytes, bytes, list[tuple[str, bytes]]]] = []

    async def send(self, key: bytes, value: bytes, headers: list[tuple[str, bytes]]) -> Awaitable[object]:
        self.alerts.append((key, value, headers))
        delivered: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        delivered.set_result(None)
        return delivered


def signed(key: bytes, value: bytes, secret: bytes = KEY) -> Event:
    return Event(Message(key, value, internal.headers(secret, topics.ZONE_EVENTS, key, value)))


def test_only_authenticated_decodable_zone_events_are_applied_and_the_rest_counted() -> None:
    center, _, store = saved(partitions=1)
    tally = Counted()
    sent = Sent()
    evaluator = Evaluator(center.engine, store, alerts=sent, applied=nothing, secret=KEY, tally=tally)  # type: ignore[arg-type]
    zone_batch = ZoneBatch(zone_id="norte", events=[
        zone_event(center.engine.city, beep("e9", "panic", "bpr-2", 20), at(20))])
    body = zone_batch.model_dump_json().encode()
    batch = [
        Event(Message(b"norte", body, [])),  # no MAC: a device pretending to be admission
        signed(b"norte", body, secret=b"x" * 32),  # a MAC under another key
        Event(Message(b"norte", body, [(internal.HEADER, b"0" * 64)])),
        signed(b"norte", b"[" * 100_000),  # authenticated, but nested past the parser's depth
        signed(b"norte", b"\xff\xfe"),
        signed(b"sur", body),  # the MAC covers the key: moved to another key it fails
        signed(b"norte", body),
    ]
    batch[5].message.key = b"centro"
    asyncio.run(evaluator._apply(batch))  # type: ignore[arg-type]
    assert tally.forged_counts == [6]
    assert len(sent.alerts) == 1, "the one authentic event is applied"
    key, value, headers = sent.alerts[0]
    assert internal.verify(KEY, topics.ALERTS, key, value, headers)
