"""Supervisors' silences: published per zone to zone.events for evaluate to apply, and kept
in Redis (hash `<namespace>silences`, id -> JSON) for listing until they end.

A silence is listed before any zone gets it and unlisted only after every zone has its end,
so no zone is ever silenced by a silence the console does not show.

As with actions, the center never holds anything back itself: each zone's evaluate
consumer adds the silence to the zone's state and checks it like a configured one.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Literal

from aiokafka import AIOKafkaProducer
from redis.asyncio import Redis

from alert_rules.city import Token
from alert_rules.rules import Matcher, Silence, SilenceCommand
from center.actions import send_to_zone
from vocabulary import internal, topics
from vocabulary.events import Timestamp


class ActiveSilence(Silence):
    """A run-time silence as the API shows it: the zones it covers, when it was created, and
    how many signals it has held back so far (counted by evaluate, in every zone it covers)."""

    zones: list[str]
    created_at: Timestamp
    held_back: int = 0


class SilenceDesk:
    def __init__(self, redis: Redis, namespace: str, secret: bytes) -> None:
        self._redis = redis
        self._secret = secret
        self._key = namespace + "silences"
        self._held_back = topics.prefix() + internal.HELD_BACK

    async def active(self, now: datetime) -> list[ActiveSilence]:
        """Every silence not yet ended, earliest start first; ended ones leave Redis."""
        stored = await self._redis.hgetall(self._key)
        found: list[ActiveSilence] = []
        ended: list[ActiveSilence] = []
        for raw in stored.values():
            silence = ActiveSilence.model_validate(json.loads(raw))
            (found if silence.ends_at > now else ended).append(silence)
        if ended:
            await self._redis.hdel(self._key, *[s.id for s in ended])
            await self._forget_counts(ended)
        counts = await self._counts(found)
        return sorted((s.model_copy(update={"held_back": counts[s.id]}) for s in found), key=lambda s: (s.starts_at, s.id))

    async def _counts(self, silences: list[ActiveSilence]) -> dict[str, int]:
        fields = [(s.id, f"{s.id}|{zone}") for s in silences for zone in s.zones]
        totals = {s.id: 0 for s in silences}
        if fields:
            for (silence_id, _), count in zip(fields, await self._redis.hmget(self._held_back, [f for _, f in fields]), strict=True):
                totals[silence_id] += int(count or 0)
        return totals

    async def _forget_counts(self, silences: list[ActiveSilence]) -> None:
        fields = [f"{s.id}|{zone}" for s in silences for zone in s.zones]
        if fields:
            await self._redis.hdel(self._held_back, *fields)

    async def get(self, silence_id: str, now: datetime) -> ActiveSilence | None:
        raw = await self._redis.hget(self._key, silence_id)
        if raw is None:
            return None
        silence = ActiveSilence.model_validate(json.loads(raw))
        if silence.ends_at <= now:
            return None
        return silence.model_copy(update={"held_back": (await self._counts([silence]))[silence.id]})

    async def add(self, producer: AIOKafkaProducer, topic: str, silence: ActiveSilence) -> None:
        """Listed first, then sent to its zones: one that fails partway is listed, and can be ended."""
        await self._redis.hset(self._key, silence.id, silence.model_dump_json(exclude={"held_back"}))
        await self._publish(producer, topic, silence, "add")

    async def end(self, producer: AIOKafkaProducer, topic: str, silence: ActiveSilence) -> None:
        """Sent to its zones, then unlisted: one that fails partway stays listed, to be ended again."""
        await self._publish(producer, topic, silence, "end")
        await self._redis.hdel(self._key, silence.id)
        await self._forget_counts([silence])

    async def _publish(self, producer: AIOKafkaProducer, topic: str, silence: ActiveSilence,
                       action: Literal["add", "end"]) -> None:
        now = datetime.now(UTC)
        for zone_id in silence.zones:  # one command per zone, keyed by zone: each zone's only writer applies it
            command = SilenceCommand(
                silence_command=uuid.uuid4().hex, zone_id=zone_id, action=action,
                silence=for_zone(silence, zone_id), at=now)
            await send_to_zone(producer, topic, zone_id, command.model_dump_json().encode(), self._secret)


def for_zone(silence: ActiveSilence, zone_id: str) -> Silence:
    """The engine's silence for one zone: the same labels with the zone pinned."""
    match = Matcher(zone=[zone_id], category=silence.match.category, source=silence.match.source)
    return Silence(id=silence.id, match=match, starts_at=silence.starts_at, ends_at=silence.ends_at,
                   author=silence.author, reason=silence.reason)


def new_silence(zones: list[str], category: str | None, source: str | None, starts_at: datetime,
                ends_at: datetime, reason: str, by: Token) -> ActiveSilence:
    match = Matcher(zone=zones, category=[category] if category else [], source=[source] if source else [])
    return ActiveSilence(id=f"rt-{uuid.uuid4().hex[:16]}", match=match, starts_at=starts_at, ends_at=ends_at,
                         author=by.name, reason=reason, zones=zones, created_at=datetime.now(UTC))


def visible_to(token: Token, silence: ActiveSilence) -> ActiveSilence | None:
    """Responders see only the silences of their zones, and only those zones of each."""
    if token.role != "responder":
        return silence
    zones = [z for z in silence.zones if z in (token.zones or ())]
    if not zones:
        return None
    match = silence.match.model_copy(update={"zone": zones})
    return silence.model_copy(update={"zones": zones, "match": match})
