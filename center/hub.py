"""Fans every stored alert change out to live streams, webhooks and waiting actions.

The feed's Lua script publishes each new snapshot on a Redis channel, so every center
process sharing the Redis sees every change exactly once, whichever process stored it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from redis.asyncio import Redis

from alert_rules.city import Token
from center.metrics import CenterMetrics
from vocabulary.events import Alert

log = logging.getLogger("centinela.center.hub")

Listener = Callable[[Alert], None]


class TooManyStreams(Exception):
    """A live stream over its token's or the process's cap."""


class Subscription:
    """One live stream: the changes its token may see, until the client falls behind."""

    def __init__(self, token: Token, capacity: int) -> None:
        self.token = token
        self.changes: asyncio.Queue[Alert | None] = asyncio.Queue(capacity)

    def offer(self, alert: Alert) -> bool:
        if not self.token.sees(alert.zone_id, alert.category):
            return True
        try:
            self.changes.put_nowait(alert)
        except asyncio.QueueFull:
            return False
        return True

    def close(self) -> None:
        with contextlib.suppress(asyncio.QueueEmpty):
            while self.changes.full():
                self.changes.get_nowait()
        self.changes.put_nowait(None)


class AlertHub:
    def __init__(self, redis: Redis, channel: str, metrics: CenterMetrics, stream_capacity: int = 1000,
                 max_per_token: int = 5, max_total: int = 500) -> None:
        self._redis = redis
        self._channel = channel
        self._metrics = metrics
        self._capacity = stream_capacity
        self._max_per_token = max_per_token
        self._max_total = max_total
        self._subscriptions: set[Subscription] = set()
        self._listeners: list[Listener] = []
        self._waiters: dict[str, list[tuple[int, asyncio.Future[Alert]]]] = {}
        self.listening = asyncio.Event()

    def subscribe(self, token: Token) -> Subscription:
        """A new live stream for `token`; TooManyStreams over a cap."""
        if len(self._subscriptions) >= self._max_total:
            raise TooManyStreams(f"this center already serves {self._max_total} live streams")
        if sum(s.token.token == token.token for s in self._subscriptions) >= self._max_per_token:
            raise TooManyStreams(f"this token already holds {self._max_per_token} live streams")
        subscription = Subscription(token, self._capacity)
        self._subscriptions.add(subscription)
        self._metrics.sse_clients.set(len(self._subscriptions))
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)
        self._metrics.sse_clients.set(len(self._subscriptions))

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def expect(self, alert_id: str, newer_than: int) -> asyncio.Future[Alert]:
        """A future for the alert's next snapshot above `newer_than`; registered at once."""
        waiter: asyncio.Future[Alert] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(alert_id, []).append((newer_than, waiter))
        waiter.add_done_callback(lambda _: self._forget(alert_id, waiter))
        return waiter

    def _forget(self, alert_id: str, waiter: asyncio.Future[Alert]) -> None:
        waiting = [w for w in self._waiters.get(alert_id, []) if w[1] is not waiter]
        if waiting:
            self._waiters[alert_id] = waiting
        else:
            self._waiters.pop(alert_id, None)

    def publish(self, alert: Alert) -> None:
        for subscription in list(self._subscriptions):
            if not subscription.offer(alert):
                log.warning("closing a live stream of %s: it fell behind", subscription.token.name)
                self._metrics.sse_dropped.inc()
                self.unsubscribe(subscription)
                subscription.close()
        for listener in self._listeners:
            listener(alert)
        for newer_than, waiter in list(self._waiters.get(alert.alert_id, [])):
            if alert.version > newer_than and not waiter.done():
                waiter.set_result(alert)

    def close(self) -> None:
        """End every live stream (shutdown): their clients reconnect elsewhere."""
        for subscription in list(self._subscriptions):
            self.unsubscribe(subscription)
            subscription.close()

    async def run(self) -> None:
        while True:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # Redis went away: keep trying, the streams stay open
                self.listening.clear()
                log.warning("alert changes channel lost (%s); resubscribing", type(error).__name__)
                await asyncio.sleep(1)

    async def _listen(self) -> None:
        async with self._redis.pubsub(ignore_subscribe_messages=True) as pubsub:
            await pubsub.subscribe(self._channel)
            self.listening.set()
            while True:
                message = await pubsub.get_message(timeout=5.0)
                if message is None:
                    continue
                try:
                    alert = Alert.model_validate_json(message["data"])
                except ValueError:
                    log.warning("ignoring a malformed alert on the changes channel")
                    continue
                self.publish(alert)
