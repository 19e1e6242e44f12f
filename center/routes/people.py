"""Who is asking, and the part of the city they may see; the live stream of their alerts."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from center.errors import ApiError, documented
from center.hub import TooManyStreams
from center.running import Reader, Running
from center.sse import LiveStream, alert_events

router = APIRouter(prefix="/api")


class Identity(BaseModel):
    name: str
    role: str
    may_act: bool
    zones: list[str] | None
    categories: list[str] | None


class ZoneOutline(BaseModel):
    id: str
    name: str
    polygon: list[list[float]]
    cameras: list[str]


class CityOutline(BaseModel):
    zones: list[ZoneOutline]


@router.get("/me", response_model=Identity, responses=documented(401))
async def me(token: Reader) -> Identity:
    responder = token.role == "responder"
    return Identity(
        name=token.name,
        role=token.role,
        may_act=token.may_act,
        zones=token.zones if responder else None,
        categories=list(token.categories) if responder and token.categories else None,
    )


@router.get("/city", response_model=CityOutline, responses=documented(401))
async def city_outline(center: Running, token: Reader) -> CityOutline:
    city = center.city
    shown = [z for z in city.zones if token.role != "responder" or z.id in (token.zones or ())]
    return CityOutline(zones=[
        ZoneOutline(id=z.id, name=z.name or z.id, polygon=z.polygon, cameras=city.cameras_by_zone.get(z.id, []))
        for z in shown
    ])


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}, **documented(401, 429)},
)
async def stream(center: Running, token: Reader) -> StreamingResponse:
    try:
        subscription = center.hub.subscribe(token)
    except TooManyStreams as error:
        raise ApiError(429, str(error)) from None
    return LiveStream(alert_events(center.hub, subscription, center.keepalive_s), center.live_streams.send_timeout_s)
