"""The center's Redis views of the `alerts` topic: the current alert, the queue, the history.

Every snapshot goes through one Lua script, so the compare-and-set on `version` and the
update of every view happen atomically: replays and out-of-order snapshots are harmless,
the newest version wins. The consumed offset is stored by the same script, so Redis never
holds a view that is ahead of or behind its offsets.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from redis.asyncio import Redis

from vocabulary import internal, topics
from vocabulary.events import Alert

_APPLY = """
local versions, alerts, history, open_queue, all_queue, offsets = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local alert_id, version, body, score, resolved = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5]
local partition, next_offset, channel = ARGV[6], ARGV[7], ARGV[8]
if partition ~= '' then
  local known = tonumber(redis.call('HGET', offsets, partition) or '-1')
  if tonumber(next_offset) > known then redis.call('HSET', offsets, partition, next_offset) end
end
redis.call('HSETNX', history, ARGV[2], body)
local current = redis.call('HGET', versions, alert_id)
if current and tonumber(current) >= version then return 0 end
redis.call('HSET', versions, alert_id, version)
redis.call('HSET', alerts, alert_id, body)
redis.call('ZADD', all_queue, score, alert_id)
if resolved == '1' then
  redis.call('ZREM', open_queue, alert_id)
else
  redis.call('ZADD', open_queue, score, alert_id)
end
redis.call('PUBLISH', channel, body)
return 1
"""

PRIORITIES = range(1, 6)


def queue_score(alert: Alert) -> float:
    """Priority first, then the age: priority 1 opened earliest comes first."""
    return alert.priority * 10**13 + int(alert.opened_at.timestamp() * 1000)


@dataclass(frozen=True)
class Consumed:
    """Where a snapshot came from on the topic; its offset is stored with the snapshot."""

    partition: int
    offset: int


class AlertViews:
    def __init__(self, redis: Redis, namespace: str = "centinela:center:") -> None:
        self.redis = redis
        self.namespace = namespace
        self.channel = namespace + "changes"
        self._versions = namespace + "versions"
        self._alerts = namespace + "alerts"
        self._open = namespace + "queue:open"
        self._all = namespace + "queue:all"
        self._offsets = namespace + "offsets"
        self._apply = redis.register_script(_APPLY)

    def _history(self, alert_id: str) -> str:
        return f"{self.namespace}history:{alert_id}"

    def _apply_args(self, alert: Alert, consumed: Consumed | None) -> tuple[list[str], list[str | int | float]]:
        keys = [self._versions, self._alerts, self._history(alert.alert_id), self._open, self._all, self._offsets]
        args: list[str | int | float] = [
            alert.alert_id,
            alert.version,
            alert.model_dump_json(),
            queue_score(alert),
            "1" if alert.status == "resolved" else "0",
            "" if consumed is None else consumed.partition,
            "" if consumed is None else consumed.offset + 1,
            self.channel,
        ]
        return keys, args

    async def apply(self, alert: Alert, consumed: Consumed | None = None) -> bool:
        """Store the snapshot; True when it is the newest version of its alert."""
        keys, args = self._apply_args(alert, consumed)
        return bool(await self._apply(keys=keys, args=args))

    async def apply_many(self, snapshots: Sequence[tuple[Alert, Consumed | None]]) -> list[bool]:
        """One round trip for a batch, applied in order."""
        if not snapshots:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for alert, consumed in snapshots:
                keys, args = self._apply_args(alert, consumed)
                await self._apply(keys=keys, args=args, client=pipe)
            return [bool(r) for r in await pipe.execute()]

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

    async def raw(self, alert_id: str) -> str | None:
        found = await self.redis.hget(self._alerts, alert_id)
        return None if found is None else _text(found)

    async def get(self, alert_id: str) -> Alert | None:
        found = await self.raw(alert_id)
        return None if found is None else Alert.model_validate_json(found)

    async def queue(self, include_resolved: bool, limit: int) -> list[str]:
        """The alerts' JSON, most urgent and then oldest first."""
        ids = await self.redis.zrange(self._all if include_resolved else self._open, 0, limit - 1)
        if not ids:
            return []
        bodies = await self.redis.hmget(self._alerts, ids)  # type: ignore[arg-type]  # redis-py types zrange as a union of reply shapes
        return [_text(b) for b in bodies if b is not None]

    async def history(self, alert_id: str) -> list[Alert]:
        stored = await self.redis.hgetall(self._history(alert_id))
        return sorted((Alert.model_validate_json(_text(b)) for b in stored.values()), key=lambda a: a.version)

    async def open_by_priority(self) -> dict[int, int]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for priority in PRIORITIES:
                pipe.zcount(self._open, priority * 10**13, (priority + 1) * 10**13 - 1)
            counts = await pipe.execute()
        return dict(zip(PRIORITIES, (int(c) for c in counts), strict=True))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def matching(
    bodies: Iterable[str],
    zone: str | None = None,
    category: str | None = None,
    sees: Callable[[str, str], bool] | None = None,
) -> list[str]:
    """Filter stored alerts without building models (the list's hot path)."""
    if zone is None and category is None and sees is None:
        return list(bodies)
    kept = []
    for body in bodies:
        fields = json.loads(body)
        if zone is not None and fields["zone_id"] != zone:
            continue
        if category is not None and fields["category"] != category:
            continue
        if sees is not None and not sees(fields["zone_id"], fields["category"]):
            continue
        kept.append(body)
    return kept
