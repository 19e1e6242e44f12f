"""Duplicate memory: which event_ids each source has already sent, kept in Redis.

A message redelivered after a crash (same topic, partition and offset) is not a
duplicate: it must be forwarded again, or a restart between remembering and forwarding
would lose it. Memory is bounded by time: admission rejects anything older than its
stale limit, so ids need to be remembered only a little longer than that.
"""

from __future__ import annotations

from collections.abc import Sequence

import redis.asyncio as aioredis

from streams.admit import Received
from vocabulary.events import ZoneEvent

PREFIX = "centinela:seen:"
COUNTS = "centinela:stats:duplicates"


class DuplicateMemory:
    def __init__(self, client: aioredis.Redis, remember_s: int) -> None:
        self.client = client
        self.remember_s = remember_s

    async def first_sightings(self, admitted: Sequence[tuple[ZoneEvent, Received]]) -> list[bool]:
        """For each event, True unless the same source sent its event_id from elsewhere."""
        if not admitted:
            return []
        pipe = self.client.pipeline(transaction=False)
        for event, message in admitted:
            key = f"{PREFIX}{event.source.kind}:{event.source.id}:{event.event.event_id}"
            pipe.set(key, message.position, nx=True, get=True, ex=self.remember_s)
        seen = await pipe.execute()
        fresh = [old is None or old.decode() == message.position for old, (_, message) in zip(seen, admitted, strict=True)]
        dropped = [event.source.kind for keep, (event, _) in zip(fresh, admitted, strict=True) if not keep]
        if dropped:
            pipe = self.client.pipeline(transaction=False)
            for kind in dropped:
                pipe.hincrby(COUNTS, kind, 1)
            await pipe.execute()
        return fresh
