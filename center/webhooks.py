"""Responders' webhooks: each responder token with a `webhook` gets the alerts it may see.

Each webhook has its own bounded queue and its own task, so a slow or dead endpoint
delays nobody else; when its queue is full the oldest alert is dropped and counted.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections import deque

import httpx

from alert_rules.city import Token
from center.metrics import CenterMetrics
from vocabulary.events import Alert

log = logging.getLogger("centinela.center.webhooks")

SIGNATURE_HEADER = "X-Centinela-Signature"


def signature(key_hex: str, body: bytes) -> str:
    return "sha256=" + hmac.new(bytes.fromhex(key_hex), body, hashlib.sha256).hexdigest()


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
        self._pending: deque[Alert] = deque()
        self._capacity = capacity
        self._attempts = attempts
        self._first_retry_s = first_retry_s
        self._arrived = asyncio.Event()
        self.failing = ""  # why the last alert could not be delivered; empty once one is

    def offer(self, alert: Alert) -> None:
        if not self.token.sees(alert.zone_id, alert.category):
            return
        if len(self._pending) >= self._capacity:
            self._pending.popleft()
            self._metrics.webhook_dropped.labels(responder=self.token.name).inc()
        self._pending.append(alert)
        self._arrived.set()

    @property
    def queued(self) -> int:
        return len(self._pending)

    async def run(self) -> None:
        while True:
            await self._arrived.wait()
            self._arrived.clear()
            while self._pending:
                await self._deliver(self._pending.popleft())

    async def _deliver(self, alert: Alert) -> None:
        body = alert.model_dump_json().encode()
        headers = {"Content-Type": "application/json"}
        if self.token.webhook_key:
            headers[SIGNATURE_HEADER] = signature(self.token.webhook_key, body)
        delay = self._first_retry_s
        for attempt in range(1, self._attempts + 1):
            try:
                answer = await self._client.post(self.token.webhook or "", content=body, headers=headers)
                if answer.is_success:
                    self._metrics.webhook_deliveries.labels(responder=self.token.name, outcome="delivered").inc()
                    self.failing = ""
                    return
                problem = f"HTTP {answer.status_code}"
            except httpx.HTTPError as error:
                problem = type(error).__name__
            if attempt < self._attempts:
                log.debug("webhook of %s failed (%s); retrying in %.1f s", self.token.name, problem, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
        log.warning("webhook of %s gave up on alert %s (%s)", self.token.name, alert.alert_id, problem)
        self.failing = f"gave up on alert {alert.alert_id} after {self._attempts} attempts ({problem})"
        self._metrics.webhook_deliveries.labels(responder=self.token.name, outcome="failed").inc()
