"""The center's reports (contract section 13), computed in PostgreSQL from the current alerts.

An alert belongs to a report when its `opened_at` is in [from, to), and to the zone and category
of its latest version. Ack, dispatch and resolve times run from `opened_at` to the `updated_at`
of the alert's first version acknowledged (or later), dispatched, resolved (kept on its current
row by history.store). Percentiles are PostgreSQL's `percentile_cont` (linear between closest
ranks); a percentile of no values is null. Seconds are rounded to the millisecond.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from alert_rules.city import City
from alert_rules.rules import Rules
from vocabulary.errors import UsageError
from vocabulary.events import format_timestamp, parse_timestamp

DEFAULT_DAYS = 30
# For psycopg's connect(): the reports sort a period's times in memory, not on disk (a year of a million
# alerts sorts about 150 MB by priority), and skip the JIT compile (hundreds of ms a query, more than it saves).
SESSION_OPTIONS = "-c work_mem=256MB -c jit=off"
DISPOSITIONS = ("real", "false_alarm", "test")
PRIORITIES = range(1, 6)  # an Alert's priority is 1..5
READERS = 4  # connections a report opens for its queries


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime

    @classmethod
    def parse(cls, start: str | None, end: str | None, now: datetime | None = None) -> Period:
        """`to` defaults to now, `from` to 30 days before `to`; UsageError names what is wrong."""
        to = _instant("to", end) if end else (now or datetime.now(UTC))
        since = _instant("from", start) if start else to - timedelta(days=DEFAULT_DAYS)
        if since >= to:
            raise UsageError("from must be before to")
        return cls(since, to)

    def body(self) -> dict[str, str]:
        return {"from": format_timestamp(self.start), "to": format_timestamp(self.end)}


def _instant(name: str, text: str) -> datetime:
    try:
        return parse_timestamp(text)
    except ValueError as error:
        raise UsageError(f"{name}: {error}") from None


@dataclass(frozen=True)
class Calendar:
    """What the reports need from the configuration: each zone's time zone and escalation deadlines."""

    timezones: dict[str, str]  # zone -> IANA name; other zones: UTC
    deadlines: dict[tuple[str, int], float | None]  # (zone, priority) -> seconds; None: that priority never escalates
    default_deadlines: dict[int, float | None]  # for zones not configured

    @classmethod
    def of(cls, city: City, rules: Rules) -> Calendar:
        return cls(
            timezones={z.id: z.timezone for z in city.zones},
            deadlines={(z.id, p): rules.for_zone(z.id, z.timezone).escalation_s[p]
                       for z in city.zones for p in range(1, 6)},
            default_deadlines={p: rules.escalation_s.get(p) for p in range(1, 6)},
        )

    def parameters(self) -> dict[str, Any]:
        """Time zones as two parallel arrays, which the queries look a zone up in."""
        return {"tz_zones": list(self.timezones), "tz_names": list(self.timezones.values())}

    def deadlines_of(self, priority: int) -> dict[str, Any]:
        """One priority's deadlines, as two parallel arrays (dl_zones, dl_seconds; a null: that zone's alerts
        of that priority never escalate) and the city's for any other zone (default_s)."""
        zones = sorted({zone for zone, _ in self.deadlines})
        return {"priority": priority, "dl_zones": zones,
                "dl_seconds": [_seconds(self.deadlines[(zone, priority)]) for zone in zones],
                "default_s": _seconds(self.default_deadlines.get(priority))}


def _seconds(value: float | None) -> float | None:
    return None if value is None else float(value)  # one type per array: YAML gives ints and floats


# The period's alerts (the zone and category filters apply only where given).
PERIOD = """opened_at >= %(start)s AND opened_at < %(end)s
      AND (%(zone)s::text IS NULL OR zone_id = %(zone)s)
      AND (%(category)s::text IS NULL OR category = %(category)s)"""


