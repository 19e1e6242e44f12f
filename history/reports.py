"""The center's reports (contract section 13), computed in PostgreSQL from the current alerts.

An alert belongs to a report when its `opened_at` is in [from, to), and to the zone and category
of its latest version. Ack, dispatch and resolve times run from `opened_at` to the `updated_at`
of the alert's first version acknowledged (or later), dispatched, resolved (kept on its current
row by history.store). Percentiles are PostgreSQL's `percentile_cont` (linear between closest
ranks); a percentile of no values is null. Seconds are rounded to the millisecond.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from alert_rules.city import City
from alert_rules.rules import Rules
from vocabulary.errors import UsageError
from vocabulary.events import format_timestamp, parse_timestamp

DEFAULT_DAYS = 30
# For psycopg's connect(): the reports sort a period's times in memory, not on disk (a year of a million
# alerts sorts about 150 MB by priority), and skip the JIT compile (hundreds of ms a query, more than it saves).
SESSION_OPTIONS = "-c work_mem=256MB -c jit=off"
DISPOSITIONS = ("real", "false_alarm", "test")
OPERATOR_CHANGES = ("acknowledged", "dispatched", "resolved", "step")
PRIORITIES = range(1, 6)  # an Alert's priority is 1..5


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
        """Deadlines as flat arrays the query indexes by priority: dl_seconds holds PRIORITIES entries per zone
        of dl_zones, in order (the city's where the zone has none for a priority); default_seconds the city's."""
        zones = sorted({zone for zone, _ in self.deadlines})
        return {
            "tz_zones": list(self.timezones), "tz_names": list(self.timezones.values()),
            "dl_zones": zones,
            "dl_seconds": [_seconds(self.deadlines[(z, p)] if (z, p) in self.deadlines else self.default_deadlines.get(p))
                           for z in zones for p in PRIORITIES],
            "default_seconds": [_seconds(self.default_deadlines.get(p)) for p in PRIORITIES],
        }


def _seconds(value: float | None) -> float | None:
    return None if value is None else float(value)  # one type per array: YAML gives ints and floats


# The period's alerts (the zone and category filters apply only where given).
PERIOD_ALERTS = """
WITH period AS (
    SELECT alert_id, zone_id, priority, category, status, disposition, opened_at, source_kind, source_id, ack_by,
           ack_s, dispatch_s, resolve_s
    FROM alerts
    WHERE opened_at >= %(start)s AND opened_at < %(end)s
      AND (%(zone)s::text IS NULL OR zone_id = %(zone)s)
      AND (%(category)s::text IS NULL OR category = %(category)s))
"""
# Each zone's escalation deadline per priority: the zone's own, else the city's for a zone no longer configured.
# One small join on the zone, then an array subscript, so the alerts are sorted by priority alone.
DEADLINES = f""",
zone_deadline AS (SELECT * FROM unnest(%(dl_zones)s::text[]) WITH ORDINALITY AS d(zone_id, n)),
judged AS (
    SELECT p.priority, p.status, p.disposition, p.ack_s, p.dispatch_s, p.resolve_s,
           CASE WHEN zd.zone_id IS NOT NULL THEN (%(dl_seconds)s::float8[])[(zd.n - 1) * {len(PRIORITIES)} + p.priority]
                ELSE (%(default_seconds)s::float8[])[p.priority] END AS deadline_s
    FROM period p LEFT JOIN zone_deadline zd ON zd.zone_id = p.zone_id)
"""


def _percentiles(column: str) -> str:
    return (f"round(percentile_cont(0.5) WITHIN GROUP (ORDER BY {column})::numeric, 3)::float8 AS {column}_p50, "
            f"round(percentile_cont(0.9) WITHIN GROUP (ORDER BY {column})::numeric, 3)::float8 AS {column}_p90, "
            f"round(max({column})::numeric, 3)::float8 AS {column}_max")


BY_PRIORITY = PERIOD_ALERTS + DEADLINES + f"""
SELECT priority, count(*) AS alerts, count(ack_s) AS acknowledged,
       {_percentiles('ack_s')}, {_percentiles('dispatch_s')}, {_percentiles('resolve_s')},
       count(*) FILTER (WHERE deadline_s IS NOT NULL) AS with_deadline,
       count(*) FILTER (WHERE ack_s <= deadline_s) AS within,
       count(*) FILTER (WHERE status = 'resolved' AND disposition = 'real') AS real,
       count(*) FILTER (WHERE status = 'resolved' AND disposition = 'false_alarm') AS false_alarm,
       count(*) FILTER (WHERE status = 'resolved' AND disposition = 'test') AS test,
       count(*) FILTER (WHERE status <> 'resolved') AS unresolved
FROM judged GROUP BY priority ORDER BY priority
"""

# Grouped by bytes ("C"), not the database's collation: the same groups, sorted faster.
BY_ZONE = PERIOD_ALERTS + """
SELECT zone_id COLLATE "C" AS zone_id, count(*) AS alerts,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ack_s)::numeric, 3)::float8 AS ack_p50_s
FROM period GROUP BY 1 ORDER BY 1
"""

BY_HOUR = PERIOD_ALERTS + """,
zone_tz AS (SELECT * FROM unnest(%(tz_zones)s::text[], %(tz_names)s::text[]) AS t(zone_id, tz))
SELECT extract(hour FROM p.opened_at AT TIME ZONE coalesce(t.tz, 'UTC'))::int AS hour, count(*) AS alerts
FROM period p LEFT JOIN zone_tz t ON t.zone_id = p.zone_id GROUP BY 1
"""

FALSE_ALARMS = PERIOD_ALERTS + """
SELECT source_kind AS kind, source_id AS id, count(*) AS alerts,
       count(*) FILTER (WHERE status = 'resolved') AS resolved,
       count(*) FILTER (WHERE status = 'resolved' AND disposition = 'false_alarm') AS false_alarm
