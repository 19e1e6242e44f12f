"""Topic names: the contract's and our internal ones, with the configurable common prefix."""

from __future__ import annotations

import os

BEEPS = "devices.beeps"
ALARMS = "devices.alarms"
MOTION = "cameras.motion"
ALERTS = "alerts"
REJECTED = "events.rejected"
ZONE_EVENTS = "zone.events"  # admitted events keyed by zone (internal)
ACTIONS = "alerts.actions"  # operators' actions keyed by zone (internal)

INPUTS = (BEEPS, ALARMS, MOTION)
ALL = (BEEPS, ALARMS, MOTION, ALERTS, REJECTED, ZONE_EVENTS, ACTIONS)


def prefix() -> str:
    return os.environ.get("CENTINELA_TOPIC_PREFIX", "")


def named(topic: str) -> str:
    """The topic's name on the broker."""
    return prefix() + topic
