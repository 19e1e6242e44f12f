"""A lane's progress record, and when its worker judges it stalled."""

from __future__ import annotations

import json

from streams.health import STARTUP_S, LaneProgress, stall_reason
from streams.ports import Consumed

STALL_S = 30.0


def message(partition: int, offset: int) -> Consumed:
    return Consumed("devices.beeps", partition, offset, 0, None, b"{}")


def test_lag_counts_from_what_was_handled_else_from_the_consumers_position() -> None:
    progress = LaneProgress("urgent", now=100.0)
    progress.handled([message(0, 4), message(0, 5)], now=110.0)
    record = progress.record({("devices.beeps", 0): 9, ("devices.beeps", 1): 3, ("devices.beeps", 2): 7},
                             {("devices.beeps", 1): 3, ("devices.beeps", 2): None}, now=115.0)
    assert json.loads(record["lag"]) == {"devices.beeps/0": 3, "devices.beeps/1": 0}
    assert record["waiting"] == "3" and record["applied_at"] == "110.000" and record["lane"] == "urgent"


def test_an_end_offset_below_what_was_handled_is_no_lag() -> None:
    progress = LaneProgress("evaluate", now=0.0)
    progress.handled([message(0, 9)], now=1.0)  # a broker may report the end of a partition too low
    assert progress.record({("devices.beeps", 0): 8}, {}, now=2.0)["waiting"] == "0"


def record(waiting: int, applied_at: float, checked_at: float, since: float = 0.0, holding: bool = False) -> dict[str, str]:
    return {"waiting": str(waiting), "applied_at": str(applied_at), "checked_at": str(checked_at),
            "since": str(since), "holding": "1" if holding else "0"}


def test_input_waiting_with_nothing_applied_for_stall_s_is_a_stall() -> None:
    assert stall_reason(record(5, applied_at=100, checked_at=139), 0, now=140, stall_s=STALL_S) is not None
    assert stall_reason(record(5, applied_at=120, checked_at=139), 0, now=140, stall_s=STALL_S) is None
    assert stall_reason(record(0, applied_at=0, checked_at=139), 0, now=140, stall_s=STALL_S) is None, "idle is fine"


def test_a_new_assignment_or_a_wait_on_purpose_is_not_a_stall() -> None:
    assert stall_reason(record(5, applied_at=0, checked_at=139, since=120), 0, now=140, stall_s=STALL_S) is None
    assert stall_reason(record(5, applied_at=0, checked_at=139, holding=True), 0, now=140, stall_s=STALL_S) is None


def test_a_lane_that_stops_reporting_or_never_reports_is_stalled() -> None:
    assert "reported" in str(stall_reason(record(0, applied_at=0, checked_at=100), 0, now=140, stall_s=STALL_S))
    assert stall_reason(record(0, applied_at=0, checked_at=109), 0, now=140, stall_s=STALL_S) is None, \
        "a report a little late (its consumer thread was in a fetch) is not a stall"
    assert stall_reason({}, started_at=100, now=100 + STALL_S, stall_s=STALL_S) is None, "it may still be joining"
    assert stall_reason({}, started_at=100, now=101 + STALL_S + STARTUP_S, stall_s=STALL_S) is not None
