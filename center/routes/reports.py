"""The center's reports (contract section 13): response times, false alarms, operators; JSON or CSV.

The history lives in PostgreSQL (center/history_store.py): without it, a report is a 503.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, Response
from psycopg_pool import AsyncConnectionPool

from alert_rules.city import Token
from center.errors import ApiError, documented
from center.history_store import history_readers
from center.running import Reader, Running
from history import reports
from vocabulary.errors import UsageError

router = APIRouter(prefix="/api/reports")
JSON_OR_CSV: dict[int | str, dict[str, Any]] = {200: {"content": {"application/json": {}, "text/csv": {}}}}  # ?format=csv
Format = Literal["json", "csv"]


def _reporter(token: Reader) -> Token:
    if token.role == "responder":
        raise ApiError(403, "the responder role may not read reports")
    return token


ReportReader = Annotated[Token, Depends(_reporter)]


def _period(start: str | None, end: str | None) -> reports.Period:
    try:
        return reports.Period.parse(start, end)
    except UsageError as error:
        raise ApiError(422, error.message) from None


async def _answer(fmt: Format, compute: Callable[[AsyncConnectionPool], Awaitable[dict[str, Any]]],
                  to_csv: Callable[[Mapping[str, Any]], str], name: str) -> Response:
    async with history_readers() as pool:
        report = await compute(pool)
    if fmt == "csv":
        return Response(to_csv(report), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
    return JSONResponse(report)


DATE_TIME = {"format": "date-time"}  # RFC 3339, in the OpenAPI document too
FromQuery = Annotated[str | None, Query(alias="from", description="RFC 3339; default: 30 days before `to`",
                                        json_schema_extra=DATE_TIME)]
ToQuery = Annotated[str | None, Query(alias="to", description="RFC 3339, excluded; default: now",
                                      json_schema_extra=DATE_TIME)]
FormatQuery = Annotated[Format, Query(description="json (default) or csv")]


@router.get("/response", responses={**JSON_OR_CSV, **documented(401, 403, 422, 503)})
async def response(center: Running, token: ReportReader, start: FromQuery = None, to: ToQuery = None,
                   zone: str | None = None, category: str | None = None, format: FormatQuery = "json") -> Response:
    period = _period(start, to)
    calendar = reports.Calendar.of(center.city, center.rules)
    return await _answer(format, lambda c: reports.response(c, period, calendar, zone or None, category or None),
                         reports.response_csv, "response")


@router.get("/false-alarms", responses={**JSON_OR_CSV, **documented(401, 403, 422, 503)})
async def false_alarms(center: Running, token: ReportReader, start: FromQuery = None, to: ToQuery = None,
                       min_alerts: Annotated[int, Query(ge=0)] = 3, format: FormatQuery = "json") -> Response:
    period = _period(start, to)
    calendar = reports.Calendar.of(center.city, center.rules)
    return await _answer(format, lambda c: reports.false_alarms(c, period, calendar, min_alerts),
                         reports.false_alarms_csv, "false-alarms")


@router.get("/operators", responses={**JSON_OR_CSV, **documented(401, 403, 422, 503)})
async def operators(center: Running, token: ReportReader, start: FromQuery = None, to: ToQuery = None,
                    format: FormatQuery = "json") -> Response:
    period = _period(start, to)
    calendar = reports.Calendar.of(center.city, center.rules)
    return await _answer(format, lambda c: reports.operators(c, period, calendar), reports.operators_csv, "operators")
