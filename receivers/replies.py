"""The DC-09 receiver's ACK/NAK/DUH counts, added to Redis where the center's /metrics reads them
(`centinela_receiver_replies_total`, layout in `vocabulary.progress`)."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

import redis.asyncio as aioredis

from vocabulary import progress

log = logging.getLogger("centinela.receivers")
REPLIES = ("ACK", "NAK", "DUH", "rate_limited")  # rate_limited: the NAKs for a panel's rate (among NAK)
REPORT_EVERY_S = 5.0


def news(counts: Counter[str], reported: Counter[str]) -> Counter[str]:
    """The replies counted since the last report."""
    return Counter({reply: counts[reply] - reported[reply] for reply in REPLIES if counts[reply] > reported[reply]})


async def report_replies(counts: Counter[str], redis_url: str, receiver: str = "dc09") -> None:
    """Every few seconds, add what the receiver answered since the last report; until cancelled."""
    client = aioredis.Redis.from_url(redis_url)
    reported: Counter[str] = Counter()
    try:
        while True:
            await asyncio.sleep(REPORT_EVERY_S)
            fresh = news(counts, reported)
            if not fresh:
                continue
            try:
                async with client.pipeline(transaction=False) as pipe:
                    for reply, count in fresh.items():
                        pipe.hincrby(progress.RECEIVER_REPLIES, progress.counter_field(receiver, reply), count)
                    await pipe.execute()
            except aioredis.RedisError as error:  # counted again at the next report
                log.warning("could not report the receiver's replies: %s", type(error).__name__)
                continue
            reported.update(fresh)
    finally:
        await client.aclose()
