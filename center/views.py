"""The center's Redis views of the `alerts` topic: the current alert, the queues, the history.

Every snapshot goes through one Lua script, so the compare-and-set on `version` and the
update of every view happen atomically: replays and out-of-order snapshots are harmless,
the newest version wins. The consumed offset is stored by the same script, so Redis never
holds a view that is ahead of or behind its offsets.

Besides the queues of all alerts, each (zone, category) pair has its own, so that a
listing by zone, category or a responder's scope merges the few queues that qualify and
cuts at its limit only then. Resolved alerts and their history leave after the retention.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from redis.asyncio import Redis

from vocabulary import internal, topics
from vocabulary.events import Alert

# Keys built inside the scripts from the namespace (ARGV[1]): one Redis, not a cluster.
_PURGE = """
local function purge(ns, id)
  local pair = redis.call('HGET', ns .. 'index-of', id)
  if pair then
    redis.call('ZREM', ns .. 'idx:open:' .. pair, id)
    redis.call('ZREM', ns .. 'idx:all:' .. pair, id)
  end
  redis.call('HDEL', ns .. 'index-of', id)
  redis.call('HDEL', ns .. 'versions', id)
  redis.call('HDEL', ns .. 'alerts', id)
  redis.call('ZREM', ns .. 'queue:open', id)
  redis.call('ZREM', ns .. 'queue:all', id)
  redis.call('ZREM', ns .. 'resolved', id)
  redis.call('DEL', ns .. 'history:' .. id)
end
"""

_APPLY = _PURGE + """
local ns, alert_id, version, body, score = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
local resolved_at, partition, next_offset, pair, cutoff = ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10]
local keep = tonumber(ARGV[11])
if partition ~= '' then
  local known = tonumber(redis.call('HGET', ns .. 'offsets', partition) or '-1')
  if tonumber(next_offset) > known then redis.call('HSET', ns .. 'offsets', partition, next_offset) end
end
if resolved_at ~= '' and tonumber(resolved_at) < tonumber(cutoff) then
  purge(ns, alert_id)  -- a replayed alert resolved before the retention: it leaves, as the sweep would do
  return 0
end
local current = redis.call('HGET', ns .. 'versions', alert_id)
local newest = math.max(version, tonumber(current or '0'))
local history = ns .. 'history:' .. alert_id
if version > newest - keep then  -- the newest `keep` versions only: a flood cannot grow it without end
  redis.call('HSETNX', history, ARGV[3], body)
  redis.call('HDEL', history, tostring(version - keep))
  if redis.call('HLEN', history) > keep then  -- versions skipped: sweep what is older than the newest `keep`
    for _, kept in ipairs(redis.call('HKEYS', history)) do
      if tonumber(kept) <= newest - keep then redis.call('HDEL', history, kept) end
    end
  end
end
if current and tonumber(current) >= version then return 0 end
redis.call('HSET', ns .. 'versions', alert_id, version)
redis.call('HSET', ns .. 'alerts', alert_id, body)
local previous = redis.call('HGET', ns .. 'index-of', alert_id)
if previous and previous ~= pair then
  redis.call('ZREM', ns .. 'idx:open:' .. previous, alert_id)
  redis.call('ZREM', ns .. 'idx:all:' .. previous, alert_id)
end
redis.call('HSET', ns .. 'index-of', alert_id, pair)
redis.call('SADD', ns .. 'pairs', pair)
redis.call('ZADD', ns .. 'queue:all', score, alert_id)
redis.call('ZADD', ns .. 'idx:all:' .. pair, score, alert_id)
if resolved_at ~= '' then
  redis.call('ZREM', ns .. 'queue:open', alert_id)
  redis.call('ZREM', ns .. 'idx:open:' .. pair, alert_id)
  redis.call('ZADD', ns .. 'resolved', resolved_at, alert_id)
else
  redis.call('ZADD', ns .. 'queue:open', score, alert_id)
  redis.call('ZADD', ns .. 'idx:open:' .. pair, score, alert_id)
  redis.call('ZREM', ns .. 'resolved', alert_id)
end
redis.call('PUBLISH', ns .. 'changes', body)
return 1
"""

_SWEEP = _PURGE + """
local ns, cutoff, batch = ARGV[1], ARGV[2], tonumber(ARGV[3])
local ids = redis.call('ZRANGEBYSCORE', ns .. 'resolved', '-inf', '(' .. cutoff, 'LIMIT', 0, batch)
for _, id in ipairs(ids) do purge(ns, id) end
return #ids
"""

PRIORITIES = range(1, 6)
HISTORY_KEEP = 500  # versions of one alert kept in its Redis history, the newest (the topic keeps them all)
INDEXED_LAYOUT = b"2"  # alerts indexed by (zone, category), resolved ones by resolution time


def queue_score(alert: Alert) -> float:
    """Priority first, then the age: priority 1 opened earliest comes first."""
    return alert.priority * 10**13 + int(alert.opened_at.timestamp() * 1000)


@dataclass(frozen=True)
class Consumed:
    """Where a snapshot came from on the topic; its offset is stored with the snapshot."""

    partition: int
    offset: int


@dataclass(frozen=True)
class Marks:
    """What changes when the feed's stored offsets stop being trustworthy."""

    redis_run: str  # a new one each time Redis restarts (its last second of writes may be lost)


