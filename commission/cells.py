"""H3 cells of the study area (contract section 14): which cells, their neighbours, their outlines.

Cells are kept as H3 integers (int64) so that assigning a million incidents is a sorted search,
and turned into H3 strings only for output.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import h3
import numpy as np
import numpy.typing as npt

from alert_rules.city import Zone

RESOLUTIONS = range(6, 11)
Cells = npt.NDArray[np.int64]

_to_cell = h3.api.basic_int.latlng_to_cell


def zone_cells(zone: Zone, resolution: int) -> list[int]:
    """Cells whose centre lies in the zone's polygon; config corners are [lon, lat], H3 wants (lat, lng)."""
    ring = [(lat, lon) for lon, lat in zone.polygon]
    if len(ring) > 3 and ring[0] == ring[-1]:
        ring = ring[:-1]
    return list(h3.api.basic_int.polygon_to_cells(h3.LatLngPoly(ring), resolution))


@dataclass(frozen=True)
class StudyArea:
    """Every cell whose centre lies in some zone, sorted, with its ring-1 neighbours inside the area."""

    cells: Cells
    resolution: int

    @classmethod
    def of_zones(cls, zones: Sequence[Zone], resolution: int) -> StudyArea:
        found = {cell for zone in zones for cell in zone_cells(zone, resolution)}
        return cls(np.array(sorted(found), dtype=np.int64), resolution)

    @classmethod
    def of_cells(cls, cells: Sequence[int], resolution: int) -> StudyArea:
        return cls(np.array(sorted(set(cells)), dtype=np.int64), resolution)

    @property
    def n(self) -> int:
        return len(self.cells)

    def index(self, cells: Cells) -> npt.NDArray[np.int64]:
        """The position of each cell in the area, -1 for a cell outside it."""
        if self.n == 0:
            return np.full(len(cells), -1, dtype=np.int64)
        at = np.searchsorted(self.cells, cells)
        at = np.minimum(at, self.n - 1)
        return np.where(self.cells[at] == cells, at, -1)

    @cached_property
    def weights(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Binary Gi* weights as pairs (i, j): each cell with itself and its ring-1 neighbours in the area."""
        rows: list[int] = []
        cols: list[int] = []
        for i, cell in enumerate(self.cells.tolist()):
            disk = np.array(h3.api.basic_int.grid_disk(cell, 1), dtype=np.int64)
            inside = self.index(disk)
            inside = inside[inside >= 0]
            rows.extend([i] * len(inside))
            cols.extend(inside.tolist())
        return np.array(rows, dtype=np.int64), np.array(cols, dtype=np.int64)

    def counts(self, cells: Cells) -> tuple[npt.NDArray[np.int64], int]:
        """Incidents per study cell, and how many fell in no study cell."""
        at = self.index(cells)
        inside = at[at >= 0]
        return np.bincount(inside, minlength=self.n).astype(np.int64), int(len(at) - len(inside))

    def names(self) -> list[str]:
        return [h3.int_to_str(cell) for cell in self.cells.tolist()]


def locate(lats: Sequence[float] | npt.NDArray[np.float64], lons: Sequence[float] | npt.NDArray[np.float64],
           resolution: int) -> Cells:
    """The H3 cell of each point (WGS84 degrees)."""
    lat_list = lats.tolist() if isinstance(lats, np.ndarray) else list(lats)
    lon_list = lons.tolist() if isinstance(lons, np.ndarray) else list(lons)
    return np.fromiter((_to_cell(lat, lon, resolution) for lat, lon in zip(lat_list, lon_list, strict=True)),
                       dtype=np.int64, count=len(lat_list))


def outline(cell: str | int) -> list[list[float]]:
    """The cell's boundary as a closed GeoJSON ring of [lon, lat] corners, counter-clockwise."""
    name = h3.int_to_str(cell) if isinstance(cell, int) else cell
    ring = [[lon, lat] for lat, lon in h3.cell_to_boundary(name)]
    return [*ring, ring[0]]
