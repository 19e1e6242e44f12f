"""Runs both receivers against the broker: what `centinela receiver` calls."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Mapping

import uvicorn

from alert_rules.city import City
from receivers.dc09_server import Dc09Server
from receivers.handling import FrameHandler
from receivers.ingest import create_ingest_app
from receivers.publisher import Publisher
from receivers.replies import report_replies
from receivers.settings import IngestSettings
from vocabulary.errors import Unavailable, UsageError
from vocabulary.kafka_security import KafkaSecurity

log = logging.getLogger("centinela.receivers")

DEFAULT_DC09 = "127.0.0.1:9020"
DEFAULT_INGEST = "127.0.0.1:8090"


def parse_address(address: str, name: str) -> tuple[str, int]:
    """"host:port" (IPv6 as "[::1]:9020")."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"{name}: expected host:port, got {address!r}")
    return host.strip("[]"), int(port)


def addresses(environ: Mapping[str, str]) -> tuple[tuple[str, int], tuple[str, int]]:
    """CENTINELA_DC09 and CENTINELA_INGEST, or their defaults."""
    return (parse_address(environ.get("CENTINELA_DC09", DEFAULT_DC09), "CENTINELA_DC09"),
            parse_address(environ.get("CENTINELA_INGEST", DEFAULT_INGEST), "CENTINELA_INGEST"))


def _bind(host: str, port: int) -> socket.socket:
    """Bind before serving, so a taken port is a clear error and not a log line."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise Unavailable(f"ingestion cannot listen on {host}:{port}: {error.strerror}") from None
    sock.listen(128)
    sock.setblocking(False)
    return sock


async def serve(city: City, settings: IngestSettings, max_bytes: int, kafka: str,
                dc09: tuple[str, int], ingest: tuple[str, int], security: KafkaSecurity | None = None,
                redis_url: str | None = None) -> None:
    """Serve DC-09 (TCP and UDP) and HTTP ingestion until cancelled; with `redis_url`, report
    the replies for /metrics."""
    ingest_socket = _bind(*ingest)
    publisher = Publisher(kafka, security)
    server = Dc09Server(FrameHandler(city.panels), publisher.publish, settings)
    reporting = asyncio.create_task(report_replies(server.counts, redis_url)) if redis_url else None
    try:
        await server.start(*dc09)
        await publisher.start()
        app = create_ingest_app(city, settings, max_bytes, publisher.publish)
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
