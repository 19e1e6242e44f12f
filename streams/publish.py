"""The one place where streams writes a message: zone.events, alerts and events.rejected.

Everything goes out as the model's JSON bytes, keyed as given. What Centinela writes to its
internal topics, zone.events and alerts, carries the MAC of contract section 9 under the
internal key (`vocabulary.internal`): it is attached here, once, for every such message, with
the partition it is sent to (the one Kafka's default partitioner gives its key), so that a copy
in another partition is refused.
"""

from __future__ import annotations

from collections.abc import Awaitable

from pydantic import BaseModel

from streams.ports import Send, partition_of
from vocabulary import internal, topics

SIGNED = (topics.ZONE_EVENTS, topics.ALERTS)


class Publisher:
    def __init__(self, send: Send, secret: bytes, partitions: int) -> None:
        self.send = send
        self.secret = secret  # the internal key
        self.partitions = partitions  # of zone.events and alerts
        self.signer = internal.Signer(secret)

    async def publish(self, topic: str, key: str | bytes | None, message: BaseModel) -> Awaitable[object]:
        """Queue `message` on `topic` (the contract's name); the result is its delivery."""
        encoded = key.encode() if isinstance(key, str) else key
        body = message.model_dump_json().encode()
        if topic not in SIGNED or encoded is None:
            return await self.send(topics.named(topic), None, encoded, body, [])
        partition = partition_of(encoded.decode(), self.partitions)
        return await self.send(topics.named(topic), partition, encoded, body,
                               self.signer.headers(topic, partition, encoded, body))