FROM period GROUP BY source_kind, source_id HAVING count(*) >= %(min_alerts)s
"""

OPERATOR_ACTIONS = PERIOD_ALERTS + """
SELECT v.changed_by AS name,
       count(*) FILTER (WHERE v.change = 'acknowledged') AS acknowledged,
       count(*) FILTER (WHERE v.change = 'dispatched') AS dispatched,
       count(*) FILTER (WHERE v.change = 'resolved') AS resolved,
       count(*) FILTER (WHERE v.change = 'step') AS steps
FROM period p JOIN alert_versions v ON v.alert_id = p.alert_id
WHERE v.change IN ('acknowledged', 'dispatched', 'resolved', 'step') AND v.changed_by <> 'system'
GROUP BY v.changed_by
"""

OPERATOR_ACKS = PERIOD_ALERTS + """
SELECT ack_by COLLATE "C" AS name,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ack_s)::numeric, 3)::float8 AS ack_p50_s
FROM period WHERE ack_by IS NOT NULL AND ack_by <> 'system' GROUP BY 1
"""


def _parameters(period: Period, calendar: Calendar, zone: str | None = None, category: str | None = None,
                **more: Any) -> dict[str, Any]:
    return {**calendar.parameters(), "start": period.start, "end": period.end, "zone": zone,
            "category": category, **more}


async def _rows(connection: psycopg.AsyncConnection, sql: str, parameters: Mapping[str, Any]) -> list[dict[str, Any]]:
    async with connection.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(sql.encode(), parameters)
        return await cursor.fetchall()


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


async def response(connection: psycopg.AsyncConnection, period: Period, calendar: Calendar,
                   zone: str | None = None, category: str | None = None) -> dict[str, Any]:
    parameters = _parameters(period, calendar, zone, category)
    by_priority = await _rows(connection, BY_PRIORITY, parameters)
    by_zone = await _rows(connection, BY_ZONE, parameters)
    by_hour = await _rows(connection, BY_HOUR, parameters)
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


async def false_alarms(connection: psycopg.AsyncConnection, period: Period, calendar: Calendar,
                       min_alerts: int = 3) -> dict[str, Any]:
    rows = await _rows(connection, FALSE_ALARMS, _parameters(period, calendar, min_alerts=min_alerts))
    return {**period.body(), "sources": rank_sources(rows)}


def merge_operators(actions: Sequence[Mapping[str, Any]], acks: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One entry per name that acted or acknowledged, by name."""
    p50 = {row["name"]: row["ack_p50_s"] for row in acks}
    counted = {row["name"]: row for row in actions}
    return [{"name": name, **{c: (counted[name][c] if name in counted else 0)
                              for c in ("acknowledged", "dispatched", "resolved", "steps")},
             "ack_p50_s": p50.get(name)}
            for name in sorted(set(p50) | set(counted))]


async def operators(connection: psycopg.AsyncConnection, period: Period, calendar: Calendar) -> dict[str, Any]:
    parameters = _parameters(period, calendar)
    actions = await _rows(connection, OPERATOR_ACTIONS, parameters)
    acks = await _rows(connection, OPERATOR_ACKS, parameters)
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
