"""The embedded broker is durable (contract section 11): what a receiver acknowledged survives the
broker's SIGKILL, and a second `up` on the same data directory finds everything still there.

Panels speak DC-09 and retransmit a frame that got no ACK (same sequence, same content); phones
POST signed beeps and send again the same event until they get 202. `make soak` runs the kill
twenty times (tests/soak/soak_broker.py).
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from receivers import dc09
from receivers.dc09 import Framer
from tests.integration.support import now_ts
from tests.integration.system import OPERATOR, System, poll
from vocabulary.signing import signature

pytestmark = pytest.mark.integration

BEEPER_KEY = "6b65792d6f662d7468652d626565706572"
DEVICES = f"""
panels:
  - {{id: dur-panel, zone: zone-a, account: "2001"}}
beepers:
  - {{id: dur-beeper, home_zone: zone-b, key: "{BEEPER_KEY}"}}
"""
ANSWER_TIMEOUT_S = 3.0
PACE_S = 0.3  # between one device's panics, so that the broker dies while they still send


@dataclass
class Acknowledged:
    """What the devices were told was received: DC-09 sequences ACKed, beep event ids answered 202."""

    frames: list[int] = field(default_factory=list)
    beeps: list[str] = field(default_factory=list)
    retries: int = 0


def install_devices(system: System) -> None:
    (system.config / "durability.yaml").write_text(DEVICES, encoding="utf-8")


def panel_sends(system: System, sequences: range, acked: Acknowledged, stop: threading.Event) -> None:
    """A panel: each panic frame until it is ACKed, on a new connection after any failure."""
    framer, connection = Framer(), None
    for sequence in sequences:
        wire = dc09.frame(f'"ADM-CID"{sequence:04d}R1L1#2001[#2001|1120 01 001]')
        while not stop.is_set():
            try:
                if connection is None:
                    connection = socket.create_connection(("127.0.0.1", system.dc09_port), timeout=ANSWER_TIMEOUT_S)
                connection.sendall(wire)
                answers: list[bytes] = []
                while not answers:
                    data = connection.recv(4096)
                    if not data:
                        raise ConnectionError("closed")
                    answers = framer.feed(data)
                if dc09.parse_message(answers[0]).id == "ACK":
                    acked.frames.append(sequence)
                    time.sleep(PACE_S)
                    break
            except OSError:
                pass
            if connection is not None:
                connection.close()
                connection, framer = None, Framer()
            acked.retries += 1
            time.sleep(0.2)
    if connection is not None:
        connection.close()


def phone_sends(system: System, count: int, acked: Acknowledged, stop: threading.Event) -> None:
    """A phone: each signed panic beep until it gets 202, the same event each time."""
    with httpx.Client(base_url=f"http://127.0.0.1:{system.ingest_port}", timeout=15) as http:
        for _ in range(count):
            event: dict[str, object] = {"event_id": uuid.uuid4().hex[:16], "device_id": "dur-beeper",
                                        "ts": now_ts(), "kind": "panic"}
            event["sig"] = signature(BEEPER_KEY, "dur-beeper", str(event["event_id"]), str(event["ts"]), "panic")
            while not stop.is_set():
                try:
                    if http.post("/v1/beeps", json=event).status_code == 202:
                        acked.beeps.append(str(event["event_id"]))
                        time.sleep(PACE_S)
                        break
                except httpx.HTTPError:
                    pass
                acked.retries += 1
                time.sleep(0.2)


def alert_from(system: System, source: str) -> dict | None:  # type: ignore[type-arg]
    answer = system.http.get("/api/alerts", params={"status": "all"}, headers=OPERATOR)
    if answer.status_code != 200:
        return None
    return next((a for a in answer.json()["alerts"] if a["source"]["id"] == source), None)


def counted(system: System, source: str, expected: int) -> Callable[[], dict | None]:  # type: ignore[type-arg]
    def check() -> dict | None:  # type: ignore[type-arg]
        alert = alert_from(system, source)
        return alert if alert is not None and alert["count"] >= expected else None
    return check


def kill_the_broker_while_devices_send(system: System, per_device: int = 30) -> tuple[Acknowledged, float]:
    """Panels and phones send `per_device` panics each while the broker is SIGKILLed once, a third of
    the way in; what they were acknowledged, and how long until the broker ran again."""
    acked, stop = Acknowledged(), threading.Event()
    senders = [threading.Thread(target=panel_sends, args=(system, range(1, per_device + 1), acked, stop)),
               threading.Thread(target=phone_sends, args=(system, per_device, acked, stop))]
    for sender in senders:
        sender.start()
    try:
        poll(lambda: len(acked.frames) >= per_device // 3 and len(acked.beeps) >= per_device // 3, 60,
             "a third of the panics acknowledged")
        broker = system.running("broker")
        os.kill(broker.pid or 0, signal.SIGKILL)
        killed = time.monotonic()
        poll(lambda: (r := system.records().get("broker")) and r.pid != broker.pid and r.state == "running",
             60, "the broker restarted")
        back_s = time.monotonic() - killed
        for sender in senders:
            sender.join(timeout=120)
        assert not any(sender.is_alive() for sender in senders), "the devices were not all acknowledged"
    finally:
        stop.set()
    return acked, back_s


def check_counted_once(system: System, acked: Acknowledged) -> None:
    """Every acknowledged panic is counted exactly once in its source's one alert."""
    assert acked.frames == sorted(set(acked.frames)) and len(acked.beeps) == len(set(acked.beeps))
    for source, expected in (("dur-panel", len(acked.frames)), ("dur-beeper", len(acked.beeps))):
        alert = poll(counted(system, source, expected), 90, f"{source}'s {expected} panics counted")
        time.sleep(2)  # a doubled panic would arrive now
        alert = alert_from(system, source)
        assert alert is not None
        assert alert["count"] == expected, f"{source}: {alert['count']} counted, {expected} acknowledged"
        assert len(alert["event_ids"]) == len(set(alert["event_ids"])) == min(expected, 50)
    assert set(acked.beeps[-50:]) <= set(alert_from(system, "dur-beeper")["event_ids"])  # type: ignore[index]


def test_what_receivers_acknowledged_survives_a_sigkill_of_the_broker(tmp_path: Path) -> None:
    system = System(tmp_path, stall_s=30)
    install_devices(system)
    with system:
        system.wait_ready()
        acked, back_s = kill_the_broker_while_devices_send(system)
        check_counted_once(system, acked)
        assert acked.retries > 0, "the kill reached no device: the test proved nothing"
        assert back_s < 60


def test_a_second_up_on_the_same_data_finds_its_alerts_topics_and_offsets(tmp_path: Path) -> None:
    system = System(tmp_path, stall_s=30)
    install_devices(system)
    with system:
        first = system.wait_ready()
        before = system.wait_alert(first)
    system = System(tmp_path, stall_s=30)  # the same data directory, other ports
    with system:
        poll(lambda: system.health()[0] == 200, 120, "/healthz 200 after the restart")
        assert system.alert_of(first) is not None, "the alert from before the restart is gone"
        again = system.send_panic("bpr-g")
        alert = system.wait_alert(again)
        assert alert["alert_id"] == before["alert_id"], "the zone's state was lost: a new alert, not a grouped one"
        assert alert["count"] == before["count"] + 1, "the first run's panic was applied again (offsets lost)"
