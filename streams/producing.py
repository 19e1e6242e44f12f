"""Every producer Faust creates in a lane is idempotent with acks=all (contract section 11).

Faust asks aiokafka for idempotence only inside transactions (faust/transport/drivers/aiokafka.py,
`Producer._settings_extra`), which Centinela does not use: without it, a retried send after a
lost acknowledgement could write a message twice, so the class Faust instantiates is replaced.
"""

from __future__ import annotations

from typing import Any

import aiokafka

_AIOKafkaProducer = aiokafka.AIOKafkaProducer


def use_idempotent_producers() -> None:
    """Make the producers Faust creates in this process idempotent, with acks=all."""

    class IdempotentProducer(_AIOKafkaProducer):  # type: ignore[misc,valid-type]  # aiokafka ships no type information
        def __init__(self, **options: Any) -> None:
            options.update(acks="all", enable_idempotence=True)
            super().__init__(**options)

    aiokafka.AIOKafkaProducer = IdempotentProducer