def _percentiles(column: str) -> str:
    return (f"round(percentile_cont(0.5) WITHIN GROUP (ORDER BY {column})::numeric, 3)::float8 AS {column}_p50, "
            f"round(percentile_cont(0.9) WITHIN GROUP (ORDER BY {column})::numeric, 3)::float8 AS {column}_p90, "
            f"round(max({column})::numeric, 3)::float8 AS {column}_max")


# One priority: a range of the index alerts (priority, opened_at). The deadline is the zone's own for that
# priority, else the city's (for a zone no longer configured): a hash join with the zones' few deadlines,
# cheaper per row than looking the zone up in an array.
ONE_PRIORITY = f"""
SELECT priority, count(*) AS alerts, count(ack_s) AS acknowledged,
       {_percentiles('ack_s')}, {_percentiles('dispatch_s')}, {_percentiles('resolve_s')},
       count(*) FILTER (WHERE deadline_s IS NOT NULL) AS with_deadline,
       count(*) FILTER (WHERE ack_s <= deadline_s) AS within,
       count(*) FILTER (WHERE status = 'resolved' AND disposition = 'real') AS real,
       count(*) FILTER (WHERE status = 'resolved' AND disposition = 'false_alarm') AS false_alarm,
       count(*) FILTER (WHERE status = 'resolved' AND disposition = 'test') AS test,
       count(*) FILTER (WHERE status <> 'resolved') AS unresolved
FROM (SELECT priority, status, disposition, ack_s, dispatch_s, resolve_s,
             CASE WHEN d.zone IS NULL THEN %(default_s)s::float8 ELSE d.seconds END AS deadline_s
      FROM alerts
      LEFT JOIN unnest(%(dl_zones)s::text[], %(dl_seconds)s::float8[]) AS d(zone, seconds) ON d.zone = zone_id
      WHERE priority = %(priority)s AND {PERIOD}) AS judged
GROUP BY priority
"""

# In the order of the index alerts (zone_id, opened_at): no sort but the percentile's.
BY_ZONE = f"""
SELECT zone_id, count(*) AS alerts,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ack_s)::numeric, 3)::float8 AS ack_p50_s
FROM alerts WHERE {PERIOD} GROUP BY zone_id
"""

# Each zone's alerts are counted per UTC quarter hour (an index range in time order), and only the quarters
# are turned into the zone's local time: a time zone's offset is a whole number of quarter hours (every
# offset in use since 1972), so a quarter lies within one offset. The zones are every zone in the history,
# found by one index probe each (a loose index scan), not by reading the period.
BY_HOUR = """
WITH RECURSIVE zones AS (
    SELECT min(zone_id) AS zone_id FROM alerts
    UNION ALL
    SELECT (SELECT min(zone_id) FROM alerts WHERE zone_id > zones.zone_id) FROM zones WHERE zones.zone_id IS NOT NULL)
SELECT date_part('hour', q.quarter AT TIME ZONE coalesce(t.tz, 'UTC'))::int AS hour, sum(q.alerts)::bigint AS alerts
FROM zones
LEFT JOIN unnest(%(tz_zones)s::text[], %(tz_names)s::text[]) AS t(zone_id, tz) ON t.zone_id = zones.zone_id
CROSS JOIN LATERAL (
    SELECT date_bin('15 minutes', a.opened_at, '2000-01-01 00:00:00+00') AS quarter, count(*) AS alerts
    FROM alerts a
    WHERE a.zone_id = zones.zone_id AND a.opened_at >= %(start)s AND a.opened_at < %(end)s
      AND (%(category)s::text IS NULL OR a.category = %(category)s)
    GROUP BY 1) AS q
WHERE zones.zone_id IS NOT NULL AND (%(zone)s::text IS NULL OR zones.zone_id = %(zone)s)
GROUP BY 1
"""

FALSE_ALARMS = f"""
SELECT source_kind AS kind, source_id AS id, count(*) AS alerts,
       count(*) FILTER (WHERE status = 'resolved') AS resolved,
       count(*) FILTER (WHERE status = 'resolved' AND disposition = 'false_alarm') AS false_alarm
FROM alerts WHERE {PERIOD} GROUP BY source_kind, source_id HAVING count(*) >= %(min_alerts)s
"""

