"""Each partner's CAP messages in Redis: a bounded durable queue, the last message per alert, the 24 h feed.

Redis runs with its append-only file, so a restart of Redis or of the partners process forgets no
undelivered message. Per partner (keys under `centinela:partners:`, after the topic prefix):

- `{id}:queue`, a list: the messages not yet delivered, oldest first, at most `cap.queue_max`; a
  message that finds it full is dropped and counted (`dropped`), and the next one about its alert
  references the last one queued.
- `{id}:sent:{alert_id}`: the last message queued about the alert (what the next one references),
  kept `SENT_TTL_S` after its last change.
- `{id}:feed`, a sorted set by the time queued: the messages of the last 24 h for `GET /cap/{id}/feed`,
  at most `cap.feed_max`.

Counts (`centinela:metrics:partners`, "partner|outcome") and each partner's health report
(`centinela:ops:partners`) are where the center reads them for /metrics and /healthz.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel
from redis.asyncio import Redis

from alert_rules.partners import CapSettings
from partners.cap import CapMessage, MsgType, Sent
from vocabulary import topics

NAMESPACE = "centinela:partners:"
COUNTS = "centinela:metrics:partners"  # hash: "partner|outcome" -> count; "forged" -> alerts messages ignored
REPORTS = "centinela:ops:partners"  # hash: partner id -> Report JSON
FEED_S = 86_400.0
SENT_TTL_S = 30 * 86_400  # an alert unchanged for a month is long resolved (retention.resolved_days)
FORGED = "forged"

Outcome = Literal["delivered", "retried", "dropped"]

_ENQUEUE = """
if redis.call('LLEN', KEYS[1]) >= tonumber(ARGV[3]) then
  redis.call('HINCRBY', KEYS[4], ARGV[8], 1)
  return 0
end
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[4])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[6])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. (tonumber(ARGV[5]) - tonumber(ARGV[9])))
local extra = redis.call('ZCARD', KEYS[3]) - tonumber(ARGV[7])
if extra > 0 then redis.call('ZREMRANGEBYRANK', KEYS[3], 0, extra - 1) end
return 1
"""
_REMOVE_HEAD = """
if redis.call('LINDEX', KEYS[1], 0) ~= ARGV[1] then return 0 end
redis.call('LPOP', KEYS[1])
redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
return 1
"""


def prefixed(name: str) -> str:
    return topics.prefix() + name


class Envelope(BaseModel):
    """One queued message: the document exactly as it is POSTed and shown in the feed."""

    alert_id: str
    version: int
    msg_type: MsgType
    identifier: str
    sent: str
    queued_at: float  # epoch s
    document: str  # UTF-8 XML

    @property
    def body(self) -> bytes:
        return self.document.encode("utf-8")


@dataclass(frozen=True)
class Head:
    raw: bytes | str  # as stored: what done() compares before it takes the head off
    envelope: Envelope


class Report(BaseModel):
    """A partner's delivery as its sender last saw it."""

    level: Literal["ok", "degraded"]
    detail: str
    queued: int
    oldest_queued_at: float | None  # epoch s of the oldest undelivered message
    seen: float  # epoch s of this report: an old one means the partners process is gone


class Outbox:
    def __init__(self, redis: Redis, settings: CapSettings, namespace: str = NAMESPACE) -> None:
        self.redis = redis
        self.settings = settings
        self.namespace = prefixed(namespace)
        self._enqueue = redis.register_script(_ENQUEUE)
        self._remove_head = redis.register_script(_REMOVE_HEAD)

    def _key(self, partner_id: str, part: str) -> str:
        return f"{self.namespace}{partner_id}:{part}"

    async def last_sent(self, partner_id: str, alert_id: str) -> Sent | None:
        raw = await self.redis.get(self._key(partner_id, f"sent:{alert_id}"))
        return None if raw is None else Sent.model_validate_json(raw)

    async def put(self, partner_id: str, message: CapMessage, now: float | None = None) -> bool:
        """Queue the message and remember it as the alert's last; False when the queue was full (counted)."""
        at = time.time() if now is None else now
        envelope = Envelope(alert_id=message.alert_id, version=message.version, msg_type=message.msg_type,
                            identifier=message.sent.identifier, sent=message.sent.sent, queued_at=at,
                            document=message.document.decode("utf-8")).model_dump_json()
        keys = [self._key(partner_id, "queue"), self._key(partner_id, f"sent:{message.alert_id}"),
                self._key(partner_id, "feed"), prefixed(COUNTS)]
        added = await self._enqueue(keys=keys, args=[
            envelope, message.sent.model_dump_json(), self.settings.queue_max, SENT_TTL_S, repr(at), envelope,
            self.settings.feed_max, f"{partner_id}|dropped", repr(FEED_S)])
        return bool(added)

    async def head(self, partner_id: str) -> Head | None:
        """The oldest undelivered message, left on the queue until done() takes it off."""
        raw = await self.redis.lindex(self._key(partner_id, "queue"), 0)
        return None if raw is None else Head(raw, Envelope.model_validate_json(raw))

    async def queued(self, partner_id: str) -> int:
        return int(await self.redis.llen(self._key(partner_id, "queue")))

    async def done(self, partner_id: str, head: Head, outcome: Literal["delivered", "dropped"]) -> None:
        """The head delivered, or given up on: off the queue, counted."""
        await self._remove_head(keys=[self._key(partner_id, "queue"), prefixed(COUNTS)],
                                args=[head.raw, f"{partner_id}|{outcome}"])

    async def count(self, partner_id: str, outcome: Outcome) -> None:
        await self.redis.hincrby(prefixed(COUNTS), f"{partner_id}|{outcome}", 1)

    async def count_forged(self, count: int) -> None:
        await self.redis.hincrby(prefixed(COUNTS), FORGED, count)

    async def feed(self, partner_id: str, now: float | None = None) -> list[Envelope]:
        return await feed(self.redis, partner_id, now, self.namespace)

    async def report(self, partner_id: str, report: Report) -> None:
        await self.redis.hset(prefixed(REPORTS), partner_id, report.model_dump_json())


async def feed(redis: Redis, partner_id: str, now: float | None = None,
               namespace: str | None = None) -> list[Envelope]:
    """The partner's messages of the last 24 h, newest first."""
    since = (time.time() if now is None else now) - FEED_S
    key = f"{namespace or prefixed(NAMESPACE)}{partner_id}:feed"
    raw = await redis.zrevrangebyscore(key, "+inf", since)
    return [Envelope.model_validate_json(item) for item in raw if isinstance(item, bytes | str)]


async def reports(redis: Redis) -> dict[str, Report]:
    raw = await redis.hgetall(prefixed(REPORTS))
    return {(k.decode() if isinstance(k, bytes) else k): Report.model_validate_json(v) for k, v in raw.items()}


async def counts(redis: Redis) -> dict[str, int]:
    raw = await redis.hgetall(prefixed(COUNTS))
    return {(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in raw.items()}
