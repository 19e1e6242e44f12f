"""A supervisor's run-time silence through the real worker: matching signals open nothing, others still do."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from deploy.stack import Stack
from tests.integration.alerts import signal
from tests.integration.center_support import RunningCenter, center_with_worker, wait_until
from tests.integration.support import Producer

pytestmark = pytest.mark.integration

OPERATOR, SUPERVISOR, RESPONDER = "op-secret", "sup-secret", "resp-secret"  # examples/tigre
PANEL = "acct-1003"  # tigre-delta


@pytest.fixture(scope="module")
def center(stack: Stack, example_config: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCenter]:
    with center_with_worker(stack, example_config, tmp_path_factory.mktemp("silences") / "worker.log") as running:
        yield running


def _with_event(client: httpx.Client, event_id: str) -> list[dict]:  # type: ignore[type-arg]
    alerts = client.get("/api/alerts", params={"status": "all"}).json()["alerts"]
    return [a for a in alerts if event_id in a["event_ids"]]


def test_a_supervisor_silences_intrusions_in_a_zone(center: RunningCenter, stack: Stack) -> None:
    ends_at = (datetime.now(UTC) + timedelta(minutes=10)).isoformat()
    body = {"zones": ["tigre-delta"], "category": "intrusion", "ends_at": ends_at, "reason": "alarm company testing"}
    with center.client(OPERATOR) as operator, center.client(SUPERVISOR) as supervisor, \
            center.client(RESPONDER) as responder:
        refused = operator.post("/api/silences", json=body)
        assert (refused.status_code, refused.json()) == (403, {"error": "the operator role may not manage silences"})
        assert supervisor.post("/api/silences", json={"zones": ["tigre-delta"]}).status_code == 422
        assert supervisor.post("/api/silences", json={**body, "zones": ["nowhere"]}).status_code == 422

        created = supervisor.post("/api/silences", json=body)
        assert created.status_code == 201, created.text
        silence = created.json()
        assert (silence["author"], silence["zones"], silence["match"]["category"]) == (
            "Supervisor", ["tigre-delta"], ["intrusion"])
        listed = operator.get("/api/silences").json()["silences"]
        assert [s["id"] for s in listed] == [silence["id"]]
        assert responder.get("/api/silences").json() == {"silences": []}  # Patrol 7 does not cover tigre-delta

        producer = Producer(stack)
        intrusion, fire = signal(PANEL, 130), signal(PANEL, 110)
        producer.send("devices.alarms", PANEL, intrusion)
        producer.send("devices.alarms", PANEL, fire)  # same partition, after the intrusion
        producer.close()
        opened = wait_until(lambda: _with_event(operator, fire["event_id"]), timeout=30)
        assert (opened[0]["zone_id"], opened[0]["category"]) == ("tigre-delta", "fire")
        assert _with_event(operator, intrusion["event_id"]) == []  # held back by the silence

        assert operator.delete(f"/api/silences/{silence['id']}").status_code == 403
        ended = supervisor.delete(f"/api/silences/{silence['id']}")
        assert (ended.status_code, ended.json()) == (200, {"id": silence["id"], "status": "ended"})
        assert operator.get("/api/silences").json() == {"silences": []}
        assert supervisor.delete(f"/api/silences/{silence['id']}").status_code == 404

        producer = Producer(stack)
        after = signal(PANEL, 130)
        producer.send("devices.alarms", PANEL, after)
        producer.close()
        again = wait_until(lambda: _with_event(operator, after["event_id"]), timeout=30)
        assert again[0]["category"] == "intrusion"  # the silence ended: intrusions open again
