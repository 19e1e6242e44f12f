"""Admission of one input topic's batches (the lanes' agents feed it, see `streams.faust_adapter`).

Each batch is decided by the pure `streams.admit`, checked against the duplicate
memory, and forwarded (zone.events, one message per zone) or kept (events.rejected);
its offsets are acknowledged once those are delivered: at-least-once, and a
redelivered batch is forwarded again, not dropped. Camera motion waits for evaluation
to catch up before its next batch (`streams.flow`).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import TypeVar

import redis.asyncio as aioredis

from alert_rules.city import City
from streams.admit import AdmissionSettings, Received, Refusal, admit, rejection
from streams.codec import ZoneBatch
from streams.dedupe import DuplicateMemory
from streams.delivery import Acknowledger
from streams.flow import Backpressure
from streams.ports import Ack, Consumed, partition_of
from streams.publish import Publisher
from vocabulary import topics
from vocabulary.events import ZoneEvent

log = logging.getLogger("centinela.admission")
T = TypeVar("T")

BATCH = 500
ZONE_BATCH_BYTES = 1024 * 1024  # keeps a zone.events message far below the broker's request limit


def per_zone(admitted: Iterable[tuple[ZoneEvent, Received]]) -> list[ZoneBatch]:
    """The admitted events grouped by zone, in their order, cut where a message would grow too large."""
    open_batches: dict[str, tuple[ZoneBatch, int]] = {}
    done: list[ZoneBatch] = []
    for zone_event, message in admitted:
        batch, size = open_batches.get(zone_event.zone_id, (None, 0))
        if batch is None or size + len(message.value) > ZONE_BATCH_BYTES:
            if batch is not None:
                done.append(batch)
            batch, size = ZoneBatch(zone_id=zone_event.zone_id, events=[]), 0
        batch.events.append(zone_event)
        open_batches[zone_event.zone_id] = (batch, size + len(message.value))
    return done + [batch for batch, _ in open_batches.values()]


class Admission:
    """Admits batches of one input topic: forwards, rejects, and acknowledges once those are delivered."""

    def __init__(self, city: City, settings: AdmissionSettings, memory: DuplicateMemory, publisher: Publisher,
                 ack: Ack, partitions: int, backpressure: Backpressure | None = None) -> None:
        self.city = city
        self.settings = settings
        self.memory = memory
        self.publisher = publisher
        self.partitions = partitions
        self.backpressure = backpressure  # camera motion only
        self.acknowledger = Acknowledger(ack)

    async def handle(self, batch: Sequence[Consumed], topic: str) -> None:
        """`topic`: the contract's name of the batch's input."""
        now = datetime.now(UTC)
        admitted: list[tuple[ZoneEvent, Received]] = []
        refused: list[tuple[Received, Refusal]] = []
        for consumed in batch:
            message = Received(topic, consumed.key, consumed.value, consumed.partition, consumed.offset)
            try:
                admitted.append((admit(message, self.city, self.settings, now), message))
            except Refusal as refusal:
                refused.append((message, refusal))
            except Exception:  # no input may kill the worker: keep it, say why, go on
                log.exception("admission failed on %s", message.position)
                refused.append((message, Refusal("malformed", "could not be processed")))
        fresh = await _with_retry(lambda: self.memory.first_sightings(admitted))
        sent = []
        for zone_batch in per_zone(a for a, keep in zip(admitted, fresh) if keep):
            if self.backpressure is not None:
                self.backpressure.sending(partition_of(zone_batch.zone_id, self.partitions))
            sent.append(await self.publisher.publish(topics.ZONE_EVENTS, zone_batch.zone_id, zone_batch))
        sent += [
            await self.publisher.publish(topics.REJECTED, message.key,
                                         rejection(message, refusal, now, self.settings))
            for message, refusal in refused
        ]
        await self.acknowledger.after_delivery(batch, sent)
        if refused:
            reasons = Counter(refusal.reason for _, refusal in refused)
            log.info("%s: admitted %d, rejected %s, duplicates %d", topic, len(admitted), dict(reasons),
                     len(admitted) - sum(fresh))


async def _with_retry(call: Callable[[], Awaitable[T]]) -> T:
    """Wait out a Redis outage rather than drop or double a life-safety event."""
    delay, failures = 0.1, 0
    while True:
        try:
            return await call()
        except aioredis.RedisError as error:
            failures += 1
            if failures % 10 == 1:
                log.warning("Redis unavailable (%s); admission waits and retries", error)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
