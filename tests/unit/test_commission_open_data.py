"""Open data publishes counts per cell, week and category, never a lone home (contract section 14)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import h3
import numpy as np

from commission.cells import outline
from commission.open_data import OpenDataSettings, open_counts, open_geojson

PLAZA = (-34.4250, -58.5790)  # a busy plaza: many beepers press there
ROSA = (-34.4105, -58.5950)  # a senior's home, alone in its resolution-8 cell
MONDAY = datetime(2026, 11, 23, tzinfo=UTC)


def incidents() -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    rows: list[tuple[float, float, datetime, str]] = []
    rows += [(PLAZA[0] + i * 1e-5, PLAZA[1], MONDAY + timedelta(hours=3 * i), "panic") for i in range(6)]
    rows += [(PLAZA[0], PLAZA[1], MONDAY + timedelta(days=7, hours=i), "panic") for i in range(4)]  # next week: 4
    rows += [(PLAZA[0], PLAZA[1], MONDAY + timedelta(days=1, hours=i), "intrusion") for i in range(5)]
    rows += [(ROSA[0], ROSA[1], MONDAY + timedelta(days=2, hours=9), "medical")]
    lats = np.array([r[0] for r in rows])
    lons = np.array([r[1] for r in rows])
    moments = np.array([np.datetime64(r[2].replace(tzinfo=None), "us") for r in rows])
    return lats, lons, moments, [r[3] for r in rows]


def test_only_cells_weeks_and_categories_with_enough_incidents_are_published() -> None:
    counts = open_counts(*incidents(), OpenDataSettings(enabled=True))
    plaza = h3.latlng_to_cell(*PLAZA, 8)
    assert {(c.cell, c.week, c.category, c.count) for c in counts} == {
        (plaza, "2026-W48", "panic", 6), (plaza, "2026-W48", "intrusion", 5)}


def test_a_seniors_home_alone_in_its_cell_never_shows() -> None:
    rosa = h3.latlng_to_cell(*ROSA, 8)
    assert rosa != h3.latlng_to_cell(*PLAZA, 8)
    document = open_geojson(open_counts(*incidents(), OpenDataSettings(enabled=True)))
    assert all(f["properties"]["cell"] != rosa for f in document["features"])
    assert all(f["properties"]["category"] != "medical" for f in document["features"])
    with_one = open_counts(*incidents(), OpenDataSettings(enabled=True, min_count=1))
    assert any(c.cell == rosa for c in with_one)  # the test's home is in the data: only the threshold hides it


def test_nothing_finer_than_a_cell_and_a_week_and_no_identity_leaves() -> None:
    document = open_geojson(open_counts(*incidents(), OpenDataSettings(enabled=True)))
    assert document["type"] == "FeatureCollection" and document["features"]
    text = json.dumps(document)
    for feature in document["features"]:
        assert set(feature) == {"type", "geometry", "properties"}
        assert set(feature["properties"]) == {"cell", "week", "category", "count"}
        assert feature["geometry"] == {"type": "Polygon", "coordinates": [outline(feature["properties"]["cell"])]}
    assert "2026-11-2" not in text and not re.search(r"\d\d:\d\d", text)  # no day, no time of day
