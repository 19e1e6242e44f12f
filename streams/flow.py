"""Back-pressure from evaluation to motion admission.

Under a motion flood the motion lane, whenever it gets the CPU, can forward thousands of
motion events to zone.events, and a panic admitted after them waits in the same partition
until evaluation has applied them all (measured under a 5,000 events/s flood: the
evaluation hop alone took 0.7 s at p50 and 4.9 s at p99). So the evaluate lane records, per
zone.events partition, when the newest message it applied was produced, and the motion lane
does not take its next batch while a partition it wrote to is more than MOTION_AHEAD_S
behind. The backlog then stays in cameras.motion, where it delays no panic.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

import redis.asyncio as aioredis

from streams.ports import Consumed

log = logging.getLogger("centinela.flow")

APPLIED = "centinela:evaluate:applied"  # zone.events partition -> produce time (epoch s) of the newest applied
MOTION_AHEAD_S = 0.25
POLL_S = 0.02
WARN_AFTER_S = 10.0


def newest_per_partition(batch: Sequence[Consumed]) -> dict[int, float]:
    newest: dict[int, float] = {}
    for message in batch:
        partition, produced = message.partition, message.timestamp_ms / 1000
        newest[partition] = max(newest.get(partition, produced), produced)
    return newest


class Progress:
    """The evaluate lane's side: how far it has applied each partition.

    Written beside the stream, never awaited by it: a Redis round trip per batch in front of
    the next panic cost more than motion admission gains from a fresher figure. One write is
    in flight at a time and carries the newest figures of every batch applied meanwhile.
    """

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self.pending: dict[int, float] = {}
        self.writing: asyncio.Future[None] | None = None

    async def applied(self, batch: Sequence[Consumed]) -> None:
        for partition, produced in newest_per_partition(batch).items():
            self.pending[partition] = max(self.pending.get(partition, produced), produced)
        if self.pending and (self.writing is None or self.writing.done()):
            self.writing = asyncio.ensure_future(self._write())

    async def _write(self) -> None:
        while self.pending:
            taken, self.pending = self.pending, {}
            try:
                await self.client.hset(APPLIED, mapping=taken)  # type: ignore[arg-type]  # redis-py types hset's mapping too narrowly
            except aioredis.RedisError as error:  # motion admission waits for this; panics do not
                log.warning("could not record evaluation progress: %s", error)
                return


class Backpressure:
    """The motion lane's side: what it sent where, and waiting until evaluation is near."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self.sent: dict[int, float] = {}  # zone.events partition -> when this lane last sent to it

    def sending(self, partition: int) -> None:
        self.sent[partition] = time.time()  # before the send: never later than the message's timestamp

    def behind(self, applied: dict[int, float]) -> float:
        """How far evaluation is behind the newest motion this lane sent, in seconds."""
        return max((at - applied.get(p, 0.0) for p, at in self.sent.items()), default=0.0)

    async def wait(self) -> None:
        started, warned = time.monotonic(), False
        while True:
            try:
                raw = await self.client.hgetall(APPLIED)
            except aioredis.RedisError as error:
                log.warning("could not read evaluation progress (%s); motion goes on", error)
                return
            behind = self.behind({int(p): float(t) for p, t in raw.items()})
            if behind <= MOTION_AHEAD_S:
                return
            if not warned and time.monotonic() - started > WARN_AFTER_S:
                warned = True
                log.warning("evaluation is %.0f s behind camera motion; motion admission waits", behind)
            await asyncio.sleep(POLL_S)
