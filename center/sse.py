"""Server-Sent Events: the live stream, bounded in number, in what waits for a client, and in time.

Each stream holds at most `queue` changes for its client (`center.hub`); a client that falls
further behind, or takes longer than `send_timeout_s` to take one write, is dropped and
reconnects (its `retry:` says when). A token may hold `max_per_token` streams open, and one
center process `max_total`: more get 429.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import StreamingResponse
from starlette.types import Message, Send

from center.hub import AlertHub, Subscription
from vocabulary.events import Alert

HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class LiveStreamSettings(BaseModel):
    """The `live_streams:` section of the configuration."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_per_token: int = Field(5, gt=0, description="live streams one token may hold open; more get 429")
    max_total: int = Field(500, gt=0, description="live streams open on one center process; more get 429")
    queue: int = Field(1000, gt=0, description="changes waiting for one client; a client further behind is dropped")
    send_timeout_s: float = Field(
        10.0, gt=0, description="a client that takes longer than this to take one write is dropped")


def alert_event(alert: Alert) -> str:
    return f"event: alert\nid: {alert.alert_id}:{alert.version}\ndata: {alert.model_dump_json()}\n\n"


async def alert_events(hub: AlertHub, subscription: Subscription, keepalive_s: float) -> AsyncIterator[str]:
    """Every change the subscription's token may see, with a comment line as keep-alive when all is quiet.

    The subscription is made before the response starts, and the first line says so
    (`: connected`), so that a client that loads the list after that line misses nothing.
    """
    try:
        yield "retry: 2000\n: connected\n\n"
        while True:
            try:
                alert = await asyncio.wait_for(subscription.changes.get(), keepalive_s)
            except TimeoutError:
                yield ": keep-alive\n\n"
                continue
            if alert is None:
                return
            yield alert_event(alert)
    finally:
        hub.unsubscribe(subscription)


class LiveStream(StreamingResponse):
    """A streaming response whose every write must be taken within `send_timeout_s`, else it ends."""

    def __init__(self, events: AsyncIterator[str], send_timeout_s: float) -> None:
        super().__init__(events, media_type="text/event-stream", headers=HEADERS)
        self.events = events
        self.send_timeout_s = send_timeout_s
        self.timed_out = False

    async def stream_response(self, send: Send) -> None:
        async def bounded(message: Message) -> None:
            await asyncio.wait_for(send(message), self.send_timeout_s)

        try:
            await super().stream_response(bounded)
        except TimeoutError:  # the client stopped reading: nothing more is kept for it
            self.timed_out = True
        finally:
            with contextlib.suppress(Exception):
                await self.events.aclose()  # type: ignore[attr-defined]  # an async generator
