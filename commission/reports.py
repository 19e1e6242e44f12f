"""The commission's reports (contract section 14): the history's incidents through the pure statistics.

Each function reads what it needs from the history's current alerts (commission.queries) and
returns the contract's JSON body; the center serves them and `centinela report` prints them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import psycopg

from alert_rules.city import Zone
from commission import queries
from commission.cells import RESOLUTIONS, StudyArea, locate
from commission.geojson import cell_feature, collection
from commission.hotspots import Hotspots, hotspots
from commission.interventions import DEFAULT_CATEGORIES, Comparison, Counts, Intervention, compare
from commission.open_data import OpenDataSettings, open_counts, open_geojson
from commission.trends import CellTrend, cell_trends, complete_weeks, week_numbers

DEFAULT_RESOLUTION = 9
DEFAULT_WEEKS = 26


class StudyAreas:
    """The zones' study area at each resolution, computed once: zones change only with the configuration."""

    def __init__(self, zones: Sequence[Zone]) -> None:
        self.zones = list(zones)
        self._areas: dict[int, StudyArea] = {}

    def at(self, resolution: int) -> StudyArea:
        if resolution not in RESOLUTIONS:
            raise ValueError(f"resolution must be {RESOLUTIONS.start} to {RESOLUTIONS.stop - 1}, not {resolution}")
        if resolution not in self._areas:
            area = StudyArea.of_zones(self.zones, resolution)
            _ = area.weights
            self._areas[resolution] = area
        return self._areas[resolution]


async def hotspot_test(connection: psycopg.AsyncConnection, area: StudyArea, start: datetime, end: datetime,
                       categories: Sequence[str]) -> Hotspots:
    found = await queries.points(connection, start, end, categories)
    # The statistics run in a thread: the center's event loop keeps serving live alerts meanwhile.
    return await asyncio.to_thread(lambda: hotspots(area, locate(found.lat, found.lon, area.resolution),
                                                    found.unlocated))


def hotspot_geojson(result: Hotspots) -> dict[str, Any]:
    features = [
        cell_feature(cell, {"cell": cell, "count": count, "z": z, "p": p, "class": kind})
        for cell, count, z, p, kind in zip(result.area.names(), result.counts.tolist(), result.z.tolist(),
                                           result.p.tolist(), result.classes, strict=True)
    ]
    return collection(features, incidents=result.incidents, outside=result.outside, unlocated=result.unlocated)


async def hotspot_report(connection: psycopg.AsyncConnection, areas: StudyAreas, start: datetime, end: datetime,
                         categories: Sequence[str] = DEFAULT_CATEGORIES,
                         resolution: int = DEFAULT_RESOLUTION) -> dict[str, Any]:
    return hotspot_geojson(await hotspot_test(connection, areas.at(resolution), start, end, categories))


async def trends(connection: psycopg.AsyncConnection, area: StudyArea, weeks: int, to: datetime,
                 categories: Sequence[str] = DEFAULT_CATEGORIES) -> list[CellTrend]:
    start, end = complete_weeks(weeks, to)
    found = await queries.located(connection, start, end, categories)
    return await asyncio.to_thread(lambda: cell_trends(area, locate(found.lat, found.lon, area.resolution),
                                                       week_numbers(found.opened_at, start), weeks))


async def trend_report(connection: psycopg.AsyncConnection, areas: StudyAreas, weeks: int = DEFAULT_WEEKS,
                       to: datetime | None = None, categories: Sequence[str] = DEFAULT_CATEGORIES,
                       resolution: int = DEFAULT_RESOLUTION) -> dict[str, Any]:
    found = await trends(connection, areas.at(resolution), weeks, to or datetime.now(UTC), categories)
    return {"cells": [t.model_dump() for t in found]}


async def evaluate(connection: psycopg.AsyncConnection, intervention: Intervention,
                   weeks: int = DEFAULT_WEEKS) -> Comparison:
    before, start, after = intervention.periods(weeks)
    tb, ta, cb, ca = await queries.zone_counts(connection, intervention.zones, before, start, after,
                                               intervention.categories)
    return compare(Counts(before=tb, after=ta), Counts(before=cb, after=ca))


async def open_data(connection: psycopg.AsyncConnection, settings: OpenDataSettings, start: datetime,
                    end: datetime) -> dict[str, Any]:
    found = await queries.located(connection, start, end, DEFAULT_CATEGORIES)
    return await asyncio.to_thread(
        lambda: open_geojson(open_counts(found.lat, found.lon, found.opened_at, found.category, settings)))


def weekly_counts(found: queries.Located, start: datetime, weeks: int) -> dict[str, list[int]]:
    """Incidents per category and week (0 = the week from `start`), for the report's chart."""
    numbers = week_numbers(found.opened_at, start)
    kinds = np.asarray(found.category, dtype=object)
    return {str(kind): np.bincount(numbers[(kinds == kind) & (numbers >= 0) & (numbers < weeks)],
                                   minlength=weeks).tolist()
            for kind in sorted(set(found.category))}


@dataclass(frozen=True)
class CommissionSettings:
    """What the center serves the commission from the configuration."""

    interventions: Sequence[Intervention] = ()
    open_data: OpenDataSettings = field(default_factory=OpenDataSettings)