# Every version carries its alert's opened_at, so an action's period needs no join with `alerts`; the partial
# index alert_versions_actions (opened_at) holds exactly these versions.
OPERATOR_ACTIONS = """
SELECT changed_by AS name,
       count(*) FILTER (WHERE change = 'acknowledged') AS acknowledged,
       count(*) FILTER (WHERE change = 'dispatched') AS dispatched,
       count(*) FILTER (WHERE change = 'resolved') AS resolved,
       count(*) FILTER (WHERE change = 'step') AS steps
FROM alert_versions
WHERE opened_at >= %(start)s AND opened_at < %(end)s
  AND change IN ('acknowledged', 'dispatched', 'resolved', 'step') AND changed_by <> 'system'
GROUP BY changed_by
"""

# In the order of the index alerts (ack_by, opened_at).
OPERATOR_ACKS = f"""
SELECT ack_by AS name,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ack_s)::numeric, 3)::float8 AS ack_p50_s
FROM alerts WHERE {PERIOD} AND ack_by IS NOT NULL AND ack_by <> 'system' GROUP BY ack_by
"""


def _parameters(period: Period, calendar: Calendar, zone: str | None = None, category: str | None = None,
                **more: Any) -> dict[str, Any]:
    return {**calendar.parameters(), "start": period.start, "end": period.end, "zone": zone,
            "category": category, **more}


async def _rows(connection: psycopg.AsyncConnection, sql: str, parameters: Mapping[str, Any]) -> list[dict[str, Any]]:
    async with connection.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(sql.encode(), parameters)
        return await cursor.fetchall()


def reading_pool(url: str, size: int = READERS, timeout_s: float = 3.0) -> AsyncConnectionPool:
    """Connections for the reports (opened by the caller: `async with reading_pool(url) as pool`). A report's
    queries run side by side, each on its own connection and so its own server process: every one is an
    index range and a sort, so on two cores a report takes about half the time of one query after another.
    `timeout_s` bounds the wait for a connection, also while the server does not answer (PoolTimeout)."""
    return AsyncConnectionPool(url, min_size=size, max_size=size, timeout=timeout_s, open=False,
                               kwargs={"autocommit": True, "options": SESSION_OPTIONS, "connect_timeout": 3})


async def _side_by_side(pool: AsyncConnectionPool, *queries: tuple[str, Mapping[str, Any]]) -> list[list[dict[str, Any]]]:
    async def run(sql: str, parameters: Mapping[str, Any]) -> list[dict[str, Any]]:
        async with pool.connection() as connection:
            return await _rows(connection, sql, parameters)

    return list(await asyncio.gather(*(run(sql, parameters) for sql, parameters in queries)))


def _times(row: Mapping[str, Any], column: str) -> dict[str, float | None]:
    return {"p50": row[f"{column}_p50"], "p90": row[f"{column}_p90"], "max": row[f"{column}_max"]}


def priority_entry(row: Mapping[str, Any]) -> dict[str, Any]:
    """One priority's figures; within_deadline over the alerts whose zone has a deadline for it."""
    with_deadline = row["with_deadline"]
    return {
        "alerts": row["alerts"], "acknowledged": row["acknowledged"],
        "ack_s": _times(row, "ack_s"), "dispatch_s": _times(row, "dispatch_s"), "resolve_s": _times(row, "resolve_s"),
        "within_deadline": row["within"] / with_deadline if with_deadline else None,
    }


def hours(rows: Sequence[Mapping[str, Any]]) -> list[int]:
    counts = [0] * 24
    for row in rows:
        counts[row["hour"]] = row["alerts"]
    return counts


