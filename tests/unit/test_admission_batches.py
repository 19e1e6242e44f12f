"""Admission's I/O logic in memory: one message per zone, rejections kept, acknowledged only once delivered."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Sequence
from datetime import UTC, datetime, timedelta

from streams.admission import Admission
from streams.ports import Consumed
from streams.publish import Publisher
from tests.unit.test_admit import CITY, SETTINGS, beep
from vocabulary import internal

KEY = b"k" * 32


class Everything:
    """The broker's topics, the duplicate memory and the acknowledgements, in memory."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, dict]] = []  # type: ignore[type-arg]
        self.deliveries: list[asyncio.Future[None]] = []
        self.acked: list[int] = []
        self.seen: set[str] = set()

    async def send(self, topic: str, partition: int | None, key: bytes | None, value: bytes,
                   headers: list[tuple[str, bytes]]) -> Awaitable[object]:
        assert bool(internal.verify(KEY, "zone.events", key, value, headers, partition)) == (topic == "zone.events")
        self.sent.append((topic, key, json.loads(value)))
        delivery: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.deliveries.append(delivery)
        return delivery

    async def ack(self, batch: Sequence[Consumed]) -> None:
        self.acked += [m.offset for m in batch]

    async def first_sightings(self, admitted: Sequence[tuple[object, object]]) -> list[bool]:
        fresh = []
        for event, _ in admitted:
            event_id = event.event.event_id  # type: ignore[attr-defined]
            fresh.append(event_id not in self.seen)
            self.seen.add(event_id)
        return fresh


def message(offset: int, value: bytes) -> Consumed:
    return Consumed("devices.beeps", 0, offset, 0, b"bpr-1", value)


def test_a_batch_is_forwarded_per_zone_its_rejections_kept_and_acknowledged_only_once_all_is_delivered() -> None:
    now = datetime.now(UTC).isoformat()
    everything = Everything()
    batch = [message(0, json.dumps(beep(event_id="p1", ts=now)).encode()),
             message(1, b"not json"),
             message(2, json.dumps(beep(event_id="p2", ts=now)).encode()),
             message(3, json.dumps(beep(event_id="p1", ts=now)).encode())]  # p1 again, from elsewhere

    async def run() -> None:
        admission = Admission(CITY, SETTINGS, everything, Publisher(everything.send, KEY, 4),  # type: ignore[arg-type]
                              everything.ack, partitions=4)
        await admission.handle(batch, "devices.beeps")
        await asyncio.sleep(0.01)
        assert everything.acked == [], "nothing is acknowledged before its messages are delivered"
        for delivery in everything.deliveries:
            delivery.set_result(None)
        await asyncio.sleep(0.01)
    asyncio.run(run())
    [(zone_topic, zone_key, zone_batch), (rejected_topic, _, rejected)] = everything.sent
    assert (zone_topic, zone_key, zone_batch["type"]) == ("zone.events", b"tigre-norte", "zone_batch")
    assert [e["beep"]["event_id"] for e in zone_batch["events"]] == ["p1", "p2"], "the duplicate is dropped"
    assert rejected_topic == "events.rejected" and rejected["reason"] == "malformed" and rejected["offset"] == 1
    assert everything.acked == [0, 1, 2, 3]


def test_an_event_a_receiver_got_in_time_is_admitted_however_late_admission_reads_it() -> None:
    received = datetime.now(UTC) - timedelta(minutes=6)  # the workers were 6 minutes behind
    value = json.dumps(beep(event_id="late", ts=(received - timedelta(seconds=1)).isoformat())).encode()
    receipts = internal.receipt_key(KEY)
    at_ms = int(received.timestamp() * 1000)
    genuine = internal.receipt_headers(receipts, "devices.beeps", b"bpr-1", value, at_ms)
    forged = internal.receipt_headers(internal.receipt_key(b"x" * 32), "devices.beeps", b"bpr-1", value,
                                      int(datetime.now(UTC).timestamp() * 1000))
    another_event = internal.receipt_headers(receipts, "devices.beeps", b"bpr-1", value + b" ", at_ms)
    batch = [Consumed("devices.beeps", 0, n, 0, b"bpr-1", value, headers)
             for n, headers in enumerate([genuine, forged, another_event, None])]
    everything = Everything()

    async def run() -> None:
        admission = Admission(CITY, SETTINGS, everything, Publisher(everything.send, KEY, 4),  # type: ignore[arg-type]
                              everything.ack, partitions=4)
        await admission.handle(batch, "devices.beeps")
    asyncio.run(run())
    reasons = [sent["reason"] if topic == "events.rejected" else "admitted" for topic, _, sent in everything.sent]
    assert reasons == ["admitted", "stale", "stale", "stale"], \
        "only a receipt signed for this very event counts; a device cannot set its own"
