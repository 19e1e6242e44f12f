"""The system heals itself (contract section 10): `centinela up` with its processes killed and frozen
(the broker's own SIGKILL: tests/integration/test_broker_durability.py)."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

import pytest

from tests.integration.system import OPERATOR, System, poll

pytestmark = pytest.mark.integration


def test_a_lane_killed_eight_times_within_a_minute_is_still_restarted_and_panics_flow(tmp_path: Path) -> None:
    with System(tmp_path) as system:
        system.wait_ready()
        name = "worker-1.urgent"
        started = time.monotonic()
        for _ in range(8):
            pid = poll(lambda: (r := system.records().get(name)) and r.pid and r.state != "waiting" and r.pid,
                       30, f"{name} started again")
            os.kill(pid, signal.SIGKILL)
            poll(lambda: (r := system.records().get(name)) and r.pid != pid, 30, f"{name} seen dead")
        assert time.monotonic() - started < 60
        assert system.records()[name].restarts >= 8
        system.running(name)
        alert = system.wait_alert(system.send_panic("bpr-b"), timeout_s=60)
        assert alert["zone_id"] == "zone-b"
        metrics = system.http.get("/metrics").text
        assert f'centinela_process_restarts_total{{process="{name}"}}' in metrics


def test_a_frozen_evaluate_lane_makes_healthz_503_until_it_thaws_and_its_waiting_panic_opens(tmp_path: Path) -> None:
    with System(tmp_path, stall_s=5) as system:
        system.wait_ready()
        evaluate = system.running("worker-1.evaluate")
        os.kill(evaluate.pid or 0, signal.SIGSTOP)
        try:
            event_id = system.send_panic("bpr-b")
            _, body = poll(lambda: (h := system.health())[0] == 503 and not h[1]["components"]["lane:evaluate"]["ok"]
                           and h, 45, "/healthz 503 for the evaluate lane")
            assert body["status"] == "down"
            assert "waiting on zone.events" in body["components"]["lane:evaluate"]["detail"]
            assert system.alert_of(event_id) is None
        finally:
            with contextlib.suppress(ProcessLookupError):  # the worker may have killed it as stalled
                os.kill(evaluate.pid or 0, signal.SIGCONT)
        system.wait_alert(event_id, timeout_s=60)
        poll(lambda: system.health()[0] == 200, 45, "/healthz 200 after SIGCONT")


def test_a_killed_redis_comes_back_with_an_acknowledgement_made_before(tmp_path: Path) -> None:
    with System(tmp_path) as system:
        system.wait_ready()
        alert = system.wait_alert(system.send_panic("bpr-c"))
        answer = system.http.post(f"/api/alerts/{alert['alert_id']}/ack", headers=OPERATOR)
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "acknowledged"
        server = system.running("redis")
        os.kill(server.pid or 0, signal.SIGKILL)
        poll(lambda: system.records()["redis"].restarts >= 1, 30, "Redis restarted")
        stored = poll(lambda: (a := system.http.get(f"/api/alerts/{alert['alert_id']}", headers=OPERATOR))
                      .status_code == 200 and a.json(), 30, "the alert readable again")
        assert stored["status"] == "acknowledged"
        poll(lambda: system.health()[0] == 200, 30, "/healthz 200 again")
