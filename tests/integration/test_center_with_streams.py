"""The whole loop: a device's panic through the real worker to the center, operators acting on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.stack import Stack
from tests.integration.alerts import IN_ZONE_A, beep
from tests.integration.center_support import RunningCenter, center_with_worker, wait_until
from tests.integration.support import Producer

pytestmark = pytest.mark.integration

OPERATOR, SUPERVISOR, RESPONDER, VIEWER = "op-secret", "sup-secret", "resp-secret", "view-secret"  # examples/tigre


@pytest.fixture(scope="module")
def center(stack: Stack, example_config: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCenter]:
    with center_with_worker(stack, example_config, tmp_path_factory.mktemp("center-streams") / "worker.log") as running:
        yield running


def test_operators_act_on_a_real_panic_and_the_history_says_who(center: RunningCenter, stack: Stack) -> None:
    producer = Producer(stack)
    panic = beep("bpr-0004", location=IN_ZONE_A)  # inside tigre-centro
    producer.send("devices.beeps", "bpr-0004", panic)
    producer.close()
    with center.client(OPERATOR) as operator, center.client(SUPERVISOR) as supervisor, \
            center.client(RESPONDER) as responder:
        def mine() -> dict | None:  # type: ignore[type-arg]
            found = [a for a in operator.get("/api/alerts").json()["alerts"] if panic["event_id"] in a["event_ids"]]
            return found[0] if found else None

        alert = wait_until(mine, timeout=30)
        alert_id = alert["alert_id"]
        assert (alert["zone_id"], alert["priority"], alert["category"]) == ("tigre-centro", 1, "panic")
        assert responder.get(f"/api/alerts/{alert_id}").status_code == 200  # Patrol 7 covers tigre-centro panics

        acked = operator.post(f"/api/alerts/{alert_id}/ack")
        assert acked.status_code == 200, acked.text
        assert (acked.json()["status"], acked.json()["changed_by"]) == ("acknowledged", "Operator 1")
        again = operator.post(f"/api/alerts/{alert_id}/ack")
        assert (again.status_code, again.json()["version"]) == (200, acked.json()["version"])
        sent = supervisor.post(f"/api/alerts/{alert_id}/dispatch", json={"responder": "Patrol 7"})
        assert sent.status_code == 200, sent.text
        assert (sent.json()["status"], sent.json()["responder"]) == ("dispatched", "Patrol 7")
        closed = operator.post(f"/api/alerts/{alert_id}/resolve", json={"disposition": "false_alarm", "note": "pocket"})
        assert closed.status_code == 200, closed.text
        assert (closed.json()["status"], closed.json()["disposition"], closed.json()["note"]) == (
            "resolved", "false_alarm", "pocket")

        history = operator.get(f"/api/alerts/{alert_id}/history").json()
        assert [(h["change"], h["changed_by"], h["status"]) for h in history] == [
            ("opened", "system", "open"),
            ("acknowledged", "Operator 1", "acknowledged"),
            ("dispatched", "Supervisor", "dispatched"),
            ("resolved", "Operator 1", "resolved"),
        ]
        late = operator.post(f"/api/alerts/{alert_id}/resolve", json={"disposition": "real", "note": ""})
        assert (late.status_code, late.json()) == (409, {"error": "the alert is already resolved"})
        assert alert_id not in {a["alert_id"] for a in operator.get("/api/alerts").json()["alerts"]}
        assert responder.post(f"/api/alerts/{alert_id}/ack").status_code == 403
