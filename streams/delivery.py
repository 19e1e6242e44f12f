"""Acknowledge consumed events once what they caused is delivered, without waiting for it.

Waiting for the broker's answer before taking the next batch made every agent
latency-bound (a handful of events per round trip); acknowledging later keeps
at-least-once and lets the next batch start at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

import faust
from faust.types import EventT

log = logging.getLogger("centinela.delivery")

MAX_IN_FLIGHT = 64  # batches whose messages are still on their way
RESEND_ATTEMPTS = 20  # about half a minute; a broker away longer than that restarts the lane anyway


Resend = Callable[[], Awaitable[Sequence[Awaitable[object]]]]


class Acknowledger:
    def __init__(self) -> None:
        self.in_flight: set[asyncio.Future[None]] = set()

    async def after_delivery(self, stream: faust.StreamT, events: Sequence[EventT],
                             sent: Sequence[Awaitable[object]], resend: Resend | None = None) -> None:
        """Ack `events` when every message in `sent` is delivered; wait only if too much is pending.

        A message the broker refused (Tansu answers concurrent appends to one partition with
        an UnknownError now and then) is sent again with `resend`: left unacknowledged, its
        events would wait for the lane's next restart.
        """
        task = asyncio.ensure_future(self._ack(stream, events, sent, resend))
        self.in_flight.add(task)
        task.add_done_callback(self.in_flight.discard)
        if len(self.in_flight) > MAX_IN_FLIGHT:
            await asyncio.wait(self.in_flight, return_when=asyncio.FIRST_COMPLETED)

    @staticmethod
    async def _ack(stream: faust.StreamT, events: Sequence[EventT], sent: Sequence[Awaitable[object]],
                   resend: Resend | None) -> None:
        for attempt in range(RESEND_ATTEMPTS + 1):
            try:
                await asyncio.gather(*sent)
                break
            except Exception as error:  # unacknowledged, a restarted worker gets these events again
                if resend is None or attempt == RESEND_ATTEMPTS:
                    log.exception("a message was not delivered; its %d events stay unacknowledged", len(events))
                    return
                log.warning("a message was not delivered (%r); sending its %d events again", error, len(events))
                await asyncio.sleep(min(0.05 * 2**attempt, 2.0))
                sent = await resend()
        for event in events:
            await stream.ack(event)
