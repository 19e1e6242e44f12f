"""Waiting out a Redis outage rather than dropping or doubling a life-safety event."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis.asyncio as aioredis

log = logging.getLogger("centinela.redis")
T = TypeVar("T")


async def patiently(call: Callable[[], Awaitable[T]], who: str) -> T:
    """`call()` until Redis answers, backing off to one try every 2 s; `who` waits, says the log."""
    delay, failures = 0.1, 0
    while True:
        try:
            return await call()
        except aioredis.RedisError as error:
            failures += 1
            if failures % 10 == 1:
                log.warning("Redis unavailable (%s); %s waits and retries", error, who)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
