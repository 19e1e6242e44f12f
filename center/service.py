"""Runs the center under uvicorn: what `centinela up` calls."""

from __future__ import annotations

import asyncio
from pathlib import Path

import uvicorn

from alert_rules.city import City
from alert_rules.rules import Rules, SilenceSettings
from center.app import create_app
from center.health import HealthSettings
from center.retention import RetentionSettings
from center.sse import LiveStreamSettings
from commission.reports import CommissionSettings
from vocabulary.listening import bind


async def serve(
    city: City,
    kafka: str,
    redis_url: str,
    host: str = "127.0.0.1",
    port: int = 8080,
    snapshot_dir: Path | None = None,
    rules: Rules | None = None,
    silence_settings: SilenceSettings | None = None,
    health: HealthSettings | None = None,
    retention: RetentionSettings | None = None,
    commission_settings: CommissionSettings | None = None,
    live_streams: LiveStreamSettings | None = None,
) -> None:
    """Serve until cancelled or until uvicorn is told to exit; raises Unavailable first if its port is taken."""
    sock = bind(host, port, "the center")
    app = create_app(city, kafka, redis_url, snapshot_dir, rules=rules, silence_settings=silence_settings,
                     health=health, retention=retention, commission_settings=commission_settings,
                     live_streams=live_streams)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,  # paths are enough in metrics; access lines would record who looked at what
            timeout_graceful_shutdown=3,
            lifespan="on",
        )
    )
    server.install_signal_handlers = lambda: None  # type: ignore[attr-defined]  # the caller owns signals; uvicorn has no setting for it
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await asyncio.shield(serving)
    except asyncio.CancelledError:
        server.should_exit = True
        center = getattr(app.state, "center", None)
        if center is not None:
            center.hub.close()  # end live streams now, or shutdown waits for them
        await serving
        raise
    finally:
        sock.close()
