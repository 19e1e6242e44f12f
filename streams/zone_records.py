"""The zones' states and how far each zone.events partition is applied, kept together in Redis.

Both are written in one atomic step (a Lua script, so all or nothing, with Redis's
append-only file on) after the alerts the step's events caused are delivered. A worker
that dies at any moment therefore leaves, for each partition, a state that is exactly
the result of the events up to the stored position: it resumes after that position and
never applies an event twice or loses one. The script also fences: it writes only if each
partition's stored position is still the one this worker started from, so a worker that
lost its partitions in a rebalance (or was paused past its session) cannot overwrite what
their new owner saved.

Redis keeps both, rather than a compacted changelog topic beside the consumer's offsets,
because one store can write a state and its position in one atomic step; with two, a crash
between them would apply an event twice or lose it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import cast

import redis.asyncio as aioredis

from streams.retry import patiently
from vocabulary import topics
from vocabulary.internal import Freshness

# Fields: partition -> "offset timestamp_ms" (see Position).
POSITIONS_KEY = "centinela:evaluate:applied-through:{topic}"
# Fields: partition -> its producers as of that position (`vocabulary.internal.Freshness`).
FRESHNESS_KEY = "centinela:evaluate:producers:{topic}"
STATE_KEY = "centinela:zone-state:{prefix}{zone_id}"
# The zones whose unresolved alerts camera motion attaches to: motion admission keeps their motion.
ATTACHING_KEY = "centinela:zones-attaching-motion:{prefix}"

# KEYS: positions hash, attaching set, freshness hash, then the state keys.
# ARGV: n, then n (partition, expected, new, freshness), then per state (zone id, state, attaching 0/1).
_SAVE = """
local n = tonumber(ARGV[1])
for i = 0, n - 1 do
  if (redis.call('HGET', KEYS[1], ARGV[2 + 4 * i]) or '') ~= ARGV[3 + 4 * i] then return 0 end
end
for i = 0, n - 1 do
  redis.call('HSET', KEYS[1], ARGV[2 + 4 * i], ARGV[4 + 4 * i])
  redis.call('HSET', KEYS[3], ARGV[2 + 4 * i], ARGV[5 + 4 * i])
end
for k = 4, #KEYS do
  local at = 4 * n + 3 * (k - 4) + 2
  redis.call('SET', KEYS[k], ARGV[at + 1])
  if ARGV[at + 2] == '1' then redis.call('SADD', KEYS[2], ARGV[at]) else redis.call('SREM', KEYS[2], ARGV[at]) end
end
return 1
"""


@dataclass(frozen=True, slots=True)
class Position:
    """The newest applied offset of a partition, and the newest signed time (ms) up to it.

    A message is already applied when it is at or below both. The time tells a topic
    created afresh (offsets from 0 again, signed later) from the one whose offsets these
    are. It is the time in the message's authenticated stamp (`vocabulary.internal`), never
    the broker's timestamp, which any producer sets; and only messages that verify move it.
    """

    offset: int
    timestamp_ms: int

    def covers(self, offset: int, timestamp_ms: int) -> bool:
        return offset <= self.offset and timestamp_ms <= self.timestamp_ms

    def then(self, offset: int, timestamp_ms: int) -> Position:
        """The position once the message at `offset` is applied too."""
        if offset <= self.offset:  # a topic created afresh: its offsets start again
            return Position(offset, timestamp_ms)
        return Position(offset, max(self.timestamp_ms, timestamp_ms))

    def encode(self) -> str:
        return f"{self.offset} {self.timestamp_ms}"

    @classmethod
    def decode(cls, raw: bytes | str | None) -> Position | None:
        if raw is None:
            return None
        offset, timestamp_ms = (raw.decode() if isinstance(raw, bytes) else raw).split()
        return cls(int(offset), int(timestamp_ms))


@dataclass(frozen=True)
class Saved:
    """A zone's state as written, and whether camera motion in it attaches to an unresolved alert."""

    state: bytes
    attaching: bool


@dataclass(frozen=True)
class Advance:
    """A partition's position moving from `base` (as stored when this worker read it) to `to`,
    with its producers as of `to` (`vocabulary.internal.Freshness`, encoded)."""

    base: Position | None
    to: Position
    freshness: str


class ZoneRecords:
    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self.positions_key = POSITIONS_KEY.format(topic=topics.named(topics.ZONE_EVENTS))
        self.freshness_key = FRESHNESS_KEY.format(topic=topics.named(topics.ZONE_EVENTS))
        self.attaching_key = ATTACHING_KEY.format(prefix=topics.prefix())
        self.save_script = client.register_script(_SAVE)

    @staticmethod
    def state_key(zone_id: str) -> str:
        return STATE_KEY.format(prefix=topics.prefix(), zone_id=zone_id)

    async def positions(self, partitions: Iterable[int]) -> dict[int, Position | None]:
        wanted = sorted(set(partitions))
        if not wanted:
            return {}
        raw = await patiently(lambda: self.client.hmget(self.positions_key, [str(p) for p in wanted]), "evaluation")
        return {p: Position.decode(r) for p, r in zip(wanted, raw, strict=True)}

    async def freshness(self, partitions: Iterable[int]) -> dict[int, Freshness]:
        """Each partition's producers, as of its stored position."""
        wanted = sorted(set(partitions))
        if not wanted:
            return {}
        raw = await patiently(lambda: self.client.hmget(self.freshness_key, [str(p) for p in wanted]), "evaluation")
        return {p: Freshness.decode(r) for p, r in zip(wanted, raw, strict=True)}

    async def states(self, zone_ids: Iterable[str]) -> dict[str, bytes | None]:
        wanted = sorted(set(zone_ids))
        if not wanted:
            return {}
        found = await patiently(lambda: self.client.mget([self.state_key(z) for z in wanted]), "evaluation")
        return dict(zip(wanted, cast(list[bytes | None], found), strict=True))

    async def save(self, states: Mapping[str, Saved], advances: Mapping[int, Advance]) -> bool:
        """Write the states and move the positions, all or nothing; False (nothing written) if fenced off."""
        args: list[str | bytes | int] = [len(advances)]
        for partition, advance in sorted(advances.items()):
            args += [str(partition), advance.base.encode() if advance.base else "", advance.to.encode(),
                     advance.freshness]
        for zone_id, saved in states.items():
            args += [zone_id, saved.state, int(saved.attaching)]
        keys = [self.positions_key, self.attaching_key, self.freshness_key, *(self.state_key(z) for z in states)]
        return bool(await self.save_script(keys=keys, args=args))

    async def mark_attaching(self, zone_ids: Iterable[str]) -> None:
        """Add zones to the set at once: an alert motion attaches to has just opened in each."""
        await patiently(lambda: self.client.sadd(self.attaching_key, *zone_ids), "evaluation")

    async def attaching(self) -> set[str]:
        """The zones whose unresolved alerts camera motion attaches to, as of their last save."""
        members = cast(set[bytes], await self.client.smembers(self.attaching_key))
        return {z.decode() for z in members}
