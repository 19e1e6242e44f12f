"""Welfare check-ins (contract section 15): a device's daily schedule and what counts as activity.

Pure: a schedule, a zone's time zone and a moment in; days and deadlines out.

    schedule = CheckIn(by="09:00", grace_min=30, days=["mon", "wed"])
    schedule.deadline(date(2026, 12, 7), tz)     # 09:30 that day in the zone, as a UTC datetime
    schedule.next_deadline(after, tz)             # the first deadline strictly after a moment

A wall-clock time that a daylight-saving change skips (02:30 on the day clocks go from
02:00 to 03:00) is read as the first instant after the gap; one that happens twice is the
first of the two.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, model_validator

from alert_rules.rules import WEEKDAYS, Weekday
from vocabulary.events import AlarmSignal, PanicBeep

# Automatic panel signals, not a person (contract section 15): tests and DC-09 link polls, senior
# watch and latch-key, and the 300..399 troubles.
NOT_ACTIVITY_CODES = frozenset({601, 602, 641, 642, *range(300, 400)})
NOT_ACTIVITY_KINDS = frozenset({"heartbeat", "low_battery"})
MAX_GAP_MIN = 24 * 60  # no real time zone skips more than a day


class CheckIn(BaseModel):
    """`checkin:` of a panel or beeper: a sign of life expected by `by`, `grace_min` more allowed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    by: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="HH:MM in the zone's time zone")
    grace_min: Annotated[int, Field(ge=0, le=720)] = Field(30, description="minutes allowed after `by`")
    days: Annotated[list[Weekday], Field(min_length=1)] = Field(
        list(WEEKDAYS), description="weekdays it applies to (mon .. sun); default every day")

    @model_validator(mode="after")
    def _same_day(self) -> CheckIn:
        if self.by_minute + self.grace_min >= 24 * 60:
            raise ValueError(f"by {self.by} plus grace_min {self.grace_min} passes midnight: "
                             "the check-in must fall due on its own day")
        return self

    @property
    def by_minute(self) -> int:
        hours, minutes = self.by.split(":")
        return int(hours) * 60 + int(minutes)

    def scheduled(self, day: date) -> bool:
        return WEEKDAYS[day.weekday()] in self.days

    def due(self, day: date, tz: ZoneInfo) -> datetime:
        """`by` on `day` in the zone, as a moment (in the zone's offset then)."""
        return local_moment(day, self.by_minute, tz)

    def deadline(self, day: date, tz: ZoneInfo) -> datetime:
        """When a day without activity opens a welfare alert: `by` + `grace_min`, on the zone's clock."""
        return local_moment(day, self.by_minute + self.grace_min, tz)

    def next_deadline(self, after: datetime, tz: ZoneInfo) -> tuple[date, datetime]:
        """The first scheduled day whose deadline is strictly after `after`, and that deadline."""
        day = after.astimezone(tz).date() - timedelta(days=1)  # a deadline shifted by a gap may end the day before
        while True:
            if self.scheduled(day):
                deadline = self.deadline(day, tz)
                if deadline > after:
                    return day, deadline
            day += timedelta(days=1)

    def last_deadline(self, upto: datetime, tz: ZoneInfo) -> tuple[date, datetime] | None:
        """The latest scheduled day whose deadline is at or before `upto` (within a week), and that deadline."""
        day = upto.astimezone(tz).date() + timedelta(days=1)
        for _ in range(9):
            if self.scheduled(day):
                deadline = self.deadline(day, tz)
                if deadline <= upto:
                    return day, deadline
            day -= timedelta(days=1)
        return None


def local_moment(day: date, minute: int, tz: ZoneInfo) -> datetime:
    """`day` at `minute` past midnight on the zone's clock; a skipped time gives the first instant after the gap."""
    for late in range(MAX_GAP_MIN):
        wall = datetime.combine(day, time()) + timedelta(minutes=minute + late)
        moment = wall.replace(tzinfo=tz)
        if moment.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == wall:  # this wall time exists
            return moment
    raise ValueError(f"{tz.key} has no wall time within a day after {day} +{minute} min")


def local_day(at: datetime, tz: ZoneInfo) -> date:
    return at.astimezone(tz).date()


def is_activity(event: PanicBeep | AlarmSignal) -> bool:
    """Whether an admitted signal shows a person (contract section 15), not the device by itself."""
    if isinstance(event, PanicBeep):
        return event.kind not in NOT_ACTIVITY_KINDS
    return event.code not in NOT_ACTIVITY_CODES
