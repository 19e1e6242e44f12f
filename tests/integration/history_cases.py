"""A hand-made history for tests/integration/history_city, whose report answers were worked out by hand.

Period [2026-11-01, 2026-11-08) UTC. Each alert is (id, zone, priority, category, source, opened_at,
versions); a version is (seconds after opening, status, change, changed_by, disposition) and may
change the zone (A9). Answers are in test_history.py, with how each was computed.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

CITY = Path(__file__).resolve().parent / "history_city"
FROM, TO = "2026-11-01T00:00:00Z", "2026-11-08T00:00:00Z"

Version = tuple[float, str, str, str, str | None]
ALERTS: list[tuple[str, str, int, str, tuple[str, str], str, list[Version]]] = [
    ("A1", "centro", 1, "panic", ("beeper", "bp-1"), "2026-11-01T02:00:00Z", [
        (0, "open", "opened", "system", None), (10, "acknowledged", "acknowledged", "Ana", None),
        (70, "dispatched", "dispatched", "Ana", None), (600, "resolved", "resolved", "Ana", "real")]),
    ("A2", "centro", 1, "panic", ("beeper", "bp-2"), "2026-11-02T15:30:00Z", [
        (0, "open", "opened", "system", None), (30, "open", "escalated", "system", None),
        (40, "acknowledged", "acknowledged", "Beto", None), (100, "resolved", "resolved", "Beto", "false_alarm")]),
    ("A3", "costa", 1, "fire", ("alarm", "pn-1"), "2026-11-03T08:15:00Z", [
        (0, "open", "opened", "system", None), (50, "dispatched", "dispatched", "Ana", None),
        (55, "dispatched", "step", "Ana", None), (900, "resolved", "resolved", "Ana", "real")]),
    ("A4", "costa", 2, "intrusion", ("alarm", "pn-1"), "2026-11-04T23:59:59Z", [
        (0, "open", "opened", "system", None), (20, "acknowledged", "acknowledged", "Beto", None),
        (200, "resolved", "resolved", "Beto", "false_alarm")]),
    ("A5", "centro", 2, "intrusion", ("alarm", "pn-1"), "2026-11-05T03:00:00Z", [
        (0, "open", "opened", "system", None), (90, "acknowledged", "acknowledged", "Ana", None)]),
    ("A6", "centro", 4, "trouble", ("alarm", "pn-2"), "2026-11-06T12:00:00Z", [
        (0, "open", "opened", "system", None)]),
    ("A7", "costa", 1, "panic", ("beeper", "bp-1"), "2026-10-31T23:59:59Z", [  # before the period
        (0, "open", "opened", "system", None), (5, "acknowledged", "acknowledged", "Ana", None)]),
    ("A8", "costa", 1, "panic", ("beeper", "bp-1"), "2026-11-08T00:00:00Z", [  # at `to`: excluded
        (0, "open", "opened", "system", None), (5, "acknowledged", "acknowledged", "Ana", None)]),
    ("A9", "centro", 2, "intrusion", ("alarm", "pn-3"), "2026-11-07T10:00:00Z", [
        (0, "open", "opened", "system", None), (25, "acknowledged", "acknowledged", "Caro", None)]),
]
MOVED = {("A9", 2): "costa"}  # A9's latest version is in costa: the report places it there
# Where versions were (none elsewhere): the current row keeps its latest version's, so A9 is at its second
# place and A5, whose latest version has none, is unlocated.
LOCATIONS = {("A1", n): (-34.41, -58.58) for n in range(1, 5)} | {
    ("A9", 1): (-34.42, -58.57), ("A9", 2): (-34.4255, -58.5712), ("A5", 1): (-34.43, -58.56)}


def snapshots() -> list[dict[str, Any]]:
    found = []
    for alert_id, zone, priority, category, (kind, source), opened, versions in ALERTS:
        start = datetime.fromisoformat(opened.replace("Z", "+00:00"))
        for number, (after_s, status, change, by, disposition) in enumerate(versions, start=1):
            at = start + timedelta(seconds=after_s)
            found.append({
                "alert_id": alert_id, "zone_id": MOVED.get((alert_id, number), zone), "priority": priority,
                "category": category, "title": f"{category} {alert_id}", "status": status, "opened_at": opened,
                "updated_at": at.isoformat().replace("+00:00", "Z"), "source": {"kind": kind, "id": source},
                "count": 1, "event_ids": [f"e-{alert_id}"], "rule": "test", "version": number, "change": change,
                "changed_by": by, "disposition": disposition, "escalation": 1 if change == "escalated" else 0,
            })
            if (alert_id, number) in LOCATIONS:
                lat, lon = LOCATIONS[(alert_id, number)]
                found[-1]["location"] = {"lat": lat, "lon": lon, "accuracy_m": 10.0}
    return found


def write_history(path: Path) -> Path:
    """The snapshots in a scrambled order, one of them twice (the same version twice is one row)."""
    lines = [json.dumps(s) for s in snapshots()]
    order = lines[::-1][::2] + lines[::-1][1::2] + [lines[1]]
    path.write_text("\n".join(order) + "\n", encoding="utf-8")
    return path
