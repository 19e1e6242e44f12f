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
from collections.abc import Awaitable, Iterable, Sequence
from datetime import UTC, datetime

import redis.asyncio as aioredis

from alert_rules.city import City
from alert_rules.engine import RuleEngine
from streams.admit import AdmissionSettings, Received, Refusal, admit, cut_short, rejection
from streams.codec import ZoneBatch
from streams.dedupe import DuplicateMemory
from streams.delivery import Acknowledger
from streams.flow import Backpressure
from streams.ports import Ack, Consumed, partition_of
from streams.publish import Publisher
from streams.retry import patiently
from streams.zone_records import ZoneRecords
from vocabulary import internal, progress, topics
from vocabulary.events import Rejected, ZoneEvent

log = logging.getLogger("centinela.admission")

BATCH = 500
ZONE_BATCH_BYTES = 1024 * 1024  # keeps a zone.events message far below the broker's request limit


def per_zone(admitted: Iterable[tuple[ZoneEvent, Received]]) -> list[ZoneBatch]:
    """The admitted events grouped by zone, in their order, cut where a message would grow too large."""
    open_batches: dict[str, tuple[ZoneBatch, int]] = {}
    done: list[ZoneBatch] = []
    for zone_event, message in admitted:
        batch, size = open_batches.get(zone_event.zone_id, (None, 0))
        if batch is None or size + len(message.value or b"") > ZONE_BATCH_BYTES:
            if batch is not None:
                done.append(batch)
            batch, size = ZoneBatch(zone_id=zone_event.zone_id, events=[]), 0
        batch.events.append(zone_event)
        open_batches[zone_event.zone_id] = (batch, size + len(message.value or b""))
    return done + [batch for batch, _ in open_batches.values()]


class MotionFilter:
    """Drops camera motion that cannot change its zone, counted per zone in DROPPED_KEY.

    The engine tells from the rules alone whether motion can matter (a motion rule that
    matches it apart from the episode's duration, or an episode's end); whether it would
    attach to an unresolved alert needs the zone's state: evaluation adds a zone to the set
    `ZoneRecords.attaching` before it publishes the alert that motion would attach to, and
    this reads the set once per batch, so motion sent after such an alert is seen is kept.
    """

    DROPPED_KEY = "centinela:stats:motion-dropped"

    def __init__(self, engine: RuleEngine, records: ZoneRecords, client: aioredis.Redis) -> None:
        self.engine = engine
        self.records = records
        self.client = client

    async def keep(self, admitted: list[tuple[ZoneEvent, Received]], now: datetime) -> list[tuple[ZoneEvent, Received]]:
        if not any(event.motion is not None for event, _ in admitted):
            return admitted
        try:
            attaching = await self.records.attaching()
        except aioredis.RedisError as error:  # unknown: keep all motion rather than drop what matters
            log.warning("could not read which zones attach motion (%s); motion is kept", error)
            return admitted
        kept = [(event, message) for event, message in admitted
                if event.motion is None
                or self.engine.motion_matters(event.zone_id, event.motion, now, event.zone_id in attaching)]
        if len(kept) < len(admitted):
            dropped = Counter(event.zone_id for event, _ in admitted) - Counter(event.zone_id for event, _ in kept)
            try:
                async with self.client.pipeline(transaction=False) as pipe:
                    for zone_id, count in dropped.items():
                        pipe.hincrby(self.DROPPED_KEY, zone_id, count)
                    await pipe.execute()
            except aioredis.RedisError as error:
                log.warning("could not count dropped motion: %s", error)
        return kept


class Outcomes:
    """Counts each input's outcomes (admitted, duplicate, or the rejection reason) for the center's
    /metrics (`centinela_events_total`, read from Redis).

    Counting is kept off admission's path: `add` only tallies in memory, and the lane writes the
    tallies every FLUSH_S (`flush`), one round trip for all its inputs. Awaited per batch, the
    count cost a Redis round trip of 2 to 6 ms under load, in front of the next panic.
    A lane killed outright loses at most its last FLUSH_S of counts, never an event.
    """

    FLUSH_S = 0.5

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self.pending: Counter[str] = Counter()  # Redis hash field -> count not yet written

    def add(self, topic: str, counts: Counter[str]) -> None:
        for outcome, count in counts.items():
            if count:
                self.pending[progress.counter_field(topic, outcome)] += count

    async def flush(self) -> None:
        taken, self.pending = self.pending, Counter()
        if not taken:
            return
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for field, count in taken.items():
                    pipe.hincrby(progress.EVENTS, field, count)
                await pipe.execute()
        except aioredis.RedisError as error:  # a metric is not worth holding back admission: counted next time
            log.warning("could not write the outcome counts: %s", type(error).__name__)
            self.pending.update(taken)


