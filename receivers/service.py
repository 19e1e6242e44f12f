"""Runs both receivers against the broker: what `centinela receiver` calls."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

import uvicorn

from alert_rules.city import City
from receivers.dc09_server import Dc09Server
from receivers.handling import FrameHandler
from receivers.ingest import Window, create_ingest_app
from receivers.publisher import Publisher
from receivers.replies import report_replies
from receivers.settings import IngestSettings
from vocabulary import internal
from vocabulary.kafka_security import KafkaSecurity
from vocabulary.listening import bind, parse_address

log = logging.getLogger("centinela.receivers")

DEFAULT_DC09 = "127.0.0.1:9020"
DEFAULT_INGEST = "127.0.0.1:8090"


def addresses(environ: Mapping[str, str]) -> tuple[tuple[str, int], tuple[str, int]]:
    """CENTINELA_DC09 and CENTINELA_INGEST, or their defaults."""
    return (parse_address(environ.get("CENTINELA_DC09", DEFAULT_DC09), "CENTINELA_DC09"),
            parse_address(environ.get("CENTINELA_INGEST", DEFAULT_INGEST), "CENTINELA_INGEST"))


async def serve(city: City, settings: IngestSettings, window: Window, kafka: str,
                dc09: tuple[str, int], ingest: tuple[str, int], internal_key: bytes,
                security: KafkaSecurity | None = None, redis_url: str | None = None) -> None:
    """Serve DC-09 (TCP and UDP) and HTTP ingestion until cancelled; with `redis_url`, report
    the replies for /metrics. Every event carries its receipt, signed with a key derived from
    the internal key, so that admission measures its age from when it was received."""
    ingest_socket = bind(*ingest, "ingestion")
    publisher = Publisher(kafka, internal.receipt_key(internal_key), security)
    server = Dc09Server(FrameHandler(city.panels, per_panel_per_min=settings.dc09_per_panel_per_min),
                        publisher.publish, settings)
    reporting = asyncio.create_task(report_replies(server.counts, redis_url)) if redis_url else None
    try:
        await server.start(*dc09)
        await publisher.start()
        app = create_ingest_app(city, settings, window, publisher.publish)
        http = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                                             timeout_graceful_shutdown=3))
        http.install_signal_handlers = lambda: None  # type: ignore[attr-defined]  # the caller owns signals
        log.info("receivers: DC-09 on %s:%d (TCP and UDP), ingestion on http://%s:%d/", *dc09, *ingest)
        serving = asyncio.create_task(http.serve(sockets=[ingest_socket]))
        try:
            await asyncio.shield(serving)
        except asyncio.CancelledError:
            http.should_exit = True
            await serving
            raise
    finally:
        if reporting is not None:
            reporting.cancel()
        await server.close()
        await publisher.stop()
        ingest_socket.close()
