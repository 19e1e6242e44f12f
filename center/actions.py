"""Operators' actions: published to the internal `zone.events` topic, keyed by zone, for evaluate to apply.

The center never changes an alert itself: evaluate is the alert's only writer, so every
change has one author and one order. The center waits briefly for the resulting snapshot.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from typing import Literal

from aiokafka import AIOKafkaProducer

from alert_rules.city import Token
from center.hub import AlertHub
from center.metrics import CenterMetrics
from streams.ports import partition_of
from vocabulary import internal
from vocabulary.events import Alert, OperatorAction, StepOutcomeName
from vocabulary.topics import ZONE_EVENTS


async def send_to_zone(producer: AIOKafkaProducer, topic: str, zone_id: str, body: bytes, secret: bytes) -> None:
    """Send one command to a zone's partition of zone.events, authenticated for that partition."""
    key = zone_id.encode()
    partition = partition_of(zone_id, len(await producer.partitions_for(topic)))
    await producer.send_and_wait(topic, body, key=key, partition=partition,
                                 headers=internal.headers(secret, ZONE_EVENTS, partition, key, body))


ActionName = Literal["ack", "dispatch", "resolve", "step", "reveal"]


class ActionDesk:
    def __init__(
        self, producer: AIOKafkaProducer, topic: str, hub: AlertHub, metrics: CenterMetrics, secret: bytes,
        wait_s: float = 2.0,
    ) -> None:
        self._producer = producer
        self._secret = secret
        self._topic = topic
        self._hub = hub
        self._metrics = metrics
        self._wait_s = wait_s

    async def submit(
        self,
        alert: Alert,
        action: ActionName,
        by: Token,
        responder: str | None = None,
        disposition: Literal["real", "false_alarm", "test"] | None = None,
        note: str | None = None,
        step: str | None = None,
        outcome: StepOutcomeName | None = None,
    ) -> Alert | None:
        """The alert once the action is applied, or None when it is still pending."""
        request = OperatorAction(
            action_id=uuid.uuid4().hex,
            alert_id=alert.alert_id,
            zone_id=alert.zone_id,
            action=action,
            by=by.name,
            at=datetime.now(UTC),
            responder=responder,
            disposition=disposition,
            note=note,
            step=step,
            outcome=outcome,
        )
        started = time.perf_counter()
        applied = self._hub.expect(alert.alert_id, alert.version)
        try:
            await send_to_zone(self._producer, self._topic, alert.zone_id, request.model_dump_json().encode(),
                               self._secret)
            updated: Alert | None = await asyncio.wait_for(asyncio.shield(applied), self._wait_s)
        except TimeoutError:
            updated = None
        finally:
            applied.cancel()
        if updated is None:
            self._metrics.actions_pending.labels(action=action).inc()
        else:
            self._metrics.action_seconds.labels(action=action).observe(time.perf_counter() - started)
        return updated
