"""Which partitions a topic has, for the center's consumers that read without a consumer group."""

from __future__ import annotations

from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, TopicPartition


async def partitions_of(consumer: AIOKafkaConsumer, names: Iterable[str]) -> list[TopicPartition]:
    """The partitions of the topics `names` (as named on the broker), fresh from the broker; none for a
    topic that does not exist yet.

    A consumer without a subscription asks Kafka for the metadata of no topic (an empty list has meant
    "none" since Metadata v1), so it must be told which topics to track; aiokafka offers that on its client.
    """
    names = list(names)
    for name in names:
        consumer._client.add_topic(name)
    await consumer._client.force_metadata_update()
    return [TopicPartition(name, p) for name in names for p in sorted(consumer.partitions_for_topic(name) or ())]
