"""Responders' webhooks: each responder token with a `webhook` gets the alerts it may see.

Each webhook has its own bounded queue and its own task, so a slow or dead endpoint
delays nobody else. The queue holds one entry per alert (a newer snapshot replaces the
queued one); when it is full the least urgent, oldest alert is dropped and counted, so a
priority-1 alert is dropped only when every queued alert is a priority 1.

A delivery with a `webhook_key` is signed over a timestamp and the body
(docs/center.md says how a receiver verifies it), so an old delivery cannot be replayed.
"""

from __future__ import annotations

import asyncio
import logging
import time

import httpx

from alert_rules.city import Token
from center.metrics import CenterMetrics
from vocabulary.events import Alert
from vocabulary.signing import delivery_headers

log = logging.getLogger("centinela.center.webhooks")


class Webhook:
    def __init__(
        self,
        token: Token,
        client: httpx.AsyncClient,
        metrics: CenterMetrics,
        capacity: int = 200,
        attempts: int = 6,
        first_retry_s: float = 0.5,
    ) -> None:
        assert token.webhook, "only tokens with a webhook URL"
        self.token = token
        self._client = client
        self._metrics = metrics
        self._pending: dict[str, Alert] = {}  # alert id -> its newest snapshot, in the order they came
        self._capacity = capacity
        self._attempts = attempts
        self._first_retry_s = first_retry_s
        self._arrived = asyncio.Event()
        self.failing = ""  # why the last alert could not be delivered; empty once one is

    def offer(self, alert: Alert) -> None:
        if not self.token.sees(alert.zone_id, alert.category):
            return
        queued = self._pending.get(alert.alert_id)
        if queued is not None:
            if alert.version > queued.version:
                self._pending[alert.alert_id] = alert
            return
        if len(self._pending) >= self._capacity:
            victim = max(self._pending.values(), key=lambda a: a.priority)  # the first of the least urgent
            if alert.priority > victim.priority:  # the newcomer is the least urgent of all
                self._dropped()
                return
            del self._pending[victim.alert_id]
            self._dropped()
        self._pending[alert.alert_id] = alert
        self._arrived.set()

    @property
    def queued(self) -> int:
        return len(self._pending)

    def _dropped(self) -> None:
        self._metrics.webhook_dropped.labels(role=self.token.role).inc()

    async def run(self) -> None:
        while True:
            await self._arrived.wait()
            self._arrived.clear()
            while self._pending:
                alert = self._pending.pop(next(iter(self._pending)))
                try:
                    await self._deliver(alert)
                except Exception:  # one delivery must never end the webhook's task
                    log.exception("webhook of a %s token: delivery of alert %s failed", self.token.role, alert.alert_id)
                    self._metrics.webhook_deliveries.labels(role=self.token.role, outcome="failed").inc()

    async def _deliver(self, alert: Alert) -> None:
        body = alert.model_dump_json().encode()
        delay = self._first_retry_s
        problem = "not tried"
        for attempt in range(1, self._attempts + 1):
            try:
                answer = await self._client.post(self.token.webhook or "", content=body, headers=self._headers(body))
                if answer.is_success:
                    self._metrics.webhook_deliveries.labels(role=self.token.role, outcome="delivered").inc()
                    self.failing = ""
                    return
                problem = f"HTTP {answer.status_code}"
            except Exception as error:  # any failure of one attempt: try again later
                problem = type(error).__name__
            if attempt < self._attempts:
                log.debug("webhook of %s failed (%s); retrying in %.1f s", self.token.name, problem, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
        log.warning("webhook of %s gave up on alert %s (%s)", self.token.name, alert.alert_id, problem)
        self.failing = f"the last alert was not delivered after {self._attempts} attempts ({problem})"
        self._metrics.webhook_deliveries.labels(role=self.token.role, outcome="failed").inc()

    def _headers(self, body: bytes) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.token.webhook_key:
            # stamped at each attempt: a receiver may refuse old ones
            headers.update(delivery_headers(self.token.webhook_key, str(int(time.time())), body))
        return headers