def index_pair(zone_id: str, category: str) -> str:
    return f"{zone_id}|{category}"


def qualifies(pair: str, zone: str | None, category: str | None, sees: Callable[[str, str], bool] | None) -> bool:
    """Whether the index of this (zone, category) pair belongs in a listing with these filters."""
    pair_zone, _, pair_category = pair.partition("|")
    return ((zone is None or pair_zone == zone) and (category is None or pair_category == category)
            and (sees is None or sees(pair_zone, pair_category)))


class AlertViews:
    """Alerts by id, the queues (all, and per zone and category), histories, the feed's offsets.

    Resolved alerts leave after `retention_s`, swept by `sweep()` (and at once if a replay
    brings back one resolved longer ago).
    """

    def __init__(self, redis: Redis, namespace: str = "centinela:center:", retention_s: float = 30 * 86400,
                 history_keep: int = HISTORY_KEEP) -> None:
        self.redis = redis
        self.history_keep = history_keep
        self.namespace = namespace
        self.retention_s = retention_s
        self.channel = namespace + "changes"
        self._alerts = namespace + "alerts"
        self._open = namespace + "queue:open"
        self._all = namespace + "queue:all"
        self._pairs = namespace + "pairs"
        self._offsets = namespace + "offsets"
        self._apply = redis.register_script(_APPLY)
        self._sweep = redis.register_script(_SWEEP)

    def _history(self, alert_id: str) -> str:
        return f"{self.namespace}history:{alert_id}"

    def _apply_args(self, alert: Alert, consumed: Consumed | None, now: float) -> list[str | int | float]:
        return [
            self.namespace,
            alert.alert_id,
            alert.version,
            alert.model_dump_json(),
            queue_score(alert),
            alert.updated_at.timestamp() if alert.status == "resolved" else "",
            "" if consumed is None else consumed.partition,
            "" if consumed is None else consumed.offset + 1,
            index_pair(alert.zone_id, alert.category),
            now - self.retention_s,
            self.history_keep,
        ]

    async def apply(self, alert: Alert, consumed: Consumed | None = None) -> bool:
        """Store the snapshot; True when it is the newest version of its alert."""
        return bool(await self._apply(args=self._apply_args(alert, consumed, time.time())))

    async def apply_many(self, snapshots: Sequence[tuple[Alert, Consumed | None]]) -> list[bool]:
        """One round trip for a batch, applied in order."""
        if not snapshots:
            return []
        now = time.time()
        async with self.redis.pipeline(transaction=False) as pipe:
            for alert, consumed in snapshots:
                await self._apply(args=self._apply_args(alert, consumed, now), client=pipe)
            return [bool(r) for r in await pipe.execute()]

    async def sweep(self, batch: int = 500) -> int:
        """Remove the alerts resolved longer than the retention ago, with their history."""
        removed, cutoff = 0, time.time() - self.retention_s
        while True:
            count = int(await self._sweep(args=[self.namespace, cutoff, batch]))
            removed += count
            if count < batch:
                return removed

    async def advance(self, consumed: Consumed) -> None:
        """Record an offset whose message held no alert (it was malformed)."""
        await self.redis.eval(
            "local k=tonumber(redis.call('HGET',KEYS[1],ARGV[1]) or '-1') "
            "if tonumber(ARGV[2])>k then redis.call('HSET',KEYS[1],ARGV[1],ARGV[2]) end return 0",
            1,
            self._offsets,
            consumed.partition,
            consumed.offset + 1,
        )

    async def count_forged(self, count: int) -> None:
        """Messages on `alerts` that were not authenticated: counted where every process sees them."""
        await self.redis.hincrby(topics.prefix() + internal.FORGED_COUNTS, topics.ALERTS, count)

    async def forged(self) -> dict[str, int]:
        """Forged or undecodable internal messages ignored so far, by topic (the center's and the streams')."""
        stored = await self.redis.hgetall(topics.prefix() + internal.FORGED_COUNTS)
        return {_text(topic): int(count) for topic, count in stored.items()}

    async def offsets(self) -> dict[int, int]:
        """The next offset to consume per partition; empty when Redis has no views yet."""
        stored = await self.redis.hgetall(self._offsets)
        return {int(p): int(o) for p, o in stored.items()}

    async def marks(self) -> Marks:
        server = await self.redis.info("server")
        return Marks(redis_run=str(server.get("run_id", "")))

    async def index_stored(self, batch: int = 1000) -> int:
        """Index alerts stored before the views had per-zone indexes (an upgrade); once, idempotent."""
        layout = self.namespace + "layout"
        if await self.redis.get(layout) == INDEXED_LAYOUT:
            return 0
        indexed, cursor = 0, 0
        while True:
            cursor, found = await self.redis.hscan(self._alerts, cursor, count=batch)
            bodies: dict[bytes, bytes] = found  # type: ignore[assignment]  # redis-py types the reply as a union
            async with self.redis.pipeline(transaction=False) as pipe:
                for body in bodies.values():
                    alert = Alert.model_validate_json(body)
                    pair = index_pair(alert.zone_id, alert.category)
                    score, kind = queue_score(alert), "all"
                    pipe.hset(self.namespace + "index-of", alert.alert_id, pair)
                    pipe.sadd(self._pairs, pair)
                    pipe.zadd(f"{self.namespace}idx:{kind}:{pair}", {alert.alert_id: score})
                    if alert.status == "resolved":
                        pipe.zadd(self.namespace + "resolved", {alert.alert_id: alert.updated_at.timestamp()})
                    else:
                        pipe.zadd(f"{self.namespace}idx:open:{pair}", {alert.alert_id: score})
                await pipe.execute()
            indexed += len(found)
            if cursor == 0:
                await self.redis.set(layout, INDEXED_LAYOUT)
                return indexed

    async def raw(self, alert_id: str) -> str | None:
        found = await self.redis.hget(self._alerts, alert_id)
        return None if found is None else _text(found)

    async def get(self, alert_id: str) -> Alert | None:
        found = await self.raw(alert_id)
        return None if found is None else Alert.model_validate_json(found)

    async def queue(
        self,
        include_resolved: bool,
        limit: int,
        zone: str | None = None,
        category: str | None = None,
        sees: Callable[[str, str], bool] | None = None,
    ) -> list[str]:
        """The alerts' JSON, most urgent and then oldest first, zone, category and scope applied before the limit."""
        ids: list[bytes]
        if zone is None and category is None and sees is None:
            ids = await self.redis.zrange(self._all if include_resolved else self._open, 0, limit - 1)  # type: ignore[assignment]  # a union of reply shapes
        else:
            ids = await self._chosen(include_resolved, limit, zone, category, sees)
        if not ids:
            return []
        bodies = await self.redis.hmget(self._alerts, ids)
        return [_text(b) for b in bodies if b is not None]

    async def _chosen(self, include_resolved: bool, limit: int, zone: str | None, category: str | None,
                      sees: Callable[[str, str], bool] | None) -> list[bytes]:
        """The first `limit` ids of the indexes of every (zone, category) that qualifies, merged."""
        pairs = (_text(member) for member in await self.redis.smembers(self._pairs))
        chosen = [pair for pair in pairs if qualifies(pair, zone, category, sees)]
        if not chosen:
            return []
        kind = "all" if include_resolved else "open"
        async with self.redis.pipeline(transaction=False) as pipe:
            for pair in chosen:
                pipe.zrange(f"{self.namespace}idx:{kind}:{pair}", 0, limit - 1, withscores=True)
            found: list[list[tuple[bytes, float]]] = await pipe.execute()
        merged = heapq.merge(*found, key=lambda entry: (entry[1], entry[0]))
        return [alert_id for alert_id, _ in itertools.islice(merged, limit)]

    async def history(self, alert_id: str) -> list[Alert]:
        stored = await self.redis.hgetall(self._history(alert_id))
        return sorted((Alert.model_validate_json(_text(b)) for b in stored.values()), key=lambda a: a.version)

    async def open_by_priority(self) -> dict[int, int]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for priority in PRIORITIES:
                pipe.zcount(self._open, priority * 10**13, (priority + 1) * 10**13 - 1)
            counts = await pipe.execute()
        return dict(zip(PRIORITIES, (int(c) for c in counts), strict=True))

    async def oldest_open(self) -> dict[int, float | None]:
        """Per priority, when its oldest open alert was opened (epoch s), None when there is none."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for priority in PRIORITIES:
                pipe.zrangebyscore(self._open, priority * 10**13, (priority + 1) * 10**13 - 1,
                                   start=0, num=1, withscores=True)
            found = await pipe.execute()
        return {
            priority: (entries[0][1] - priority * 10**13) / 1000 if entries else None
            for priority, entries in zip(PRIORITIES, found, strict=True)
        }


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
