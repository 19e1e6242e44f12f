"""What admission and evaluation need of a stream platform, and nothing more.

Batches of consumed messages in, an acknowledgement once what they caused is safe,
and a way to publish. `streams.faust_adapter` is the one implementation on Faust; unit
tests drive the same logic with lists in memory.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from kafka.partitioner.default import murmur2

from vocabulary.internal import Headers


@dataclass(frozen=True, slots=True)
class Consumed:
    """One message as it came off a topic."""

    topic: str  # the name on the broker
    partition: int
    offset: int
    timestamp_ms: int  # when it was produced
    key: bytes | None
    value: bytes | None
    headers: Headers = None
    handle: object = field(default=None, compare=False, repr=False)  # the adapter's own event, to acknowledge


Ack = Callable[[Sequence[Consumed]], Awaitable[None]]
# A message's broker topic name, partition (None: the key's), key, value and headers -> its delivery,
# to await when it matters.
Send = Callable[[str, int | None, bytes | None, bytes, list[tuple[str, bytes]]], Awaitable[Awaitable[object]]]


def partition_of(key: str, partitions: int) -> int:
    """The partition Kafka's default partitioner gives a key (murmur2, as in Java)."""
    return int(murmur2(key.encode()) & 0x7FFFFFFF) % partitions
