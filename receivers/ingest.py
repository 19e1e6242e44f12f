"""HTTP ingestion for phone apps and beeper gateways (contract section 7).

`POST /v1/beeps` and `POST /v1/alarms` take one PanicBeep or AlarmSignal, signed by a
device that has a `key`, and answer 202 once the event is on its topic. The body goes on
the topic exactly as received, so admission checks the very bytes the device signed; and
an event admission would refuse as stale or from the future gets 422 here, never a 202.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from alert_rules.city import City
from receivers.limits import RateLimit
from receivers.publisher import Publish
from receivers.settings import IngestSettings
from vocabulary import freshness, topics
from vocabulary.events import AlarmSignal, PanicBeep
from vocabulary.http_limits import BodyLimit
from vocabulary.signing import signed_by_device

log = logging.getLogger("centinela.receivers")


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Window:
    """What admission takes (the `admission:` section): bodies up to `max_bytes`, events within the time window."""

    max_bytes: int
    stale_s: float
    future_s: float


class Accepted(BaseModel):
    event_id: str


class Error(BaseModel):
    error: str


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": Error, "description": text} for status, text in (
        (401, "no valid signature, or the device is unknown or has no key"),
        (413, "the body is over admission.max_bytes (or 64 KiB)"),
        (422, "the body is not the model, or its ts is outside admission's stale or future window"),
        (429, "the device sent more than ingest.per_device_per_min events in a minute"),
        (503, "the broker did not take the event; send it again"),
    )
}


def create_ingest_app(city: City, settings: IngestSettings, window: Window, publish: Publish,
                      rate: RateLimit | None = None, clock: Callable[[], datetime] = utc_now) -> FastAPI:
    app = FastAPI(title="Centinela ingestion", version="1", docs_url=None, redoc_url=None)
    app.add_middleware(BodyLimit)
    limit = rate or RateLimit(settings.per_device_per_min)
    keys = {
        topics.BEEPS: {b.id: b.key for b in city.beepers},
        topics.ALARMS: {p.id: p.key for p in city.panels},
    }

    async def ingest(request: Request, topic: str, model: type[PanicBeep] | type[AlarmSignal]) -> JSONResponse:
        body = await request.body()
        if len(body) > window.max_bytes:
            return _error(413, f"the body is over admission.max_bytes ({window.max_bytes} bytes)")
        try:
            event = model.model_validate_json(body)
        except ValidationError as error:
            return _error(422, _problems(error))
        key = keys[topic].get(event.source_id)
        if not key or not signed_by_device(key, event, body):
            return _error(401, "a registered device with a key must send its valid sig (contract section 6)")
        outside = freshness.outside(event.ts, clock(), window.stale_s, window.future_s)
        if outside is not None:
            return _error(422, f"{outside[0]}: {outside[1]}")
        if not limit.allow(f"{topic}|{event.source_id}"):
            return _error(429, f"more than {limit.per_minute} events in a minute from {event.source_id}")
        try:
            await publish(topic, event.source_id, body)
        except Exception as error:
            log.warning("receivers: the broker did not take %s from %s: %r", event.event_id, event.source_id, error)
            return _error(503, "the broker did not take the event; send it again")
        return JSONResponse({"event_id": event.event_id}, status_code=202)

    @app.post("/v1/beeps", status_code=202, response_model=Accepted, responses=ERRORS,
              summary="one PanicBeep (contract section 1), signed")
    async def beeps(request: Request) -> JSONResponse:
        return await ingest(request, topics.BEEPS, PanicBeep)

    @app.post("/v1/alarms", status_code=202, response_model=Accepted, responses=ERRORS,
              summary="one AlarmSignal (contract section 1), signed")
    async def alarms(request: Request) -> JSONResponse:
        return await ingest(request, topics.ALARMS, AlarmSignal)

    @app.exception_handler(404)
    async def not_found(_request: Request, _exc: Exception) -> JSONResponse:
        return _error(404, "not found")

    @app.exception_handler(405)
    async def not_allowed(_request: Request, _exc: Exception) -> JSONResponse:
        return _error(405, "method not allowed")

    return app


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _problems(error: ValidationError) -> str:
    problems = error.errors(include_url=False, include_input=False)
    if problems[0]["type"] == "json_invalid":
        return "not JSON in UTF-8"
    return "; ".join(f"{'.'.join(map(str, p['loc'])) or 'body'}: {p['msg']}" for p in problems[:10])
