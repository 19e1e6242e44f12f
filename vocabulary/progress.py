"""What the running processes leave for /healthz and /metrics to read, and where.

A lane's progress is its consumer group's committed offsets on the broker (read with the
topics' end offsets: lag, and whether it moves); counts that several processes add to live
in Redis under the keys below; supervisors record each process they run.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from vocabulary import topics

# Each lane is one consumer group reading these topics (streams.app names the groups the same way).
LANE_INPUTS: dict[str, tuple[str, ...]] = {
    "urgent": (topics.BEEPS, topics.ALARMS),
    "motion": (topics.MOTION,),
    "evaluate": (topics.ZONE_EVENTS,),
}
# The lanes that admit or evaluate beeps and alarms: one stalled is an outage (contract section 10).
CRITICAL_LANES = ("urgent", "evaluate")

PROCESSES = "centinela:ops:processes"  # hash: process name -> ProcessRecord JSON
EVENTS = "centinela:metrics:events"  # hash: "topic|outcome" -> count (outcome: admitted, duplicate, a reason)
RECEIVER_REPLIES = "centinela:metrics:receiver-replies"  # hash: "receiver|reply" -> count (ACK, NAK, DUH)


def lane_group(lane: str) -> str:
    """The lane's consumer group (and Faust app id); two systems on one broker keep them apart."""
    return topics.named(f"centinela-{lane}")


def counter_field(*labels: str) -> str:
    return "|".join(labels)


def counter_labels(field: str | bytes) -> list[str]:
    return (field.decode() if isinstance(field, bytes) else field).split("|")


class ProcessRecord(BaseModel):
    """One supervised process, as its supervisor last saw it."""

    state: Literal["running", "starting", "waiting"]  # waiting: dead, restart due after the backoff
    pid: int | None = None
    restarts: int = 0
    last_exit: str = ""  # how it last ended: "code 1", "signal 9"
    since: float  # epoch s of the last change of state
    seen: float  # epoch s of the supervisor's last report: a stale record means the supervisor is gone
