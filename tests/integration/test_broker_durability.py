"""The embedded broker is durable (contract section 11): what a receiver acknowledged survives the
broker's SIGKILL, and a second `up` on the same data directory finds everything still there.

Panels speak DC-09 and retransmit a frame that got no ACK; phones POST signed beeps and send the
same event again until they get 202 (tests/integration/devices.py). `make soak` runs the kill
twenty times (tests/soak/soak_broker.py).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.integration.devices import Acknowledged, Senders, check_counted_once, install_devices
from tests.integration.system import System, poll

pytestmark = pytest.mark.integration


def kill_the_broker_while_devices_send(system: System, per_device: int = 30) -> tuple[Acknowledged, float]:
    """Panels and phones send `per_device` panics each while the broker is SIGKILLed once, a third of
    the way in; what they were acknowledged, and how long until the broker ran again."""
    senders = Senders(system, count=per_device).start()
    acked = senders.acked
    try:
        poll(lambda: len(acked.frames) >= per_device // 3 and len(acked.beeps) >= per_device // 3, 60,
             "a third of the panics acknowledged")
        broker = system.running("broker")
        os.kill(broker.pid or 0, signal.SIGKILL)
        killed = time.monotonic()
        poll(lambda: (r := system.records().get("broker")) and r.pid != broker.pid and r.state == "running",
             60, "the broker restarted")
        back_s = time.monotonic() - killed
        senders.join()
    finally:
        senders.abandon.set()
    return acked, back_s


@pytest.mark.timeout(240)
def test_what_receivers_acknowledged_survives_a_sigkill_of_the_broker(tmp_path: Path) -> None:
    system = System(tmp_path, stall_s=30)
    install_devices(system)
    with system:
        system.wait_ready()
        acked, back_s = kill_the_broker_while_devices_send(system)
        check_counted_once(system, acked)
        assert acked.retries > 0, "the kill reached no device: the test proved nothing"
        assert back_s < 60


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.timeout(240)
def test_a_second_up_on_the_same_data_finds_its_alerts_topics_and_offsets(tmp_path: Path) -> None:
    system = System(tmp_path, stall_s=30)
    with system:
        first = system.wait_ready()
        before = system.wait_alert(first)
        broker = system.running("broker").pid or 0
        assert system.process is not None
        system.process.kill()  # `up` SIGKILLed: nothing it started may outlive it
        system.process.wait()
        poll(lambda: gone(broker), 15, "the broker gone with up")
    system = System(tmp_path, stall_s=30)  # the same data directory, other ports
    with system:
        poll(lambda: system.health()[0] == 200, 120, "/healthz 200 after the restart")
        assert system.alert_of(first) is not None, "the alert from before the restart is gone"
        again = system.send_panic("bpr-g")
        alert = system.wait_alert(again)
        assert alert["alert_id"] == before["alert_id"], "the zone's state was lost: a new alert, not a grouped one"
        assert alert["count"] == before["count"] + 1, "the first run's panic was applied again (offsets lost)"
