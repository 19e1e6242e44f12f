"""Puts the receivers' events on their topics and says when the broker has them."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaProducer

from vocabulary import internal
from vocabulary.kafka_security import KafkaSecurity
from vocabulary.topics import named

log = logging.getLogger("centinela.receivers")

# (topic without prefix, key, value): returns once the broker acknowledged the record.
Publish = Callable[[str, str, bytes], Awaitable[None]]
SEND_TIMEOUT_S = 10.0  # a panel waits about 20 s for its ACK before it retransmits


class Publisher:
    def __init__(self, kafka: str, receipts: bytes, security: KafkaSecurity | None = None) -> None:
        self._kafka = kafka
        self._receipts = receipts  # `internal.receipt_key(...)`: each event says, signed, when it was received
        self._security = security or KafkaSecurity()
        self._producer: AIOKafkaProducer | None = None

    async def start(self, retry_s: float = 1.0) -> None:
        """Connect, waiting for the broker as long as it takes (it may start after us)."""
        while True:
            producer = AIOKafkaProducer(
                bootstrap_servers=self._kafka, linger_ms=1, request_timeout_ms=int(SEND_TIMEOUT_S * 1000),
                **self._security.producer(),
            )
            try:
                await producer.start()
            except Exception as error:  # aiokafka raises several types for an unreachable broker
                log.warning("receivers: waiting for Kafka at %s: %s", self._kafka, error)
                await producer.stop()
                await asyncio.sleep(retry_s)
            else:
                self._producer = producer
                return

    async def publish(self, topic: str, key: str, value: bytes) -> None:
        assert self._producer is not None, "start() first"
        encoded = key.encode()
        receipt = internal.receipt_headers(self._receipts, topic, encoded, value, time.time_ns() // 1_000_000)
        await asyncio.wait_for(self._producer.send_and_wait(named(topic), value, key=encoded, headers=receipt),
                               SEND_TIMEOUT_S)

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
