"""What travels on zone.events, and how a message of it is read back."""

from __future__ import annotations

import json

from alert_rules.rules import SilenceCommand
from vocabulary.events import Contract, Id, OperatorAction, Timestamp, ZoneEvent


class Tick(Contract):
    """Wakes a zone's timers (supervision, escalation) at `at`."""

    tick: Id
    at: Timestamp


class ZoneBatch(Contract):
    """The events one admission batch admitted for one zone, in order: one message, not hundreds."""

    zone_id: Id
    events: list[ZoneEvent]


ZoneItem = ZoneEvent | OperatorAction | SilenceCommand | Tick


def decode_zone_items(raw: bytes) -> list[ZoneItem]:
    """The items of one zone.events message, in the order they are to be applied."""
    data = json.loads(raw)
    if "events" in data:
        return list(ZoneBatch.model_validate(data).events)
    if "tick" in data:
        return [Tick.model_validate(data)]
    if "action_id" in data:
        return [OperatorAction.model_validate(data)]
    if "silence_command" in data:
        return [SilenceCommand.model_validate(data)]
    raise ValueError("not a zone.events message")
