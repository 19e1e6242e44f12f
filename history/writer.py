"""`centinela history`: every verified version read from `alerts`, kept in PostgreSQL.

The writers of one installation share the consumer group `centinela-history` (under the topic
prefix). Each batch is stored in one transaction and its offsets are committed to Kafka only
after that transaction commits: killed before the commit, the batch is read again; killed after
it, the batch is read again and every version is already there (ON CONFLICT DO NOTHING). So a
SIGKILL at any moment loses nothing and doubles nothing. Only messages that carry the
installation's MAC (contract section 9) and are Alerts are stored; the others are counted.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any

import psycopg
from aiokafka import AIOKafkaConsumer, TopicPartition
from redis.asyncio import Redis

from history import progress
from history.schema import migrate_async
from history.store import VersionRow, store_async, version_row
from vocabulary import internal, topics
from vocabulary.events import Alert
from vocabulary.kafka_security import KafkaSecurity
from vocabulary.redaction import redacted

log = logging.getLogger("centinela.history")
BATCH = 2000
RETRY_S = 1.0


def authentic(secret: bytes, message: Any) -> VersionRow | None:
    """The message's row when Centinela wrote it, for the partition it was read from, and it is an Alert."""
    if internal.verify(secret, topics.ALERTS, message.key, message.value, message.headers, message.partition) is None:
        return None
    try:
        return version_row(Alert.model_validate_json(message.value), message.value.decode())
    except Exception:  # whatever its bytes, a message is counted, never a stop
        return None


@dataclass
class Counts:
    read: int = 0
    stored: int = 0
    forged: int = 0
    stored_at: float = 0.0
    waiting: int = 0
    problem: str = "starting"
    since: float = field(default_factory=time.time)


class HistoryWriter:
    def __init__(self, kafka: str, store_url: str, secret: bytes, security: KafkaSecurity,
                 redis_url: str | None = None) -> None:
        self.kafka = kafka
        self.store_url = store_url
        self.secret = secret
        self.security = security
        self.redis = Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=2) if redis_url else None
        self.counts = Counts()
        self.handled: dict[TopicPartition, int] = {}  # next offset to handle, per partition
        self.key = progress.WRITER.format(host=socket.gethostname(), pid=os.getpid())

    async def run(self) -> None:
        reporter = asyncio.create_task(self._report_forever())
        try:
            while True:
                try:
                    await self._write()
                except asyncio.CancelledError:
                    raise
                except Exception as error:  # broker or store away: start over from the committed offsets
                    self.counts.problem = type(error).__name__  # /healthz needs no token: no detail there
                    log.warning("history writer interrupted (%s: %s); resuming from the committed offsets",
                                type(error).__name__, redacted(error))
                    await asyncio.sleep(RETRY_S)
        finally:
            reporter.cancel()
            if self.redis is not None:
                await self.redis.aclose()

    async def _write(self) -> None:
        async with await psycopg.AsyncConnection.connect(self.store_url, connect_timeout=5) as connection:
            await migrate_async(connection)
            self.handled.clear()
            consumer = AIOKafkaConsumer(
                topics.named(topics.ALERTS), bootstrap_servers=self.kafka, group_id=progress.writer_group(),
                enable_auto_commit=False, auto_offset_reset="earliest", **self.security.client())
            await consumer.start()
            try:
                self.counts.problem = ""
                log.info("history writer reading %s as group %s", topics.named(topics.ALERTS), progress.writer_group())
                while True:
                    batches = await consumer.getmany(timeout_ms=1000, max_records=BATCH)
                    if batches:
                        await self._store(connection, consumer, batches)
                    self.counts.waiting = _waiting(consumer, self.handled)
            finally:
                await consumer.stop()

    async def _store(self, connection: psycopg.AsyncConnection, consumer: AIOKafkaConsumer,
                     batches: dict[TopicPartition, list[Any]]) -> None:
        rows: list[VersionRow] = []
        forged = 0
        for tp, messages in batches.items():
            for message in messages:
                row = authentic(self.secret, message)
                if row is None:
                    forged += 1
                    log.warning("ignoring a message that is not an authentic Alert at %s[%d]@%d",
                                tp.topic, tp.partition, message.offset)
                else:
                    rows.append(row)
        added = 0
        if rows:
            async with connection.transaction():
                added = await store_async(connection, rows)
        offsets = {tp: messages[-1].offset + 1 for tp, messages in batches.items()}
        await consumer.commit(offsets)
        self.handled.update(offsets)
        self.counts.read += sum(len(m) for m in batches.values())
        self.counts.stored += added
        self.counts.forged += forged
        self.counts.stored_at = time.time()

    def record(self, now: float) -> progress.WriterRecord:
        c = self.counts
        return progress.WriterRecord(host=socket.gethostname(), pid=os.getpid(), since=c.since, checked_at=now,
                                     stored_at=c.stored_at, waiting=c.waiting, read=c.read, stored=c.stored,
                                     forged=c.forged, problem=c.problem)

    async def _report_forever(self) -> None:
        if self.redis is None:
            return
        while True:
            try:
                async with self.redis.pipeline(transaction=True) as pipe:
                    pipe.set(self.key, self.record(time.time()).model_dump_json(), ex=progress.RECORD_TTL_S)
                    pipe.sadd(progress.WRITERS, self.key)
                    await pipe.execute()
            except Exception as error:  # /healthz then sees no fresh record and says so
                log.warning("could not record the writer's progress: %s", type(error).__name__)
            await asyncio.sleep(progress.REPORT_EVERY_S)


def _waiting(consumer: AIOKafkaConsumer, handled: dict[TopicPartition, int]) -> int:
    """Messages behind on the writer's partitions: each one's end offset less the next offset to handle."""
    behind = 0
    for tp in consumer.assignment():
        end = consumer.highwater(tp)
        if end is not None and tp in handled:
            behind += max(0, end - handled[tp])
    return behind
