"""The day's check-ins as the center reads them (contract section 15): one Redis hash per local date.

Evaluation writes, after each save, the row of every scheduled device of the saved zones
(`RuleEngine.checkin_days`): the device's first activity that day and its welfare alert. The
rows are derived from the saved states, so writing one again after a crash writes the same.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import cast

from pydantic import BaseModel
from redis.asyncio import Redis

from alert_rules.engine import CheckinDay
from vocabulary import topics

KEY = "centinela:checkins:{prefix}{day}"  # field "kind:device_id" -> CheckinRow's JSON
KEEP_S = 40 * 86400  # a day's call list is kept this long after its last change


class CheckinRow(BaseModel):
    checked_in_at: datetime | None
    alert_id: str | None


def key(day: date) -> str:
    return KEY.format(prefix=topics.prefix(), day=day.isoformat())


async def record(redis: Redis, days: Iterable[CheckinDay]) -> None:
    """Write the rows; one round trip."""
    pipeline = redis.pipeline(transaction=False)
    touched: set[str] = set()
    for day in days:
        name = key(day.day)
        row = CheckinRow(checked_in_at=day.checked_in_at, alert_id=day.alert_id)
        pipeline.hset(name, f"{day.kind}:{day.device_id}", row.model_dump_json())
        touched.add(name)
    if touched:
        for name in touched:
            pipeline.expire(name, KEEP_S)
        await pipeline.execute()


async def read(redis: Redis, day: date) -> dict[str, CheckinRow]:
    """The rows of a local date, by "kind:device_id" (kind: alarm or beeper)."""
    found = cast(dict[bytes, bytes], await redis.hgetall(key(day)))
    return {field.decode(): CheckinRow.model_validate_json(value) for field, value in found.items()}
