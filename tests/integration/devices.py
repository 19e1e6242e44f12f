"""Devices that behave as real ones do toward `centinela up`: DC-09 panels retransmit a frame until it
is ACKed, phones POST the same signed beep until they get 202, cameras publish motion to Kafka.
What each was acknowledged is recorded, so a test can demand that it is all counted exactly once."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from receivers import dc09
from receivers.dc09 import Framer
from tests.integration.alerts import motion
from tests.integration.support import now_ts
from tests.integration.system import OPERATOR, System, poll
from vocabulary import topics
from vocabulary.signing import signature

BEEPER_KEY = "6b65792d6f662d7468652d626565706572"
PANEL, BEEPER, CAMERA = "dur-panel", "dur-beeper", "cam-a"
DEVICES = f"""
panels:
  - {{id: {PANEL}, zone: zone-a, account: "2001"}}
beepers:
  - {{id: {BEEPER}, home_zone: zone-b, key: "{BEEPER_KEY}"}}
"""
ANSWER_TIMEOUT_S = 3.0
PACE_S = 0.3  # between one device's panics, so that a kill lands while they still send


@dataclass
class Acknowledged:
    """What the devices were told was received: DC-09 sequences ACKed, beep event ids answered 202."""

    frames: list[int] = field(default_factory=list)
    beeps: list[str] = field(default_factory=list)
    times: list[float] = field(default_factory=list)  # monotonic, of every acknowledgement
    retries: int = 0

    def note(self) -> None:
        self.times.append(time.monotonic())

    def merged(self, later: Acknowledged) -> Acknowledged:
        """This and a later run of the same devices, as one."""
        return Acknowledged(self.frames + later.frames, self.beeps + later.beeps, self.times + later.times,
                            self.retries + later.retries)


@dataclass
class Senders:
    """Threads sending until `finish` (each completes the panic it is sending) or `count` panics each."""

    system: System
    count: int | None = None
    first_sequence: int = 1  # a panel numbers its frames on from here (a later run of the same panel)
    acked: Acknowledged = field(default_factory=Acknowledged)
    finish: threading.Event = field(default_factory=threading.Event)
    abandon: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self, camera_per_s: float = 0.0) -> Senders:
        targets: list[Callable[[], None]] = [self._panel, self._phone]
        if camera_per_s:
            targets.append(lambda: self._camera(camera_per_s))
        self.threads = [threading.Thread(target=target, daemon=True) for target in targets]
        for thread in self.threads:
            thread.start()
        return self

    def join(self, timeout_s: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_s
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        stuck = any(thread.is_alive() for thread in self.threads)
        self.abandon.set()
        assert not stuck, "the devices were not all acknowledged"

    def _more(self, sent: int) -> bool:
        return not self.finish.is_set() and (self.count is None or sent < self.count)

    def _panel(self) -> None:
        framer, connection, sent = Framer(), None, 0
        while self._more(sent):
            sequence = self.first_sequence + sent
            sent += 1
            wire = dc09.frame(f'"ADM-CID"{sequence % 10000:04d}R1L1#2001[#2001|1120 01 001]')
            while not self.abandon.is_set():
                try:
                    if connection is None:
                        connection = socket.create_connection(("127.0.0.1", self.system.dc09_port),
                                                              timeout=ANSWER_TIMEOUT_S)
                    connection.sendall(wire)
                    answers: list[bytes] = []
                    while not answers:
                        data = connection.recv(4096)
                        if not data:
                            raise ConnectionError("closed")
                        answers = framer.feed(data)
                    if dc09.parse_message(answers[0]).id == "ACK":
                        self.acked.frames.append(sequence)
                        self.acked.note()
                        time.sleep(PACE_S)
                        break
                except OSError:
                    pass
                if connection is not None:
                    connection.close()
                    connection, framer = None, Framer()
                self.acked.retries += 1
                time.sleep(0.2)
        if connection is not None:
            connection.close()

    def _phone(self) -> None:
        sent = 0
        with httpx.Client(base_url=f"http://127.0.0.1:{self.system.ingest_port}", timeout=15) as http:
            while self._more(sent):
                sent += 1
                event: dict[str, object] = {"event_id": uuid.uuid4().hex[:16], "device_id": BEEPER,
                                            "ts": now_ts(), "kind": "panic"}
                event["sig"] = signature(BEEPER_KEY, BEEPER, str(event["event_id"]), str(event["ts"]), "panic")
                while not self.abandon.is_set():
                    try:
                        if http.post("/v1/beeps", json=event).status_code == 202:
                            self.acked.beeps.append(str(event["event_id"]))
                            self.acked.note()
                            time.sleep(PACE_S)
                            break
                    except httpx.HTTPError:
                        pass
                    self.acked.retries += 1
                    time.sleep(0.2)

    def _camera(self, per_s: float) -> None:
        from kafka import KafkaProducer
        from kafka.errors import KafkaError

        producer = KafkaProducer(bootstrap_servers=self.system.kafka, linger_ms=5,
                                 **self.system.security("camera").producer())
        try:
            while not self.finish.is_set():
                event = motion(CAMERA, phase="update")
                try:
                    producer.send(topics.named(topics.MOTION), key=CAMERA.encode(), value=json.dumps(event).encode())
                except KafkaError:
                    pass
                time.sleep(1 / per_s)
        finally:
            producer.close(timeout=5)


def install_devices(system: System) -> None:
    (system.config / "devices.yaml").write_text(DEVICES, encoding="utf-8")


def alerts_from(system: System, source: str) -> list[dict[str, Any]]:
    answer = system.http.get("/api/alerts", params={"status": "all"}, headers=OPERATOR)
    return [a for a in answer.json()["alerts"] if a["source"]["id"] == source] if answer.status_code == 200 else []


def check_counted_once(system: System, acked: Acknowledged) -> None:
    """Every acknowledged panic is counted exactly once in its source's alerts."""
    assert acked.frames == sorted(set(acked.frames)) and len(acked.beeps) == len(set(acked.beeps))
    for source, expected in ((PANEL, len(acked.frames)), (BEEPER, len(acked.beeps))):
        poll(lambda source=source, expected=expected: sum(a["count"] for a in alerts_from(system, source)) >= expected,
             90, f"{source}'s {expected} panics counted")
        time.sleep(2)  # a doubled panic would arrive now
        found = alerts_from(system, source)
        total = sum(a["count"] for a in found)
        assert total == expected, f"{source}: {total} counted, {expected} acknowledged"
        shown = [event_id for a in found for event_id in a["event_ids"]]
        assert len(shown) == len(set(shown)), f"{source}: an event counted twice"
    shown_beeps = {event_id for a in alerts_from(system, BEEPER) for event_id in a["event_ids"]}
    assert shown_beeps <= set(acked.beeps), "a beep nobody was told about"
