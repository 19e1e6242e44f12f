"""The monitoring center's HTTP service (contract section 3): API, live stream, console."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import httpx
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.openapi.utils import get_openapi
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, ConfigDict, Field
from redis.asyncio import Redis

from alert_rules.city import City, Token
from vocabulary.events import Alert, Category, Id, Timestamp
from center import errors
from center.actions import ActionDesk, ActionName
from center.auth import Tokens, require_actor, sees
from center.errors import ApiError
from center.feed import AlertFeed
from center.hub import AlertHub
from center.metrics import CenterMetrics
from center.silences import ActiveSilence, SilenceDesk, new_silence, visible_to
from center.snapshots import snapshot_file
from center.sse import HEADERS, alert_events
from center.views import AlertViews, matching
from center.webhooks import Webhook
from vocabulary.topics import ALERTS, ZONE_EVENTS, named

log = logging.getLogger("centinela.center")
P = TypeVar("P")

STATIC = Path(__file__).parent / "static"
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
        b"connect-src 'self'; frame-ancestors 'none'",
    ),
]


class AlertList(BaseModel):
    alerts: list[Alert]


class ErrorBody(BaseModel):
    error: str


class Pending(BaseModel):
    alert_id: str
    status: Literal["pending"]


class Dispatch(BaseModel):
    model_config = ConfigDict(extra="ignore")
    responder: Annotated[str, Field(min_length=1, max_length=200)]


class Resolve(BaseModel):
    model_config = ConfigDict(extra="ignore")
    disposition: Literal["real", "false_alarm", "test"]
    note: Annotated[str, Field(max_length=4000)] = ""


class SilenceRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    zones: Annotated[list[Id], Field(min_length=1, max_length=1000)] | None = Field(
        None, description="the zones to silence; all zones when absent")
    category: Category | None = None
    source: Id | None = Field(None, description="a device id")
    starts_at: Timestamp | None = Field(None, description="default: now")
    ends_at: Timestamp
    reason: Annotated[str, Field(min_length=1, max_length=1000)]


class SilenceList(BaseModel):
    silences: list[ActiveSilence]


class SilenceEnded(BaseModel):
    id: str
    status: Literal["ended"]


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


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorBody} for code in codes}


@dataclass
class Center:
    """Everything one running center holds."""

    city: City
    tokens: Tokens
    kafka: str
    redis: Redis
    views: AlertViews
    metrics: CenterMetrics
    hub: AlertHub
    feed: AlertFeed
    snapshot_dir: Path | None
    keepalive_s: float
    action_wait_s: float
    silences: SilenceDesk
    producer: AIOKafkaProducer | None = None
    desk: ActionDesk | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        self.tasks.append(asyncio.create_task(work, name=name))

_bearer = HTTPBearer(auto_error=False, description="a token from the configuration")


def ready(publisher: P | None) -> P:
    """The Kafka-side publisher, or 503 while the center has not reached the broker yet."""
    if publisher is None:
        raise ApiError(503, "the message broker is not reachable yet")
    return publisher


@contextlib.contextmanager
def publishing(what: str) -> Iterator[None]:
    """A failed publish is a 503 for the caller and a warning here, never a 500."""
    try:
        yield
    except KafkaError as error:
        log.warning("could not publish %s: %s", what, type(error).__name__)
        raise ApiError(503, "the message broker is not reachable") from None


def _running(request: Request) -> Center:
    return request.app.state.center  # type: ignore[no-any-return]


def _reader(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Token:
    tokens: Tokens = request.app.state.tokens
    token = tokens.find(credentials.credentials) if credentials and credentials.credentials else None
    if token is None:
        raise ApiError(401, "a valid bearer token is required")
    return token


def _actor(token: Annotated[Token, Depends(_reader)]) -> Token:
    require_actor(token)
    return token


def _supervisor(token: Annotated[Token, Depends(_reader)]) -> Token:
    if token.role != "supervisor":
        raise ApiError(403, f"the {token.role} role may not manage silences")
    return token


Reader = Annotated[Token, Depends(_reader)]
Actor = Annotated[Token, Depends(_actor)]
Supervisor = Annotated[Token, Depends(_supervisor)]
Running = Annotated[Center, Depends(_running)]


async def _connect_kafka(center: Center) -> None:
    """Start the producer and the feed once the broker answers; /healthz says 503 until then."""
    while True:
        producer = AIOKafkaProducer(bootstrap_servers=center.kafka, linger_ms=0)
        try:
            await producer.start()
            break
        except (KafkaError, OSError) as error:
            await producer.stop()
            log.warning("Kafka at %s not reachable yet (%s); retrying", center.kafka, type(error).__name__)
            await asyncio.sleep(1)
    center.producer = producer
    center.desk = ActionDesk(producer, named(ZONE_EVENTS), center.hub, center.metrics, center.action_wait_s)
    await center.hub.listening.wait()  # changes published before the hub listens would reach no stream
    await center.feed.run()


class SecurityHeaders:
    """Plain ASGI, so that streaming responses pass through untouched."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + SECURITY_HEADERS
            await send(message)

        await self.app(scope, receive, with_headers)


