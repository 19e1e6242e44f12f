"""Faust codecs for the messages we write: a pydantic model in, its JSON bytes out, and back.

Inputs from devices are not decoded by a codec: admission needs their exact bytes, to
keep a rejected one whole.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from faust.serializers import codecs
from pydantic import BaseModel

from alert_rules.rules import SilenceCommand
from vocabulary.events import Alert, Contract, Id, OperatorAction, Rejected, Timestamp, ZoneEvent

ALERT = "centinela.alert"
REJECTED = "centinela.rejected"
ZONE = "centinela.zone"  # zone.events: admitted events, operators' actions, silence commands, timer ticks


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


class ModelCodec(codecs.Codec):
    """Writes any of our models as JSON; reads with the parser given for the topic."""

    def __init__(self, parse: Callable[[bytes], Any], **kwargs: Any) -> None:
        super().__init__(parse=parse, **kwargs)
        self.parse = parse

    def _dumps(self, obj: BaseModel) -> bytes:
        return obj.model_dump_json().encode()

    def _loads(self, s: bytes) -> Any:
        return self.parse(s)


def register() -> None:
    codecs.register(ALERT, ModelCodec(Alert.model_validate_json))
    codecs.register(REJECTED, ModelCodec(Rejected.model_validate_json))
    codecs.register(ZONE, ModelCodec(decode_zone_items))
