"""A real `centinela receiver` process on free ports, and a DC-09 panel that talks to it over sockets."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from deploy.stack import Stack, free_port
from receivers.dc09 import Framer
from tests.integration.alerts import FAST_CITY

AES_KEY = "000102030405060708090A0B0C0D0E0F1011121314151617"  # 24 bytes
PANEL_KEY = "6b65792d6f662d7468652d70616e656c"
BEEPER_KEY = "6b65792d6f662d7468652d626565706572"

RECEIVER_CITY = f"""
panels:
  - {{id: rx-plain, zone: zone-a, account: "1234"}}
  - {{id: rx-foc, zone: zone-b, account: foc7688, key: "{PANEL_KEY}", dc09_clear: true}}
  - {{id: rx-enc, zone: zone-c, account: ABCD, dc09_key: "{AES_KEY}"}}
  - {{id: rx-quiet, zone: zone-b, account: "5150", supervision_s: 3}}
  - {{id: rx-retx, zone: zone-a, account: "7777"}}
  - {{id: rx-udp, zone: zone-b, account: "8888"}}
  - {{id: rx-http, zone: zone-a, key: "{PANEL_KEY}"}}
beepers:
  - {{id: rx-bpr, home_zone: zone-a, key: "{BEEPER_KEY}"}}
  - {{id: rx-bpr-busy, home_zone: zone-a, key: "{BEEPER_KEY}"}}
  - {{id: rx-bpr-nokey, home_zone: zone-a}}
admission: {{max_bytes: 4096}}
ingest: {{per_device_per_min: 3}}
"""


def receiver_config(directory: Path) -> Path:
    """The fast test city plus the receivers' devices and limits."""
    shutil.copytree(FAST_CITY, directory, dirs_exist_ok=True)
    (directory / "receivers.yaml").write_text(RECEIVER_CITY, encoding="utf-8")
    return directory


@dataclass(frozen=True)
class RunningReceiver:
    dc09_port: int
    ingest_url: str
    process: subprocess.Popen[bytes]


@contextmanager
def receiver(stack: Stack, config: Path, log: Path) -> Iterator[RunningReceiver]:
    dc09_port, ingest_port = free_port(), free_port()
    env = {**os.environ, "CENTINELA_KAFKA": stack.kafka, "CENTINELA_REDIS": stack.redis_url, "CENTINELA_DC09": f"127.0.0.1:{dc09_port}",
           "CENTINELA_INGEST": f"127.0.0.1:{ingest_port}"}
    with log.open("ab") as out:
        process = subprocess.Popen([sys.executable, "-m", "centinela", "receiver", "--config", str(config)],
                                   env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    running = RunningReceiver(dc09_port, f"http://127.0.0.1:{ingest_port}", process)
    try:
        _wait_ready(running, log)
        yield running
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _wait_ready(running: RunningReceiver, log: Path, timeout_s: float = 60.0) -> None:
    """Ingestion answers once the producer is connected, and the DC-09 port is bound before it."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if running.process.poll() is not None:
            raise AssertionError(f"the receiver exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            httpx.get(running.ingest_url + "/", timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError("the receiver did not start in time")


class Panel:
    """A DC-09 panel's TCP connection: sends bytes, reads framed answers."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.framer = Framer()
        self.answers: list[bytes] = []

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read(self, count: int = 1, timeout_s: float = 30.0) -> list[bytes]:
        """The next `count` answers (bodies, from the first quote)."""
        deadline = time.monotonic() + timeout_s
        while len(self.answers) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{len(self.answers)} of {count} answers in {timeout_s} s")
            self.sock.settimeout(left)
            data = self.sock.recv(4096)
            if not data:
                raise AssertionError("the receiver closed the connection")
            self.answers += self.framer.feed(data)
        taken, self.answers = self.answers[:count], self.answers[count:]
        return taken

    def close(self) -> None:
        self.sock.close()


def udp_exchange(port: int, data: bytes, timeout_s: float = 30.0) -> bytes:
    """Send one datagram; the body of the answer (retrying the datagram, as panels do)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            sock.sendto(data, ("127.0.0.1", port))
            sock.settimeout(5)
            try:
                answer, _ = sock.recvfrom(4096)
            except TimeoutError:
                continue
            bodies = Framer().feed(answer)
            assert bodies, f"not a frame: {answer!r}"
            return bodies[0]
    raise AssertionError("no UDP answer")
