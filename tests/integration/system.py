"""`centinela up` run as an operator runs it: its own ports, its data in a temporary folder.

The fault tests kill and freeze its processes, found through the records its supervisors
keep in Redis, and watch it from outside: /healthz, the API, a Kafka producer.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import redis
from kafka import KafkaProducer

from deploy.broker import Cluster
from deploy.stack import free_block, free_port
from tests.integration.alerts import beep
from vocabulary import progress
from vocabulary.kafka_security import KafkaSecurity

FAST_CITY = Path(__file__).resolve().parent / "fast_city"
OPERATOR = {"Authorization": "Bearer op-secret"}
T = TypeVar("T")


def poll(check: Callable[[], T | None], timeout_s: float, what: str, every_s: float = 0.25) -> T:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            found = check()
        except (httpx.HTTPError, redis.RedisError, OSError):
            found = None
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s:.0f} s: {what}")
        time.sleep(every_s)


class System:
    def __init__(self, tmp: Path, stall_s: float = 5.0, brokers: int = 1) -> None:
        self.config = tmp / "config"
        shutil.copytree(FAST_CITY, self.config, dirs_exist_ok=True)
        (self.config / "operations.yaml").write_text(f"health: {{stall_s: {stall_s}}}\n")
        self.data = tmp / "data"
        self.brokers = brokers
        self.broker_port, self.redis_port, self.http_port = free_block(2 * brokers), free_port(), free_port()
        self.dc09_port, self.ingest_port, self.postgres_port = free_port(), free_port(), free_port()
        self.kafka = ",".join(f"127.0.0.1:{self.broker_port + n}" for n in range(brokers))
        self.base = f"http://127.0.0.1:{self.http_port}"
        self.log = tmp / "up.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.http = httpx.Client(base_url=self.base, timeout=5.0)
        self._redis: redis.Redis | None = None

    def __enter__(self) -> System:
        env = {**os.environ, "CENTINELA_HTTP": f"127.0.0.1:{self.http_port}",
               "CENTINELA_DC09": f"127.0.0.1:{self.dc09_port}", "CENTINELA_INGEST": f"127.0.0.1:{self.ingest_port}"}
        for name in [name for name in env if name.startswith(("CENTINELA_KAFKA", "CENTINELA_REDIS"))]:
            env.pop(name)
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "centinela", "up", "--config", str(self.config), "--data", str(self.data),
                 "--broker-port", str(self.broker_port), "--redis-port", str(self.redis_port),
                 "--postgres-port", str(self.postgres_port), "--brokers", str(self.brokers)],
                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )
        return self

    @property
    def redis(self) -> redis.Redis:
        """The embedded Redis, with the password `up` generated (readable once `up` wrote it)."""
        if self._redis is None:
            password = (self.data / "redis.password").read_text().strip()
            self._redis = redis.Redis(port=self.redis_port, password=password, socket_timeout=2,
                                      socket_connect_timeout=2)
        return self._redis

    def __exit__(self, *exc: object) -> None:
        self.http.close()
        if self.process is None or self.process.poll() is not None:
            return
        for pid in self.pids():  # a frozen child cannot stop
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        if self._redis is not None:
            self._redis.close()
        self.process.terminate()
        try:
            self.process.wait(40)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def health(self) -> tuple[int, dict[str, Any]]:
        answer = self.http.get("/healthz")
        return answer.status_code, answer.json()

    def records(self) -> dict[str, progress.ProcessRecord]:
        raw = self.redis.hgetall(progress.PROCESSES)
        return {k.decode(): progress.ProcessRecord.model_validate_json(v) for k, v in raw.items()}

    def pids(self) -> list[int]:
        try:
            return [r.pid for r in self.records().values() if r.pid]
        except (redis.RedisError, OSError):
            return []

    def running(self, name: str) -> progress.ProcessRecord:
        """The process's record once it runs (pid known)."""
        return poll(lambda: (r := self.records().get(name)) and r.state == "running" and r.pid and r,
                    60, f"{name} running")

    def send_panic(self, device: str = "bpr-a") -> str:
        """A panic beep, produced with a fresh client (the broker may have restarted); its event id."""
        event = beep(device)
        producer = KafkaProducer(bootstrap_servers=self.kafka, linger_ms=0, **self.security("device").producer())
        try:
            producer.send("devices.beeps", key=device.encode(), value=json.dumps(event).encode()).get(15)
        finally:
            producer.close()
        return str(event["event_id"])

    def security(self, role: str) -> KafkaSecurity:
        """How a client of `role` logs in to this system's embedded broker."""
        return Cluster.used(self.data).security(role)

    def alert_of(self, event_id: str) -> dict[str, Any] | None:
        answer = self.http.get("/api/alerts", params={"status": "all"}, headers=OPERATOR)
        if answer.status_code != 200:
            return None
        return next((a for a in answer.json()["alerts"] if event_id in a["event_ids"]), None)

    def wait_alert(self, event_id: str, timeout_s: float = 60.0) -> dict[str, Any]:
        return poll(lambda: self.alert_of(event_id), timeout_s, f"an alert for event {event_id}", every_s=0.5)

    def wait_ready(self, timeout_s: float = 90.0, probe: str = "bpr-g") -> str:
        """A panic from `probe` opens its alert (every lane has joined its group), then /healthz
        says ok; the panic's event id."""
        poll(lambda: self.health()[0] == 200, timeout_s, "/healthz 200")
        event_id = self.send_panic(probe)
        self.wait_alert(event_id, timeout_s)
        poll(lambda: self.health()[1]["status"] == "ok", timeout_s, "/healthz ok after the first alert")
        return event_id
