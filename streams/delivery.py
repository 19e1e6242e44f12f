"""Acknowledge consumed events once what they caused is delivered, without waiting for it.

Waiting for the broker's answer before taking the next batch made every agent
latency-bound (a handful of events per round trip); acknowledging later keeps
at-least-once and lets the next batch start at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Sequence

from streams.ports import Ack, Consumed

log = logging.getLogger("centinela.delivery")

MAX_IN_FLIGHT = 64  # batches whose messages are still on their way


class Acknowledger:
    def __init__(self, ack: Ack) -> None:
        self.ack = ack
        self.in_flight: set[asyncio.Future[None]] = set()

    async def after_delivery(self, events: Sequence[Consumed], sent: Sequence[Awaitable[object]]) -> None:
        """Ack `events` when every message in `sent` is delivered; wait only if too much is pending."""
        task = asyncio.ensure_future(self._ack(events, sent))
        self.in_flight.add(task)
        task.add_done_callback(self.in_flight.discard)
        if len(self.in_flight) > MAX_IN_FLIGHT:
            await asyncio.wait(self.in_flight, return_when=asyncio.FIRST_COMPLETED)

    async def _ack(self, events: Sequence[Consumed], sent: Sequence[Awaitable[object]]) -> None:
        try:
            await asyncio.gather(*sent)
        except Exception:  # never acknowledged: a restarted worker gets these events again
            log.exception("a message was not delivered; its %d events stay unacknowledged", len(events))
            return
        await self.ack(events)