class Admission:
    """Admits batches of one input topic: forwards, rejects, and acknowledges once those are delivered."""

    def __init__(self, city: City, settings: AdmissionSettings, memory: DuplicateMemory, publisher: Publisher,
                 ack: Ack, partitions: int, backpressure: Backpressure | None = None,
                 motion_filter: MotionFilter | None = None, outcomes: Outcomes | None = None) -> None:
        self.city = city
        self.settings = settings
        self.memory = memory
        self.publisher = publisher
        self.partitions = partitions
        self.backpressure = backpressure  # camera motion only
        self.motion_filter = motion_filter  # camera motion only
        self.acknowledger = Acknowledger(ack)
        self.outcomes = outcomes
        self.receipts = internal.receipt_key(publisher.secret)

    def receipt_time(self, topic: str, consumed: Consumed) -> datetime | None:
        """When a receiver got the event, by its receipt; None without one (a device that publishes itself)."""
        at_ms = internal.received_at_ms(self.receipts, topic, consumed.key, consumed.value, consumed.headers)
        return None if at_ms is None else datetime.fromtimestamp(at_ms / 1000, UTC)

    async def keep(self, message: Received, record: Rejected) -> Awaitable[object]:
        """Send a rejection; one the broker refuses goes again cut short, and one that still
        fails leaves its batch unacknowledged (retried after a restart), never committed."""
        for attempt in (record, cut_short(record)):
            try:
                return await self.publisher.publish(topics.REJECTED, message.key, attempt)
            except Exception:  # the agent must go on: the next batches are not to blame
                log.exception("could not send a rejection for %s", message.position)
        failed: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        failed.set_exception(RuntimeError(f"rejection of {message.position} not sent"))
        return failed

    async def handle(self, batch: Sequence[Consumed], topic: str) -> None:
        """`topic`: the contract's name of the batch's input."""
        now = datetime.now(UTC)
        admitted: list[tuple[ZoneEvent, Received]] = []
        refused: list[tuple[Received, Refusal]] = []
        for consumed in batch:
            message = Received(topic, consumed.key, consumed.value, consumed.partition, consumed.offset,
                               self.receipt_time(topic, consumed))
            try:
                admitted.append((admit(message, self.city, self.settings, now), message))
            except Refusal as refusal:
                refused.append((message, refusal))
            except Exception:  # no input may kill the worker: keep it, say why, go on
                log.exception("admission failed on %s", message.position)
                refused.append((message, Refusal("malformed", "could not be processed")))
        if self.motion_filter is not None:
            admitted = await self.motion_filter.keep(admitted, now)
        fresh = await patiently(lambda: self.memory.first_sightings(admitted), "admission")
        sent = []
        for zone_batch in per_zone(a for a, keep in zip(admitted, fresh, strict=True) if keep):
            if self.backpressure is not None:
                self.backpressure.sending(partition_of(zone_batch.zone_id, self.partitions))
            sent.append(await self.publisher.publish(topics.ZONE_EVENTS, zone_batch.zone_id, zone_batch))
        sent += [await self.keep(message, rejection(message, refusal, now, self.settings))
                 for message, refusal in refused]
        await self.acknowledger.after_delivery(batch, sent)
        reasons = Counter(refusal.reason for _, refusal in refused)
        if self.outcomes is not None:
            admitted_now = sum(fresh)
            outcomes = reasons + Counter({"admitted": admitted_now, "duplicate": len(fresh) - admitted_now})
            self.outcomes.add(topic, outcomes)
        if refused:
            log.info("%s: admitted %d, rejected %s, duplicates %d", topic, len(admitted), dict(reasons),
                     len(admitted) - sum(fresh))
