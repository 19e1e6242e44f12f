"""The admit agents: one per input topic, each on its lane's consumer (see `streams.app`).

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
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import TypeVar

import faust
import redis.asyncio as aioredis
from faust.types import EventT

from alert_rules.city import City
from streams import codec
from streams.admit import AdmissionSettings, Received, Refusal, admit, cut_short, rejection
from streams.batching import in_batches
from streams.codec import ZoneBatch
from streams.dedupe import DuplicateMemory
from streams.delivery import Acknowledger
from streams.flow import Backpressure
from streams.zone_state import partition_of
from vocabulary import internal, topics
from vocabulary.events import Rejected, ZoneEvent

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


def install(app: faust.App, city: City, settings: AdmissionSettings, redis_url: str, inputs: Iterable[str],
            secret: bytes) -> None:
    client = aioredis.Redis.from_url(redis_url)
    memory = DuplicateMemory(client, settings.duplicate_memory_s)
    backpressure = Backpressure(client)  # used for camera motion only
    partitions = app.conf.topic_partitions
    zone_events = app.topic(topics.named(topics.ZONE_EVENTS), key_serializer="raw", value_serializer="raw")
    rejected = app.topic(topics.named(topics.REJECTED), key_serializer="raw", value_serializer=codec.REJECTED)

    acknowledger = Acknowledger()

    async def keep(message: Received, record: Rejected) -> Awaitable[object]:
        """Send a rejection; one the broker refuses goes again cut short, and one that still
        fails leaves its batch unacknowledged (retried after a restart), never committed."""
        for attempt in (record, cut_short(record)):
            try:
                return await rejected.send(key=message.key, value=attempt)
            except Exception:  # the agent must go on: the next batches are not to blame
                log.exception("could not send a rejection for %s", message.position)
        failed: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        failed.set_exception(RuntimeError(f"rejection of {message.position} not sent"))
        return failed

    async def handle(stream: faust.StreamT, batch: list[EventT], topic: str) -> None:
        now = datetime.now(UTC)
        admitted: list[tuple[ZoneEvent, Received]] = []
        refused: list[tuple[Received, Refusal]] = []
        for event in batch:
            message = Received(topic, event.message.key, event.message.value,
                               event.message.partition, event.message.offset)
            try:
                admitted.append((admit(message, city, settings, now), message))
            except Refusal as refusal:
                refused.append((message, refusal))
            except Exception:  # no input may kill the worker: keep it, say why, go on
                log.exception("admission failed on %s", message.position)
                refused.append((message, Refusal("malformed", "could not be processed")))
        fresh = await _with_retry(lambda: memory.first_sightings(admitted))
        sent: list[Awaitable[object]] = []
        for zone_batch in per_zone(a for a, keep in zip(admitted, fresh, strict=True) if keep):
            if topic == topics.MOTION:
                backpressure.sending(partition_of(zone_batch.zone_id, partitions))
            key, body = zone_batch.zone_id.encode(), zone_batch.model_dump_json().encode()
            sent.append(await zone_events.send(
                key=key, value=body, headers=internal.headers(secret, topics.ZONE_EVENTS, key, body)))
        sent += [await keep(message, rejection(message, refusal, now, settings)) for message, refusal in refused]
        await acknowledger.after_delivery(stream, batch, sent)
        if refused:
            reasons = Counter(refusal.reason for _, refusal in refused)
            log.info("%s: admitted %d, rejected %s, duplicates %d", topic, len(admitted), dict(reasons),
                     len(admitted) - sum(fresh))

    for name in inputs:
        source = app.topic(topics.named(name), key_serializer="raw", value_serializer="raw")

        async def admit_agent(stream: faust.StreamT, topic: str = name) -> None:
            async for batch in in_batches(stream, BATCH):
                await handle(stream, batch, topic)
                if topic == topics.MOTION:
                    await backpressure.wait()

        app.agent(source, name=f"admit.{name}")(admit_agent)


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
