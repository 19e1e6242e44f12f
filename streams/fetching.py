"""How long the worker's consumer lets the broker hold a fetch that has nothing to return.

Faust hard-codes 1,500 ms (faust/transport/drivers/aiokafka.py). Tansu holds a fetch for
several partitions that long even when data arrives meanwhile (measured: 650 ms median
per hop, against 4 ms at 10 ms), and a beep crosses two hops. A short wait costs an idle
lane about a hundred tiny requests a second; the broker's CPU for them is not free on a
shared machine (measured: Tansu at 21 % of a core for an idle worker's three lanes at
10 ms), so only the lanes a panic crosses wait so little: camera motion, which no panic
waits for, lets the broker hold its fetches MOTION_FETCH_MAX_WAIT_MS.
"""

from __future__ import annotations

import os
from typing import Any

import aiokafka

FETCH_MAX_WAIT_MS = int(os.environ.get("CENTINELA_FETCH_MAX_WAIT_MS", "10"))
MOTION_FETCH_MAX_WAIT_MS = 100

_AIOKafkaConsumer = aiokafka.AIOKafkaConsumer


def use_prompt_fetches(wait_ms: int = FETCH_MAX_WAIT_MS) -> None:
    """Make the consumers Faust creates in this process ask the broker to hold a fetch at most `wait_ms`."""

    class PromptConsumer(_AIOKafkaConsumer):  # type: ignore[misc,valid-type]  # aiokafka ships no type information
        def __init__(self, *topics: Any, **options: Any) -> None:
            options["fetch_max_wait_ms"] = wait_ms
            super().__init__(*topics, **options)

    aiokafka.AIOKafkaConsumer = PromptConsumer
