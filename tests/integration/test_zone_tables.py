"""The zones' states in Redis: what a worker knew survives a broker that forgot everything."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy.stack import Stack
from tests.integration.alerts import FAST_CITY, AlertWatch, beep, find
from tests.integration.support import Producer, worker

pytestmark = pytest.mark.integration


def mine(alerts: dict) -> list[dict]:  # type: ignore[type-arg]
    return find(alerts, source={"kind": "beeper", "id": "bpr-c"})


def test_a_worker_keeps_its_zones_across_a_restart_of_the_embedded_broker(tmp_path: Path) -> None:
    seen: list[dict] = []  # type: ignore[type-arg]
    for run in ("first", "second"):
        # As `centinela up` restarts: a new in-memory broker (no topics, no offsets), Redis from its append-only file.
        with Stack(partitions=4, workdir=tmp_path / "stack") as stack:
            watch = AlertWatch(stack)
            with worker(stack, FAST_CITY, tmp_path / f"{run}.log"):
                watch.wait(lambda a: False, timeout_s=6)  # let it join its groups
                panic = beep("bpr-c")
                producer = Producer(stack)
                producer.send("devices.beeps", "bpr-c", panic)
                producer.close()
                alerts = watch.wait(lambda a: any(panic["event_id"] in x["event_ids"] for x in mine(a)), timeout_s=30)
                watch.wait(lambda a: False, timeout_s=1.5)  # a save (every 0.5 s) writes the zone's state
            watch.close()
        [alert] = mine(alerts)
        seen.append(alert)
    first, second = seen
    assert second["alert_id"] == first["alert_id"], "the second panic opened a new alert: the zone was forgotten"
    assert (first["count"], second["count"]) == (1, 2)
    assert second["event_ids"] == [*first["event_ids"], *second["event_ids"][1:]] and len(second["event_ids"]) == 2
