"""For the security commission (contract section 14): hotspots, trends, interventions, open data.

They read the history in PostgreSQL (center/history_store.py): without it they answer 503. Roles as
the history's reports: operators, supervisors and viewers; 403 for responders.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from alert_rules.city import Token
from center.errors import ApiError, documented
from center.history_store import history_store
from center.routes.reports import FromQuery, ToQuery
from center.running import Reader
from commission import reports
from commission.interventions import DEFAULT_CATEGORIES
from history.reports import Period
from vocabulary.errors import UsageError
from vocabulary.events import Category, format_timestamp, parse_timestamp

router = APIRouter()
GEOJSON = "application/geo+json"


class CommissionDesk:
    """The study areas of the city's zones, the configured interventions and the open-data settings."""

    def __init__(self, areas: reports.StudyAreas, settings: reports.CommissionSettings) -> None:
        self.areas = areas
        self.interventions = {i.id: i for i in settings.interventions}
        self.open_data = settings.open_data


def _desk(request: Request) -> CommissionDesk:
    desk: CommissionDesk = request.app.state.commission
    return desk


def _analyst(token: Reader) -> Token:
    if token.role == "responder":
        raise ApiError(403, "the responder role may not read reports")
    return token


Analyst = Annotated[Token, Depends(_analyst)]
Desk = Annotated[CommissionDesk, Depends(_desk)]
Categories = Annotated[list[Category] | None, Query(alias="category", description="repeatable; default panic, duress, "
                                                                                 "intrusion, medical, fire")]
Resolution = Annotated[int, Query(ge=6, le=10, description="H3 resolution")]
Weeks = Annotated[int, Query(ge=2, le=520, description="complete weeks")]


def _period(start: str | None, end: str | None) -> Period:
    try:
        return Period.parse(start, end)
    except UsageError as error:
        raise ApiError(422, str(error)) from None


def _instant(name: str, text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        return parse_timestamp(text)
    except ValueError as error:
        raise ApiError(422, f"{name}: {error}") from None


@router.get("/api/reports/hotspots", responses={200: {"content": {GEOJSON: {}}}, **documented(401, 403, 422, 503)})
async def hotspots(
    _: Analyst, desk: Desk,
    start: FromQuery = None, end: ToQuery = None,
    category: Categories = None, resolution: Resolution = reports.DEFAULT_RESOLUTION,
) -> JSONResponse:
    """Getis-Ord Gi* per H3 cell of the zones, with Benjamini–Hochberg at q = 0.05: a GeoJSON FeatureCollection."""
    period = _period(start, end)
    async with history_store() as history:
        body = await reports.hotspot_report(history, desk.areas, period.start, period.end,
                                            category or DEFAULT_CATEGORIES, resolution)
    return JSONResponse({**body, **period.body()}, media_type=GEOJSON)


@router.get("/api/reports/trends", responses=documented(401, 403, 422, 503))
async def trends(
    _: Analyst, desk: Desk, weeks: Weeks = reports.DEFAULT_WEEKS,
    end: ToQuery = None, category: Categories = None,
    resolution: Resolution = reports.DEFAULT_RESOLUTION,
) -> dict[str, Any]:
    """Mann–Kendall per study cell with at least 10 incidents in the complete ISO weeks before `to`."""
    to = _instant("to", end)
    async with history_store() as history:
        return await reports.trend_report(history, desk.areas, weeks, to, category or DEFAULT_CATEGORIES, resolution)


@router.get("/api/reports/interventions/{intervention_id}", responses=documented(401, 403, 404, 422, 503))
async def intervention(intervention_id: str, _: Analyst, desk: Desk,
                       weeks: Weeks = reports.DEFAULT_WEEKS) -> dict[str, Any]:
    """Treated against comparison zones, `weeks` weeks before and from the start: the rate ratio, its 95 % CI, p."""
    chosen = desk.interventions.get(intervention_id)
    if chosen is None:
        raise ApiError(404, f"no intervention {intervention_id!r} in the configuration")
    before, start, after = chosen.periods(weeks)
    async with history_store() as history:
        result = await reports.evaluate(history, chosen, weeks)
    return {"id": chosen.id, "name": chosen.name, "start": chosen.start.isoformat(), "zones": chosen.zones,
            "categories": chosen.categories, "weeks": weeks,
            "period": {"from": format_timestamp(before), "start": format_timestamp(start), "to": format_timestamp(after)},
            **result.model_dump()}


@router.get("/api/reports/interventions", responses=documented(401, 403))
async def interventions(_: Analyst, desk: Desk) -> dict[str, Any]:
    """The configured interventions (for the console)."""
    return {"interventions": [i.model_dump(mode="json") for i in desk.interventions.values()]}


@router.get("/open/incidents.geojson", responses={200: {"content": {GEOJSON: {}}}, **documented(404, 422, 503)})
async def open_incidents(
    request: Request, start: FromQuery = None, end: ToQuery = None,
) -> JSONResponse:
    """Counts per H3 cell, ISO week and category, only from `open_data.min_count` up; no token."""
    desk = _desk(request)
    if not desk.open_data.enabled:
        raise ApiError(404, "open data is not enabled")
    period = _period(start, end)
    async with history_store() as history:
        body = await reports.open_data(history, desk.open_data, period.start, period.end)
    return JSONResponse(body, media_type=GEOJSON)
