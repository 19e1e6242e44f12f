"""The day's welfare call list (contract section 15): every device with a check-in scheduled that day."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from alert_rules.checkins import CheckIn
from center.errors import ApiError, documented
from center.running import Reader, Running
from streams import checkin_days
from vocabulary.events import Timestamp

router = APIRouter(prefix="/api")

DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class Checkin(BaseModel):
    device_id: str
    kind: Literal["panel", "beeper"]
    due: str = Field(description="RFC 3339: `by` that day, in the zone's offset")
    checked_in_at: Timestamp | None = Field(description="the first activity that day, or null")
    alert_id: str | None = Field(description="the day's welfare alert, if one opened")
    # Beyond the contract, for the console: where, and when the alert opens without activity.
    zone_id: str
    deadline: str = Field(description="RFC 3339: `by` + `grace_min` that day, in the zone's offset")


class CheckinList(BaseModel):
    date: str
    checkins: list[Checkin]


@router.get("/checkins", response_model=CheckinList, responses=documented(401, 403, 422))
async def checkins(
    center: Running,
    token: Reader,
    request: Request,
    date: Annotated[date | None, Query(description="YYYY-MM-DD, each device's date in its zone; default today in the city")] = None,
) -> CheckinList:
    if token.role == "responder":
        raise ApiError(403, "the responder role may not read the check-in list")
    given = request.query_params.get("date")
    if given is not None and not DATE.match(given):  # pydantic would also take "0" or a time of day
        raise ApiError(422, f"date must be a calendar date as YYYY-MM-DD, not {given!r}")
    city = center.city
    day = date or datetime.now(ZoneInfo(city.zones[0].timezone if city.zones else "UTC")).date()
    rows = await checkin_days.read(center.redis, day)
    scheduled: list[tuple[Literal["panel", "beeper"], str, str, CheckIn]] = [
        *(("panel", p.id, p.zone, p.checkin) for p in city.panels if p.checkin and p.checkin.scheduled(day)),
        *(("beeper", b.id, b.home_zone, b.checkin) for b in city.beepers if b.checkin and b.checkin.scheduled(day)),
    ]
    found = []
    for kind, device_id, zone_id, checkin in scheduled:
        tz = ZoneInfo(city.zone_by_id[zone_id].timezone)
        row = rows.get(f"{'alarm' if kind == 'panel' else 'beeper'}:{device_id}")
        found.append(Checkin(
            device_id=device_id, kind=kind, due=checkin.due(day, tz).isoformat(),
            checked_in_at=row.checked_in_at if row else None, alert_id=row.alert_id if row else None,
            zone_id=zone_id, deadline=checkin.deadline(day, tz).isoformat()))
    found.sort(key=lambda c: (datetime.fromisoformat(c.due), c.device_id))
    return CheckinList(date=day.isoformat(), checkins=found)