def create_app(
    city: City,
    kafka: str,
    redis_url: str,
    snapshot_dir: Path | None = None,
    *,
    namespace: str = "centinela:center:",
    keepalive_s: float = 15.0,
    action_wait_s: float = 2.0,
) -> FastAPI:
    """The center: `kafka` is "host:port[,host:port]", `redis_url` like "redis://127.0.0.1:6379/0".

    Redis keys live under `namespace`; the views are rebuilt from the `alerts` topic when
    Redis holds none.
    """
    tokens = Tokens(city)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        redis = Redis.from_url(redis_url, socket_connect_timeout=2, health_check_interval=10)
        metrics = CenterMetrics()
        views = AlertViews(redis, namespace)
        hub = AlertHub(redis, views.channel, metrics)
        center = Center(
            city=city,
            tokens=tokens,
            kafka=kafka,
            redis=redis,
            views=views,
            metrics=metrics,
            hub=hub,
            feed=AlertFeed(kafka, named(ALERTS), views, metrics),
            snapshot_dir=snapshot_dir,
            keepalive_s=keepalive_s,
            action_wait_s=action_wait_s,
            silences=SilenceDesk(redis, namespace),
        )
        app.state.center = center
        client = httpx.AsyncClient(timeout=5.0, follow_redirects=False)
        center.spawn(hub.run(), "center-hub")
        center.spawn(_connect_kafka(center), "center-kafka")
        for token in tokens.with_webhooks:
            webhook = Webhook(token, client, metrics)
            hub.add_listener(webhook.offer)
            center.spawn(webhook.run(), f"center-webhook-{token.name}")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(hub.listening.wait(), 5)
        try:
            yield
        finally:
            hub.close()
            for task in center.tasks:
                task.cancel()
            await asyncio.gather(*center.tasks, return_exceptions=True)
            if center.producer is not None:
                await center.producer.stop()
            await client.aclose()
            await redis.aclose()

    app = FastAPI(
        title="Centinela monitoring center",
        version="1",
        description="Alerts for operators and responders (contract section 3).",
        lifespan=lifespan,
    )
    app.state.tokens = tokens
    errors.install(app)
    app.add_middleware(SecurityHeaders)
    async def visible(center: Center, token: Token, alert_id: str) -> Alert:
        alert = await center.views.get(alert_id)
        if alert is None or not sees(token, alert):
            raise ApiError(404, "no such alert")
        return alert

    @app.get("/api/alerts", response_model=AlertList, responses=_errors(401, 422))
    async def list_alerts(
        center: Running,
        token: Reader,
        status: Annotated[
            Literal["open", "all"], Query(description="open: every alert not yet resolved; all: resolved too")
        ] = "open",
        zone: Annotated[str | None, Query(max_length=64)] = None,
        category: Category | None = None,
        limit: Annotated[int, Query(ge=1, le=10000, description="at most this many, most urgent first")] = 1000,
    ) -> Response:
        bodies = await center.views.queue(include_resolved=status == "all", limit=limit)
        scope = token.sees if token.role == "responder" else None
        kept = matching(bodies, zone=zone or None, category=category, sees=scope)
        return Response(b'{"alerts":[' + ",".join(kept).encode() + b"]}", media_type="application/json")

    @app.get("/api/alerts/{alert_id}", response_model=Alert, responses=_errors(401, 404))
    async def get_alert(alert_id: str, center: Running, token: Reader) -> Alert:
        return await visible(center, token, alert_id)

    @app.get("/api/alerts/{alert_id}/history", response_model=list[Alert], responses=_errors(401, 404))
    async def alert_history(alert_id: str, center: Running, token: Reader) -> list[Alert]:
        await visible(center, token, alert_id)
        return await center.views.history(alert_id)

    @app.get(
        "/api/alerts/{alert_id}/snapshot",
        response_class=FileResponse,
        responses={200: {"content": {"image/jpeg": {}}}, **_errors(401, 404)},
    )
    async def alert_snapshot(alert_id: str, center: Running, token: Reader) -> FileResponse:
        alert = await visible(center, token, alert_id)
        found = snapshot_file(center.snapshot_dir, alert.snapshot)
        if found is None:
            raise ApiError(404, "no snapshot for this alert")
        return FileResponse(found, headers={"Cache-Control": "private, max-age=300"})

    async def act(center: Center, token: Token, alert_id: str, action: ActionName, **details: Any) -> Response:
        alert = await visible(center, token, alert_id)
        if alert.status == "resolved":
            raise ApiError(409, "the alert is already resolved")
        already = (action == "ack" and alert.status != "open") or (
            action == "dispatch" and alert.status == "dispatched" and alert.responder == details.get("responder")
        )
        if already:  # evaluate would publish nothing: answer now instead of after the wait
            return Response(alert.model_dump_json(), media_type="application/json")
        with publishing(f"a {action} action"):
            updated = await ready(center.desk).submit(alert, action, token, **details)
        if updated is None:
            return JSONResponse({"alert_id": alert_id, "status": "pending"}, status_code=202)
        return Response(updated.model_dump_json(), media_type="application/json")

    action_responses: dict[int | str, dict[str, Any]] = {
        200: {"model": Alert, "description": "the alert with the action applied"},
        202: {"model": Pending, "description": "published; not applied within the wait"},
        **_errors(401, 403, 404, 409, 422, 503),
    }

    @app.post("/api/alerts/{alert_id}/ack", response_model=Alert, responses=action_responses)
    async def acknowledge(alert_id: str, center: Running, token: Actor) -> Response:
        return await act(center, token, alert_id, "ack")

    @app.post("/api/alerts/{alert_id}/dispatch", response_model=Alert, responses=action_responses)
    async def dispatch(alert_id: str, body: Dispatch, center: Running, token: Actor) -> Response:
        return await act(center, token, alert_id, "dispatch", responder=body.responder)

    @app.post("/api/alerts/{alert_id}/resolve", response_model=Alert, responses=action_responses)
    async def resolve(alert_id: str, body: Resolve, center: Running, token: Actor) -> Response:
        return await act(center, token, alert_id, "resolve", disposition=body.disposition, note=body.note)

    @app.post("/api/silences", response_model=ActiveSilence, status_code=201,
              responses=_errors(401, 403, 422, 503))
    async def add_silence(body: SilenceRequest, center: Running, token: Supervisor) -> Response:
        known = [z.id for z in city.zones]
        zones = list(dict.fromkeys(body.zones)) if body.zones is not None else known
        unknown = [z for z in zones if z not in city.zone_by_id]
        if unknown:
            raise ApiError(422, f"zones: unknown zone {unknown[0]}")
        now = datetime.now(UTC)
        starts_at = body.starts_at or now
        if body.ends_at <= starts_at:
            raise ApiError(422, "ends_at: must be after starts_at")
        if body.ends_at <= now:
            raise ApiError(422, "ends_at: must be in the future")
        silence = new_silence(zones, body.category, body.source, starts_at, body.ends_at, body.reason, token)
        with publishing("a silence"):
            await center.silences.add(ready(center.producer), named(ZONE_EVENTS), silence)
        return Response(silence.model_dump_json(), status_code=201, media_type="application/json")

    @app.get("/api/silences", response_model=SilenceList, responses=_errors(401))
    async def list_silences(center: Running, token: Reader) -> SilenceList:
        found = (visible_to(token, s) for s in await center.silences.active(datetime.now(UTC)))
        return SilenceList(silences=[s for s in found if s is not None])

    @app.delete("/api/silences/{silence_id}", response_model=SilenceEnded, responses=_errors(401, 403, 404, 503))
    async def end_silence(silence_id: str, center: Running, token: Supervisor) -> SilenceEnded:
        silence = await center.silences.get(silence_id, datetime.now(UTC))
        if silence is None:
            raise ApiError(404, "no such active silence")
        with publishing("the end of a silence"):
            await center.silences.end(ready(center.producer), named(ZONE_EVENTS), silence)
        return SilenceEnded(id=silence.id, status="ended")

    @app.get(
        "/api/stream",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}}, **_errors(401)},
    )
    async def stream(center: Running, token: Reader) -> StreamingResponse:
        return StreamingResponse(
            alert_events(center.hub, token, center.keepalive_s), media_type="text/event-stream", headers=HEADERS
        )

    @app.get("/api/me", response_model=Identity, responses=_errors(401))
    async def me(token: Reader) -> Identity:
        return Identity(
            name=token.name,
            role=token.role,
            may_act=token.may_act,
            zones=token.zones if token.role == "responder" else None,
            categories=list(token.categories) if token.role == "responder" and token.categories else None,
        )

    @app.get("/api/city", response_model=CityOutline, responses=_errors(401))
    async def city_outline(token: Reader) -> CityOutline:
        shown = [z for z in city.zones if token.role != "responder" or z.id in (token.zones or ())]
        return CityOutline(
            zones=[
                ZoneOutline(id=z.id, name=z.name or z.id, polygon=z.polygon, cameras=city.cameras_by_zone.get(z.id, []))
                for z in shown
            ]
        )

    @app.get("/healthz", responses={503: {"model": ErrorBody}})
    async def healthz(center: Running) -> JSONResponse:
        problems = []
        try:
            await asyncio.wait_for(center.redis.ping(), 1.0)
        except Exception as error:  # any failure means unreachable
            problems.append(f"redis unreachable ({type(error).__name__})")
        if center.producer is None:
            problems.append("kafka unreachable")
        else:
            try:
                await asyncio.wait_for(center.producer.client.fetch_all_metadata(), 1.0)
            except Exception as error:  # any failure means unreachable
                problems.append(f"kafka unreachable ({type(error).__name__})")
        if problems:
            return JSONResponse({"error": "; ".join(problems)}, status_code=503)
        return JSONResponse({"status": "ok", "feed": "consuming" if center.feed.consuming.is_set() else "starting"})

    @app.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
    async def metrics(center: Running) -> Response:
        return Response(await center.metrics.render(center.views), media_type=CONTENT_TYPE_LATEST)

    @app.get("/", include_in_schema=False)
    async def console() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.openapi = lambda: _openapi_with_json_errors(app)  # type: ignore[method-assign]
    return app


def _openapi_with_json_errors(app: FastAPI) -> dict[str, Any]:
    """FastAPI documents its own 422 shape; ours is `{"error": str}` everywhere."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        for operation in (op for path in schema["paths"].values() for op in path.values()):
            if "422" in operation.get("responses", {}):
                operation["responses"]["422"] = {
                    "description": "a bad request",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
                }
        for unused in ("HTTPValidationError", "ValidationError"):
            schema.get("components", {}).get("schemas", {}).pop(unused, None)
        app.openapi_schema = schema
    return app.openapi_schema
