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

# How long a consumer on a panic's path (the urgent and evaluate lanes, the center's feed) lets
# the broker hold a fetch: streams/fetching.py says why, docs/streams.md and docs/center.md measure it.
FETCH_MAX_WAIT_MS = int(os.environ.get("CENTINELA_FETCH_MAX_WAIT_MS", "20"))


def prefix() -> str:
    return os.environ.get("CENTINELA_TOPIC_PREFIX", "")


def named(topic: str) -> str:
    """The topic's name on the broker."""
    return prefix() + topic
