"""How long the worker's consumer lets the broker hold a fetch that has nothing to return.

Faust hard-codes 1,500 ms (faust/transport/drivers/aiokafka.py). Tansu holds a fetch for
several partitions that long even when data arrives meanwhile (measured: 650 ms median
per hop, against 4 ms at 10 ms), and a beep crosses two hops. A short wait costs an idle
worker about a hundred tiny requests a second, which any broker shrugs off.
"""

from __future__ import annotations

import os
from typing import Any

import aiokafka

FETCH_MAX_WAIT_MS = int(os.environ.get("CENTINELA_FETCH_MAX_WAIT_MS", "10"))

_AIOKafkaConsumer = aiokafka.AIOKafkaConsumer


class PromptConsumer(_AIOKafkaConsumer):  # type: ignore[misc,valid-type]  # aiokafka ships no type information
    def __init__(self, *topics: Any, **options: Any) -> None:
        options["fetch_max_wait_ms"] = FETCH_MAX_WAIT_MS
        super().__init__(*topics, **options)


def use_prompt_fetches() -> None:
    """Make the consumers Faust creates in this process ask for prompt fetches."""
    aiokafka.AIOKafkaConsumer = PromptConsumer
