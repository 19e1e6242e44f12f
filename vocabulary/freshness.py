"""Admission's time window for a device's event (contract section 1), which the receivers apply too."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal


def outside(ts: datetime, at: datetime, stale_s: float, future_s: float) -> tuple[Literal["stale", "future"], str] | None:
    """Why an event stamped `ts` and received `at` is outside the window, as (reason, detail); None when inside."""
    age = at - ts
    if age > timedelta(seconds=stale_s):
        return "stale", f"ts is {age.total_seconds():.0f} s old; the limit is {stale_s:.0f} s"
    if -age > timedelta(seconds=future_s):
        return "future", f"ts is {-age.total_seconds():.0f} s ahead; the limit is {future_s:.0f} s"
    return None
