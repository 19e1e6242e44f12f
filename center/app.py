"""The monitoring center's HTTP service (contract section 3): the app factory and its lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.staticfiles import StaticFiles
from redis.asyncio import Redis
from redis.exceptions import RedisError

from alert_rules.city import City
from alert_rules.rules import Rules, SilenceSettings
from center import errors
from center.actions import ActionDesk
from center.auth import Tokens
from center.feed import AlertFeed
from center.health import Component, HealthSettings, HealthWatch
from center.hub import AlertHub
from center.metrics import CenterMetrics
from center.retention import RetentionSettings, sweep_forever
from center.routes import alerts, cap, checkins, commission, operations, people, plans, reports, silences
from center.running import Center
from center.silences import SilenceDesk
from center.sse import LiveStreamSettings
from center.views import AlertViews
from center.webhooks import Webhook
from commission.reports import CommissionSettings, StudyAreas
from vocabulary import internal
from vocabulary.http_limits import BodyLimit
from vocabulary.kafka_security import KafkaSecurity
from vocabulary.topics import ALERTS, ZONE_EVENTS, named

log = logging.getLogger("centinela.center")


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


def create_app(
    city: City,
    kafka: str,
    redis_url: str,
    snapshot_dir: Path | None = None,
    *,
    namespace: str = "centinela:center:",
    keepalive_s: float = 15.0,
    action_wait_s: float = 2.0,
    rules: Rules | None = None,
    silence_settings: SilenceSettings | None = None,
    internal_key: bytes | None = None,
    security: KafkaSecurity | None = None,
    health: HealthSettings | None = None,
    retention: RetentionSettings | None = None,
    commission_settings: CommissionSettings | None = None,
    live_streams: LiveStreamSettings | None = None,
) -> FastAPI:
    """The center: `kafka` is "host:port[,host:port]", `redis_url` like "redis://127.0.0.1:6379/0".

    Redis keys live under `namespace`; the views are rebuilt from the `alerts` topic when
    Redis holds none. `rules` gives the action plans (contract section 8). The internal key and
    the Kafka security settings come from the environment unless given (vocabulary.internal,
    vocabulary.kafka_security).
    """
    tokens = Tokens(city)
    secret = internal_key if internal_key is not None else internal.key_from_environment()
    security = security or KafkaSecurity.from_environment()
    health = health or HealthSettings()
    retention = retention or RetentionSettings()
    streams = live_streams or LiveStreamSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        redis = Redis.from_url(redis_url, socket_connect_timeout=2, health_check_interval=10)
        client = httpx.AsyncClient(timeout=5.0, follow_redirects=False)
        metrics = CenterMetrics()
        views = AlertViews(redis, namespace, retention_s=retention.resolved_s)
        feed = AlertFeed(kafka, named(ALERTS), views, metrics, secret, security)
        webhooks = [Webhook(token, client, metrics) for token in tokens.with_webhooks]
        center = Center(
            city=city, tokens=tokens, kafka=kafka, redis=redis, views=views, metrics=metrics,
            hub=AlertHub(redis, views.channel, metrics, streams.queue, streams.max_per_token, streams.max_total),
            feed=feed,
            snapshot_dir=snapshot_dir, keepalive_s=keepalive_s, live_streams=streams, action_wait_s=action_wait_s,
            silences=SilenceDesk(redis, namespace, secret), rules=rules or Rules(),
            silence_settings=silence_settings or SilenceSettings(), security=security, secret=secret,
            health=HealthWatch(kafka, redis, health, views.offsets, feed.consuming.is_set,
                               extra=lambda: webhook_components(webhooks), security=security,
                               partners=[p.id for p in city.partners]),
        )
        app.state.center = center
        async with client:
            _start(center, webhooks, retention)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(center.hub.listening.wait(), 5)
            try:
                yield
            finally:
                await _stop(center)
                await redis.aclose()

    app = FastAPI(
        title="Centinela monitoring center",
        version="1",
        description="Alerts for operators and responders (contract section 3).",
        lifespan=lifespan,
    )
    app.state.tokens = tokens
    app.state.commission = commission.CommissionDesk(StudyAreas(city.zones), commission_settings or CommissionSettings())
    errors.install(app)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(BodyLimit, headers=SECURITY_HEADERS)  # outermost: a large body is refused before anything reads it
    for module in (alerts, plans, silences, people, operations, checkins, reports, commission, cap):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=operations.STATIC), name="static")
    app.openapi = lambda: _openapi_with_json_errors(app)  # type: ignore[method-assign]  # FastAPI's documented override
    return app


def _start(center: Center, webhooks: list[Webhook], retention: RetentionSettings) -> None:
    center.spawn(center.hub.run(), "center-hub")
    center.spawn(_connect_kafka(center), "center-kafka")
    center.spawn(center.health.run(), "center-health")
    center.spawn(sweep_forever(center.views, retention.sweep_s), "center-retention")
    for webhook in webhooks:
        center.hub.add_listener(webhook.offer)
        center.spawn(webhook.run(), f"center-webhook-{webhook.token.name}")


def webhook_components(webhooks: list[Webhook]) -> dict[str, Component]:
    """Numbered, not named: /healthz needs no token, and who the responders are is private."""
    return {
        f"webhook:{n}": Component("degraded", w.failing) if w.failing else Component("ok", f"delivering, {w.queued} queued")
        for n, w in enumerate(webhooks, start=1)
    }


async def _stop(center: Center) -> None:
    center.hub.close()
    for task in center.tasks:
        task.cancel()
    await asyncio.gather(*center.tasks, return_exceptions=True)
    if center.producer is not None:
        await center.producer.stop()


async def _connect_kafka(center: Center) -> None:
    """Start the producer and the feed once the broker answers; /healthz says 503 until then."""
    while True:
        producer = AIOKafkaProducer(bootstrap_servers=center.kafka, linger_ms=0, **center.security.producer())
        try:
            await producer.start()
            break
        except (KafkaError, OSError) as error:
            await producer.stop()
            log.warning("Kafka at %s not reachable yet (%s); retrying", center.kafka, type(error).__name__)
            await asyncio.sleep(1)
    center.producer = producer
    center.desk = ActionDesk(producer, named(ZONE_EVENTS), center.hub, center.metrics, center.secret,
                             center.action_wait_s)
    await center.hub.listening.wait()  # changes published before the hub listens would reach no stream
    await _index_stored(center)
    await center.feed.run()


async def _index_stored(center: Center) -> None:
    """Before the feed writes: alerts stored by an older version get the per-zone indexes."""
    while True:
        try:
            indexed = await center.views.index_stored()
            if indexed:
                log.info("indexed %d alerts stored before the per-zone indexes", indexed)
            return
        except RedisError as error:
            log.warning("Redis not reachable to check the alert indexes (%s); retrying", type(error).__name__)
            await asyncio.sleep(1)


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
