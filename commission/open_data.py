"""Open data for the community (contract section 14): incidents per H3 cell, ISO week and category.

Pure. Only a cell, a week, a category and a count leave: never an id, name, address, a finer
time or a finer place; a count below `min_count` is left out, so no single home shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import h3
import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from commission.cells import locate
from commission.geojson import cell_feature, collection
from commission.trends import iso_week

# A Monday 00:00 UTC: ISO weeks are counted from it.
_MONDAY = np.datetime64("1970-01-05T00:00:00", "us")


class OpenDataSettings(BaseModel):
    """The `open_data:` section of the configuration."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(False, description="serve /open/incidents.geojson without a token")
    resolution: int = Field(8, ge=6, le=9, description="H3 resolution of the published cells (8: about 0.7 km²)")
    min_count: int = Field(5, ge=1, description="a cell, week and category with fewer incidents is left out")


class OpenCount(BaseModel):
    cell: str
    week: str
    category: str
    count: int


def open_counts(lats: npt.NDArray[np.float64], lons: npt.NDArray[np.float64],
                opened_at: npt.NDArray[np.datetime64], categories: Sequence[str],
                settings: OpenDataSettings) -> list[OpenCount]:
    """Counts per (cell, week, category) at the settings' resolution, those of at least min_count."""
    if len(lats) == 0:
        return []
    cells = locate(lats, lons, settings.resolution)
    weeks = (opened_at.astype("datetime64[us]") - _MONDAY) // np.timedelta64(7, "D")
    names, category_codes = np.unique(np.asarray(categories, dtype=object).astype(str), return_inverse=True)
    keys = np.stack([cells, weeks.astype(np.int64), category_codes.astype(np.int64)], axis=1)
    groups, counts = np.unique(keys, axis=0, return_counts=True)
    origin = datetime(1970, 1, 5, tzinfo=UTC)
    return [
        OpenCount(cell=h3.int_to_str(int(cell)), week=iso_week(origin + timedelta(weeks=int(week))),
                  category=str(names[code]), count=int(count))
        for (cell, week, code), count in zip(groups.tolist(), counts.tolist(), strict=True)
        if count >= settings.min_count
    ]


def open_geojson(counts: list[OpenCount]) -> dict[str, Any]:
    return collection([cell_feature(c.cell, c.model_dump()) for c in counts])
