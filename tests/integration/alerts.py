"""Reading the `alerts` topic the way a consumer should: the newest version of each alert wins."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.integration.support import Broker, TopicReader, now_ts

FAST_CITY = Path(__file__).parent / "fast_city"
IN_ZONE_A = {"lat": -34.425, "lon": -58.58, "accuracy_m": 10}

Alerts = dict[str, dict[str, Any]]


def uid() -> str:
    return uuid.uuid4().hex[:16]


def beep(device: str, kind: str = "panic", **changes: object) -> dict[str, object]:
    return {"event_id": uid(), "device_id": device, "ts": now_ts(), "kind": kind, **changes}


def signal(panel: str, code: int, qualifier: int = 1, **changes: object) -> dict[str, object]:
    return {"event_id": uid(), "panel_id": panel, "ts": now_ts(), "qualifier": qualifier, "code": code,
            "group": 1, "zone": 1, **changes}


def motion(camera: str, phase: str = "start", area: float = 5.0, **changes: object) -> dict[str, object]:
    return {"event_id": uid(), "camera_id": camera, "ts": now_ts(), "motion_id": uid(), "phase": phase,
            "area_pct": area, "boxes": [[0.2, 0.2, 0.3, 0.5]], "regions": [], **changes}


class AlertWatch:
    """Every snapshot on `alerts` since it was made, folded to the newest version per alert."""

    def __init__(self, stack: Broker, from_start: bool = False) -> None:
        self.reader = TopicReader(stack, "alerts", from_start)
        self.messages: list[tuple[bytes | None, dict[str, Any]]] = []

    @property
    def latest(self) -> Alerts:
        newest: Alerts = {}
        for _, alert in self.messages:
            known = newest.get(alert["alert_id"])
            if known is None or alert["version"] >= known["version"]:
                newest[alert["alert_id"]] = alert
        return newest

    def wait(self, done: Callable[[Alerts], bool], timeout_s: float = 20.0) -> Alerts:
        before = list(self.messages)

        def check(found: list[tuple[bytes | None, dict[str, Any]]]) -> bool:
            self.messages = before + found
            return done(self.latest)

        self.reader.read_until(check, timeout_s)
        return self.latest

    def close(self) -> None:
        self.reader.close()


def find(alerts: Alerts, **fields: Any) -> list[dict[str, Any]]:
    return [a for a in alerts.values() if all(a.get(k) == v for k, v in fields.items())]
