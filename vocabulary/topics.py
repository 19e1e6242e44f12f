"""Topic names: the contract's and our internal ones, with the configurable common prefix."""

from __future__ import annotations

import os

BEEPS = "devices.beeps"
ALARMS = "devices.alarms"
MOTION = "cameras.motion"
ALERTS = "alerts"
REJECTED = "events.rejected"
# Internal, keyed by zone: everything that may change a zone's alerts (admitted events,
# operators' actions, timer ticks), so that one consumer writes each zone, in one order.
ZONE_EVENTS = "zone.events"

INPUTS = (BEEPS, ALARMS, MOTION)
ALL = (BEEPS, ALARMS, MOTION, ALERTS, REJECTED, ZONE_EVENTS)


def prefix() -> str:
    return os.environ.get("CENTINELA_TOPIC_PREFIX", "")


def named(topic: str) -> str:
    """The topic's name on the broker."""
    return prefix() + topic
