"""What travels on zone.events, and how a message of it is read back.

Every message is one of `ZoneMessage`, told apart by its `type`: admitted events (from
admission), operators' actions and silence commands (from the center), timer ticks (from
evaluation itself).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, TypeAdapter

from alert_rules.rules import SilenceCommand
from vocabulary.events import Contract, Id, OperatorAction, Timestamp, ZoneEvent


class Tick(Contract):
    """Wakes a zone's timers (supervision, escalation) at `at`."""

    type: Literal["tick"] = "tick"
    tick: Id
    at: Timestamp


class ZoneBatch(Contract):
    """The events one admission batch admitted for one zone, in order: one message, not hundreds."""

    type: Literal["zone_batch"] = "zone_batch"
    zone_id: Id
    events: list[ZoneEvent]


ZoneItem = ZoneEvent | OperatorAction | SilenceCommand | Tick
ZoneMessage = Annotated[ZoneBatch | OperatorAction | SilenceCommand | Tick, Field(discriminator="type")]
ZONE_MESSAGE: TypeAdapter[ZoneBatch | OperatorAction | SilenceCommand | Tick] = TypeAdapter(ZoneMessage)


def decode_zone_items(raw: bytes) -> list[ZoneItem]:
    """The items of one zone.events message, in the order they are to be applied."""
    message = ZONE_MESSAGE.validate_json(raw)
    return list(message.events) if isinstance(message, ZoneBatch) else [message]
