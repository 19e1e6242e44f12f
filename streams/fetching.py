"""How long the worker's consumer lets the broker hold a fetch.

Faust hard-codes 1,500 ms (faust/transport/drivers/aiokafka.py). Tansu answers a fetch as
soon as a look at its storage finds data, and until then looks again after half the time
that remains of the wait (tansu-storage/src/service/fetch.rs), so data arriving meanwhile
waits for the next look; a beep crosses two hops. Each look that finds data lists every
batch the broker holds in that partition (tansu-storage/src/dynostore.rs), so the broker's
cost grows with everything produced since it started, and shorter waits mean more looks.
Measured with the streams bench (docs/streams.md): at 20 ms instead of 10 an idle worker
takes a beep to its alert in 22 ms instead of 20 (p50), and with 500 events/s after 50,000
events in the broker the p99 fell from 584-816 ms to 240-423 ms (3 runs each). Camera
motion, which no panic waits for, lets the broker hold its fetches MOTION_FETCH_MAX_WAIT_MS.
"""

from __future__ import annotations

from typing import Any

import aiokafka

from vocabulary.topics import FETCH_MAX_WAIT_MS

MOTION_FETCH_MAX_WAIT_MS = 100

_AIOKafkaConsumer = aiokafka.AIOKafkaConsumer


def use_prompt_fetches(wait_ms: int = FETCH_MAX_WAIT_MS) -> None:
    """Make the consumers Faust creates in this process ask the broker to hold a fetch at most `wait_ms`."""

    class PromptConsumer(_AIOKafkaConsumer):  # type: ignore[misc,valid-type]  # aiokafka ships no type information
        def __init__(self, *topics: Any, **options: Any) -> None:
            options["fetch_max_wait_ms"] = wait_ms
            super().__init__(*topics, **options)

    aiokafka.AIOKafkaConsumer = PromptConsumer