async def response(pool: AsyncConnectionPool, period: Period, calendar: Calendar,
                   zone: str | None = None, category: str | None = None) -> dict[str, Any]:
    parameters = _parameters(period, calendar, zone, category)
    # The longest first: the pool takes them in order.
    by_hour, by_zone, *each_priority = await _side_by_side(
        pool, (BY_HOUR, parameters), (BY_ZONE, parameters),
        *((ONE_PRIORITY, {**parameters, **calendar.deadlines_of(p)}) for p in PRIORITIES))
    by_priority = [row for rows in each_priority for row in rows]
    by_zone.sort(key=lambda row: row["zone_id"])  # by code point, as the collation "C" sorts
    return {
        **period.body(),
        "alerts": sum(row["alerts"] for row in by_priority),
        "by_priority": {str(row["priority"]): priority_entry(row) for row in by_priority},
        "dispositions": {name: sum(row[name] for row in by_priority) for name in (*DISPOSITIONS, "unresolved")},
        "by_zone": {row["zone_id"]: {"alerts": row["alerts"], "ack_p50_s": row["ack_p50_s"]} for row in by_zone},
        "by_hour": hours(by_hour),
    }


def rank_sources(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Highest false-alarm rate first (a source never resolved has no rate: last), then most alerts."""
    sources = [{**row, "rate": row["false_alarm"] / row["resolved"] if row["resolved"] else None} for row in rows]
    sources.sort(key=lambda s: (s["rate"] is None, -(s["rate"] or 0.0), -s["alerts"], s["kind"], s["id"]))
    return [{key: s[key] for key in ("kind", "id", "alerts", "resolved", "false_alarm", "rate")} for s in sources]


async def false_alarms(pool: AsyncConnectionPool, period: Period, calendar: Calendar,
                       min_alerts: int = 3) -> dict[str, Any]:
    [rows] = await _side_by_side(pool, (FALSE_ALARMS, _parameters(period, calendar, min_alerts=min_alerts)))
    return {**period.body(), "sources": rank_sources(rows)}


def merge_operators(actions: Sequence[Mapping[str, Any]], acks: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One entry per name that acted or acknowledged, by name."""
    p50 = {row["name"]: row["ack_p50_s"] for row in acks}
    counted = {row["name"]: row for row in actions}
    return [{"name": name, **{c: (counted[name][c] if name in counted else 0)
                              for c in ("acknowledged", "dispatched", "resolved", "steps")},
             "ack_p50_s": p50.get(name)}
            for name in sorted(set(p50) | set(counted))]


async def operators(pool: AsyncConnectionPool, period: Period, calendar: Calendar) -> dict[str, Any]:
    parameters = _parameters(period, calendar)
    actions, acks = await _side_by_side(pool, (OPERATOR_ACTIONS, parameters), (OPERATOR_ACKS, parameters))
    return {**period.body(), "operators": merge_operators(actions, acks)}


# ---- CSV: one table per report ------------------------------------------------------------------

def response_csv(report: Mapping[str, Any]) -> str:
    header = ["priority", "alerts", "acknowledged"]
    for kind in ("ack_s", "dispatch_s", "resolve_s"):
        header += [f"{kind}_p50", f"{kind}_p90", f"{kind}_max"]
    rows: list[list[Any]] = []
    for priority, entry in report["by_priority"].items():
        row = [priority, entry["alerts"], entry["acknowledged"]]
        for kind in ("ack_s", "dispatch_s", "resolve_s"):
            row += [entry[kind]["p50"], entry[kind]["p90"], entry[kind]["max"]]
        rows.append([*row, entry["within_deadline"]])
    return _csv([*header, "within_deadline"], rows)


def false_alarms_csv(report: Mapping[str, Any]) -> str:
    columns = ["kind", "id", "alerts", "resolved", "false_alarm", "rate"]
    return _csv(columns, [[s[c] for c in columns] for s in report["sources"]])


def operators_csv(report: Mapping[str, Any]) -> str:
    columns = ["name", "acknowledged", "dispatched", "resolved", "steps", "ack_p50_s"]
    return _csv(columns, [[o[c] for c in columns] for o in report["operators"]])


def _csv(header: list[str], rows: list[list[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([["" if value is None else value for value in row] for row in rows])
    return out.getvalue()
