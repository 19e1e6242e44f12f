"""Server-Sent Events framing for the live stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from alert_rules.city import Token
from center.hub import AlertHub
from vocabulary.events import Alert

HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def alert_event(alert: Alert) -> str:
    return f"event: alert\nid: {alert.alert_id}:{alert.version}\ndata: {alert.model_dump_json()}\n\n"


async def alert_events(hub: AlertHub, token: Token, keepalive_s: float) -> AsyncIterator[str]:
    """Every change the token may see, with a comment line as keep-alive when all is quiet.

    Subscribes when the response starts, then says so (`: connected`), so that a client
    that loads the list after that line misses nothing.
    """
    subscription = hub.subscribe(token)
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
