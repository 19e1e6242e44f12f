"""Feeds the `alerts` topic into the Redis views, from the stored offsets or the beginning.

No consumer group: every center process reads every partition, so a process never misses
an alert because another one owns its partition; the views are idempotent (newest version
wins), so reading a snapshot twice changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from center.metrics import CenterMetrics
from center.partitions import partitions_of
from center.views import AlertViews, Consumed
from vocabulary import internal
from vocabulary.events import Alert
from vocabulary.kafka_security import KafkaSecurity
from vocabulary.topics import ALERTS

log = logging.getLogger("centinela.center.feed")
CHECK_EVERY_S = 1.0


class RedisEmptied(Exception):
    """Redis restarted empty (or was flushed) under a running feed."""


class Restarted(Exception):
    """Redis restarted (its last second of writes may be lost): start over from the offsets it holds."""


class AlertFeed:
    def __init__(self, kafka: str, topic: str, views: AlertViews, metrics: CenterMetrics, secret: bytes,
                 security: KafkaSecurity) -> None:
        self._kafka = kafka
        self._secret = secret  # only snapshots authenticated with the internal key reach the views
        self._security = security
        self._topic = topic
        self._views = views
        self._metrics = metrics
        self.consuming = asyncio.Event()

    async def run(self) -> None:
        while True:
            try:
                await self._consume()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # broker or Redis away: resume from the stored offsets
                self.consuming.clear()
                log.warning("alerts feed interrupted (%s: %s); resuming", type(error).__name__, error)
                await asyncio.sleep(1)

    async def _consume(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._kafka,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **self._security.client(),
        )
        await consumer.start()
        try:
            marks = await self._views.marks()
            partitions = await self._partitions(consumer)
            consumer.assign(partitions)
            stored = await self._views.offsets()
            for tp in partitions:
                if tp.partition in stored:
                    consumer.seek(tp, stored[tp.partition])
                else:
                    await consumer.seek_to_beginning(tp)
            log.info(
                "alerts feed reading %s (%d partitions, %s)",
                self._topic,
                len(partitions),
                "resuming from Redis" if stored else "rebuilding from the beginning",
            )
            self.consuming.set()
            kept_offsets = bool(stored)
            loop_time = asyncio.get_running_loop().time
            checked_at = loop_time()
            while True:
                batches = await consumer.getmany(timeout_ms=1000, max_records=500)
                for tp, messages in batches.items():
                    await self._store(tp.partition, messages)
                    kept_offsets = True
                if loop_time() - checked_at >= CHECK_EVERY_S:
                    checked_at = loop_time()
                    if await self._views.marks() != marks:
                        raise Restarted("Redis restarted; resuming from the offsets it holds")
                    if kept_offsets and not await self._views.offsets():
                        raise RedisEmptied("Redis lost the views; rebuilding them from the topic")
        finally:
            await consumer.stop()

    async def _partitions(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        while not (found := await partitions_of(consumer, [self._topic])):
            log.info("waiting for topic %s", self._topic)
            await asyncio.sleep(1)
        return found

    async def _store(self, partition: int, messages: list[ConsumerRecord[bytes, bytes]]) -> None:
        snapshots: list[tuple[Alert, Consumed | None]] = []
        skipped = 0
        for message in messages:
            consumed = Consumed(partition, message.offset)
            alert = self._authentic(message)
            if alert is not None:
                snapshots.append((alert, consumed))
                continue
            skipped += 1
            log.warning("skipping a message that is not an authentic Alert at %s:%d", partition, message.offset)
            await self._views.apply_many(snapshots)
            snapshots = []
            await self._views.advance(consumed)
        if skipped:
            self._metrics.alerts_invalid.inc(skipped)
            await self._views.count_forged(skipped)
        self._metrics.alerts_received.inc(len(messages))
        applied = await self._views.apply_many(snapshots)
        self._metrics.alerts_superseded.inc(applied.count(False))


    def _authentic(self, message: Any) -> Alert | None:
        """The snapshot, when Centinela wrote it; else None (its version is never compared)."""
        if not internal.verify(self._secret, ALERTS, message.key, message.value, message.headers, message.partition):
            return None
        try:
            return Alert.model_validate_json(message.value)
        except Exception:  # whatever its bytes, a message is skipped, never a stop
            return None
