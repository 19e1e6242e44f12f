"""Test support for the center: a running center on a free port, and alerts to publish.

Tests that need operators' actions applied run the real stream worker beside it
(tests/integration/test_center_with_streams.py, tests/e2e/test_console.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from kafka import KafkaProducer

from alert_rules.city import City, Token, Zone
from center.app import create_app
from centinela.config import load_config
from deploy.stack import Stack, free_port
from tests.conftest import INTERNAL_KEY
from tests.integration.support import send_signed, worker
from vocabulary.events import Alert, AlertSource
from vocabulary.kafka_security import KafkaSecurity
from vocabulary.topics import ALERTS

OPERATOR = "operator-secret-1"
SUPERVISOR = "supervisor-secret-1"
VIEWER = "viewer-secret-1"
RESPONDER = "responder-north-1"  # sees panic and duress in zone north only

def sample_city() -> City:
    square = [[-58.58, -34.43], [-58.57, -34.43], [-58.57, -34.42], [-58.58, -34.42]]
    south = [[lon, lat - 0.02] for lon, lat in square]
    return City(
        zones=[Zone(id="north", name="Norte", polygon=square), Zone(id="south", name="Sur", polygon=south)],
        tokens=[
            Token(token=OPERATOR, role="operator", name="Operator Ana"),
            Token(token=SUPERVISOR, role="supervisor", name="Supervisor Luis"),
            Token(token=VIEWER, role="viewer", name="Viewer Eva"),
            Token(token=RESPONDER, role="responder", name="Patrol 7", zones=["north"], categories=["panic", "duress"]),
        ],
    )


def make_alert(
    zone: str = "north",
    priority: int = 1,
    category: str = "panic",
    alert_id: str | None = None,
    opened_ago_s: float = 0.0,
    version: int = 1,
    status: str = "open",
    snapshot: str | None = None,
) -> Alert:
    opened = datetime.now(UTC) - timedelta(seconds=opened_ago_s)
    return Alert.model_validate(
        {
            "alert_id": alert_id or f"t-{uuid.uuid4().hex[:12]}",
            "zone_id": zone,
            "priority": priority,
            "category": category,
            "title": f"{category} in {zone}",
            "status": status,
            "opened_at": opened,
            "updated_at": opened,
            "source": AlertSource(kind="beeper", id="bpr-0001"),
            "count": 1,
            "event_ids": ["e-1"],
            "location": {"lat": -34.425, "lon": -58.575, "accuracy_m": 8.0},
            "rule": "panic-beep",
            "version": version,
            "snapshot": snapshot,
        },
        strict=False,
    )


class AlertPublisher:
    """Publishes alert snapshots to the `alerts` topic, as the streams do."""

    def __init__(self, kafka: str) -> None:
        self._producer = KafkaProducer(bootstrap_servers=kafka, linger_ms=0, **KafkaSecurity.from_environment().producer())

    def publish(self, *alerts: Alert) -> None:
        for alert in alerts:
            key, body = alert.zone_id.encode(), alert.model_dump_json().encode()
            send_signed(self._producer, ALERTS, key, body, INTERNAL_KEY)
        self._producer.flush(10)

    def close(self) -> None:
        self._producer.close(5)


@dataclass
class RunningCenter:
    url: str
    namespace: str
    loop: asyncio.AbstractEventLoop
    app: Any

    def run(self, work: Coroutine[Any, Any, Any], timeout: float = 10.0) -> Any:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout)

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10.0)


def wait_until(check: Any, timeout: float = 10.0, every: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(every)


@contextlib.contextmanager
def running_center(
    city: City,
    kafka: str,
    redis_url: str,
    snapshot_dir: Path | None = None,
    namespace: str | None = None,
    **options: Any,
) -> Iterator[RunningCenter]:
    """A center served by uvicorn on a free loopback port, in a thread with its own loop."""
    namespace = namespace or f"test-{uuid.uuid4().hex[:8]}:"
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="center-under-test", daemon=True)
    thread.start()
    port = free_port()
    app = create_app(city, kafka, redis_url, snapshot_dir, namespace=namespace, **options)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    serving = asyncio.run_coroutine_threadsafe(server.serve(), loop)
    running = RunningCenter(f"http://127.0.0.1:{port}", namespace, loop, app)
    try:
        wait_until(lambda: server.started or serving.done(), timeout=15)
        if serving.done():
            serving.result()
        center = app.state.center
        wait_until(lambda: center.feed.consuming.is_set() and center.desk is not None, timeout=15)
        yield running
    finally:
        server.should_exit = True
        center = getattr(app.state, "center", None)
        if center is not None:
            loop.call_soon_threadsafe(center.hub.close)
        with contextlib.suppress(Exception):
            serving.result(15)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


@contextlib.contextmanager
def center_with_worker(stack: Stack, config: Path, log: Path) -> Iterator[RunningCenter]:
    """The real stream worker and a center beside it, both on the city in `config`."""
    loaded = load_config(config)
    with worker(stack, config, log), \
            running_center(loaded.city, stack.kafka, stack.redis_url, rules=loaded.rules) as running:
        yield running
