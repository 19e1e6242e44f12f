"""How long a lane's consumer lets the broker hold a fetch that finds nothing.

Faust hard-codes 1,500 ms (faust/transport/drivers/aiokafka.py). Kafka answers a fetch as
soon as one of its partitions has data, but aiokafka sends one fetch per broker at a time
and leaves out of it each partition whose records are still buffered (aiokafka
consumer/fetcher.py, `_get_actions_per_node`): data arriving on such a partition once it is
consumed waits until the fetch in flight for the other, quiet partitions returns, up to the
whole wait, at each of a beep's two hops. Measured with tests/bench/bench_streams.py: see
docs/streams.md. CENTINELA_FETCH_MAX_WAIT_MS sets the urgent and evaluate lanes' wait (to measure).
"""

from __future__ import annotations

import os
from typing import Any

import aiokafka

FETCH_MAX_WAIT_MS = int(os.environ.get("CENTINELA_FETCH_MAX_WAIT_MS") or 10)
MOTION_FETCH_MAX_WAIT_MS = 100  # no panic waits for camera motion

_AIOKafkaConsumer = aiokafka.AIOKafkaConsumer


def use_prompt_fetches(wait_ms: int) -> None:
    """Make the consumers Faust creates in this process ask the broker to hold a fetch at most `wait_ms`."""

    class PromptConsumer(_AIOKafkaConsumer):  # type: ignore[misc,valid-type]  # aiokafka ships no type information
        def __init__(self, *topics: Any, **options: Any) -> None:
            options["fetch_max_wait_ms"] = wait_ms
            super().__init__(*topics, **options)

    aiokafka.AIOKafkaConsumer = PromptConsumer
