"""GeoJSON (RFC 7946) of H3 cells, as QGIS opens it: Polygon features, [lon, lat], closed rings."""

from __future__ import annotations

from typing import Any

from commission.cells import outline


def cell_feature(cell: str, properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [outline(cell)]},
            "properties": properties}


def collection(features: list[dict[str, Any]], **members: Any) -> dict[str, Any]:
    """A FeatureCollection; `members` are foreign members at its top level (RFC 7946 §6.1)."""
    return {"type": "FeatureCollection", **members, "features": features}
