"""The one place where streams writes a message: zone.events, alerts and events.rejected.

Everything goes out as the model's JSON bytes, keyed as given, so that whatever must be
attached to every internal message (a signature header, issue 14) is attached here once.
"""

from __future__ import annotations

from collections.abc import Awaitable

from pydantic import BaseModel

from streams.ports import Send
from vocabulary import topics


class Publisher:
    def __init__(self, send: Send) -> None:
        self.send = send

    async def publish(self, topic: str, key: str | bytes | None, message: BaseModel) -> Awaitable[object]:
        """Queue `message` on `topic` (the contract's name); the result is its delivery."""
        encoded = key.encode() if isinstance(key, str) else key
        return await self.send(topics.named(topic), encoded, message.model_dump_json().encode())
