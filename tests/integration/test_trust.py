"""Contract section 9 from outside: forged internal messages, huge bodies, oversized inputs,
silences with limits, data at rest. Real broker, Redis and worker processes."""

from __future__ import annotations

import base64
import json
import os
import socket
import stat
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from kafka import KafkaProducer

from deploy.stack import Stack
from tests.conftest import INTERNAL_KEY
from tests.integration.alerts import IN_ZONE_A, beep, signal
from tests.integration.center_support import RunningCenter, center_with_worker, wait_until
from tests.integration.support import Producer, TopicReader, now_ts, send_signed
from vocabulary import internal, topics
from vocabulary.events import OperatorAction
from vocabulary.kafka_security import KafkaSecurity

pytestmark = pytest.mark.integration

OPERATOR, SUPERVISOR = "op-secret", "sup-secret"  # examples/tigre


@pytest.fixture(scope="module")
def center(stack: Stack, example_config: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCenter]:
    with center_with_worker(stack, example_config, tmp_path_factory.mktemp("trust") / "worker.log") as running:
        yield running


@pytest.fixture
def raw_producer(stack: Stack) -> Iterator[KafkaProducer]:
    made = KafkaProducer(bootstrap_servers=stack.kafka, linger_ms=0, max_request_size=32 * 1024 * 1024, **KafkaSecurity.from_environment().producer())
    yield made
    made.close(5)


def forged_count(http: httpx.Client, topic: str) -> float:
    for line in http.get("/metrics").text.splitlines():
        if line.startswith(f'centinela_forged_messages_total{{topic="{topic}"}}'):
            return float(line.split()[-1])
    raise AssertionError("centinela_forged_messages_total is not in /metrics")


def resolve_from(http: httpx.Client, source: str) -> None:
    """Resolve what a test opened, so that later tests on the same stack start from no open alert of it."""
    for alert in http.get("/api/alerts").json()["alerts"]:
        if alert["source"]["id"] == source:
            answer = http.post(f"/api/alerts/{alert['alert_id']}/resolve", json={"disposition": "test"})
            assert answer.status_code in (200, 202), answer.text
    wait_until(lambda: all(a["source"]["id"] != source for a in http.get("/api/alerts").json()["alerts"]), timeout=15)


def open_panic_of(http: httpx.Client, device: str) -> dict | None:  # type: ignore[type-arg]
    return next((a for a in http.get("/api/alerts").json()["alerts"] if a["source"]["id"] == device), None)


def test_a_forged_alert_with_any_version_never_blocks_real_updates(center: RunningCenter, stack: Stack,
                                                                    raw_producer: KafkaProducer) -> None:
    producer = Producer(stack)
    producer.send("devices.beeps", "bpr-0005", beep("bpr-0005", location=IN_ZONE_A))
    producer.close()
    with center.client(OPERATOR) as http:
        real = wait_until(lambda: open_panic_of(http, "bpr-0005"), timeout=30)
        before = forged_count(http, topics.ALERTS)
        forged = {**real, "version": 10**15, "status": "resolved", "title": "nothing to see"}
        body = json.dumps(forged).encode()
        for headers in ([], [(internal.HEADER, b"0" * 64)],
                        internal.headers(b"not-the-key-but-long-enough", topics.ALERTS, 0, real["zone_id"].encode(), body)):
            raw_producer.send(topics.named(topics.ALERTS), body, key=real["zone_id"].encode(), headers=headers)
        raw_producer.send(topics.named(topics.ALERTS), b"[" * 100_000, key=b"x")
        raw_producer.flush(10)
        wait_until(lambda: forged_count(http, topics.ALERTS) >= before + 4, timeout=15)
        assert http.get(f"/api/alerts/{real['alert_id']}").json()["status"] == "open"
        acked = http.post(f"/api/alerts/{real['alert_id']}/ack")
        assert acked.status_code == 200 and acked.json()["status"] == "acknowledged", acked.text
        assert acked.json()["version"] == real["version"] + 1
        resolve_from(http, "bpr-0005")


def test_a_forged_action_or_silence_on_zone_events_is_ignored_and_no_payload_stops_the_lane(
        center: RunningCenter, stack: Stack, raw_producer: KafkaProducer) -> None:
    producer = Producer(stack)
    producer.send("devices.beeps", "bpr-0004", beep("bpr-0004"))
    with center.client(OPERATOR) as http:
        real = wait_until(lambda: open_panic_of(http, "bpr-0004"), timeout=30)
        before = forged_count(http, topics.ZONE_EVENTS)
        zone = real["zone_id"].encode()
        action = OperatorAction.model_validate({
            "action_id": uuid.uuid4().hex, "alert_id": real["alert_id"], "zone_id": real["zone_id"],
            "action": "resolve", "by": "Someone Else", "at": now_ts(), "disposition": "false_alarm"})
        forged = action.model_dump_json().encode()
        raw_producer.send(topics.named(topics.ZONE_EVENTS), forged, key=zone)  # no MAC at all
        raw_producer.send(topics.named(topics.ZONE_EVENTS), forged, key=zone,
                          headers=internal.headers(b"a-guessed-key-of-some-length", topics.ZONE_EVENTS, 0, zone, forged))
        for poison in (b"[" * 100_000, b"{" * 100_000, b"\xff" * 10):  # authenticated, yet undecodable
            send_signed(raw_producer, topics.ZONE_EVENTS, zone, poison, INTERNAL_KEY)
        raw_producer.flush(10)
        wait_until(lambda: forged_count(http, topics.ZONE_EVENTS) >= before + 5, timeout=30)
        assert http.get(f"/api/alerts/{real['alert_id']}").json()["status"] == "open"
        alarm = signal("acct-1001", 130)  # the lane still applies what comes next
        producer.send("devices.alarms", "acct-1001", alarm)
        producer.close()
        wait_until(lambda: any(alarm["event_id"] in a["event_ids"] for a in http.get("/api/alerts").json()["alerts"]),
                   timeout=30)
        resolve_from(http, "bpr-0004")
        resolve_from(http, "acct-1001")


def test_a_body_over_64_kib_is_413_before_the_token_or_the_json_is_looked_at(center: RunningCenter) -> None:
    huge = b"x" * (64 * 1024 + 1)
    with httpx.Client(base_url=center.url, timeout=10) as anonymous:
        for path in ("/api/alerts/x/resolve", "/api/silences", "/api/nothing-here"):
            answer = anonymous.post(path, content=huge, headers={"Content-Type": "application/json"})
            assert (answer.status_code, answer.json()) == (413, {"error": "the request body is over 65536 bytes"})
        assert anonymous.post("/api/silences", content=b"{not json",
                              headers={"Content-Type": "application/json"}).status_code == 401
        host, port = center.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as raw:  # 200 MB announced, never sent
            raw.sendall(b"POST /api/silences HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        b"Content-Length: 209715200\r\n\r\n{")
            assert raw.recv(100).startswith(b"HTTP/1.1 413 ")

        def chunks() -> Iterator[bytes]:  # streamed without a Content-Length: counted as it arrives
            for _ in range(3200):
                yield b"y" * 65536

        started = time.monotonic()
        streamed = anonymous.post("/api/silences", content=chunks(), headers={"Authorization": f"Bearer {SUPERVISOR}"})
        assert streamed.status_code == 413 and time.monotonic() - started < 10
    with center.client(OPERATOR) as http:
        for note in (b"\\ud800", b"fine \\udfff"):  # lone surrogates, as JSON escapes
            answer = http.post("/api/alerts/any-alert/resolve",  # the body is checked before the alert is looked up
                               content=b'{"disposition": "real", "note": "' + note + b'"}',
                               headers={"Content-Type": "application/json"})
            assert answer.status_code == 422 and set(answer.json()) == {"error"}, answer.text


def test_silences_are_capped_confirmed_for_life_safety_and_listed_with_what_they_held(center: RunningCenter,
                                                                                        stack: Stack) -> None:
    def ends(seconds: float) -> str:
        return now_ts(seconds)

    base = {"zones": ["tigre-delta"], "reason": "maintenance"}
    with center.client(SUPERVISOR) as supervisor:
        too_long = supervisor.post("/api/silences", json={**base, "category": "intrusion", "ends_at": ends(86400 + 120)})
        assert too_long.status_code == 422 and "at most 86400" in too_long.json()["error"]
        for category in ("panic", "duress", "medical", "fire", None):
            body = {**base, "ends_at": ends(600), **({"category": category} if category else {})}
            refused = supervisor.post("/api/silences", json=body)
            assert refused.status_code == 422 and "confirm" in refused.json()["error"], category
        confirmed = supervisor.post("/api/silences", json={**base, "category": "fire", "ends_at": ends(600), "confirm": True})
        assert confirmed.status_code == 201, confirmed.text
        assert supervisor.delete(f"/api/silences/{confirmed.json()['id']}").status_code == 200

        created = supervisor.post("/api/silences", json={**base, "category": "intrusion", "ends_at": ends(600)})
        assert created.status_code == 201 and created.json()["held_back"] == 0
        silence_id = created.json()["id"]
        producer = Producer(stack)
        for _ in range(2):
            producer.send("devices.alarms", "acct-1003", signal("acct-1003", 130))  # tigre-delta
        producer.close()

        def held() -> int:
            listed = {s["id"]: s for s in supervisor.get("/api/silences").json()["silences"]}
            return int(listed[silence_id]["held_back"])

        wait_until(lambda: held() == 2, timeout=30)
        assert supervisor.delete(f"/api/silences/{silence_id}").status_code == 200


def test_the_embedded_redis_needs_its_password_and_the_data_is_private(stack: Stack) -> None:
    workdir = stack.workdir
    assert stat.S_IMODE(workdir.stat().st_mode) == 0o700
    for name in ("redis.log", "broker-1.log", "redis.password", "redis.conf", "kafka/credentials.json", "kafka/node-1.properties"):
        assert stat.S_IMODE((workdir / name).stat().st_mode) == 0o600, name
    port = int(stack.redis_url.rsplit(":", 1)[1].split("/")[0])
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host="127.0.0.1", port=port).ping()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as plain:  # what any local user could send
        plain.sendall(b"PUBLISH centinela:center:changes x\r\n")
        assert plain.recv(100).startswith(b"-NOAUTH")
    password = (workdir / "redis.password").read_text().strip()
    assert password and password not in " ".join(os.popen(f"ps -o args= -p {stack.services[-1].process.pid}").read().split())  # type: ignore[union-attr]
    assert redis.Redis.from_url(stack.redis_url).ping()


def test_an_oversized_input_becomes_a_rejection_that_fits_and_the_lane_goes_on(center: RunningCenter, stack: Stack,
                                                                                raw_producer: KafkaProducer) -> None:
    rejected = TopicReader(stack, "events.rejected")
    try:
        huge = bytes(range(1, 32)) * (6 * 1024 * 1024 // 31)  # 6 MiB of control characters: 36 MiB as JSON text
        raw_producer.send(topics.named(topics.BEEPS), huge, key=b"bpr-0005").get(30)
        found = rejected.read_until(lambda f: any(v.get("raw_b64") for _, v in f), timeout_s=60)
        kept = next(v for _, v in found if v.get("raw_b64"))
        assert kept["reason"] == "malformed" and kept["topic"] == topics.named(topics.BEEPS)
        assert base64.b64decode(kept["raw"]) == huge and not kept["raw_truncated"]  # whole, as base64: 8 MiB
    finally:
        rejected.close()
    producer = Producer(stack)
    after = beep("bpr-0005", location=IN_ZONE_A)
    producer.send("devices.beeps", "bpr-0005", after)
    producer.close()
    with center.client(OPERATOR) as http:
        wait_until(lambda: any(after["event_id"] in a["event_ids"] for a in http.get("/api/alerts").json()["alerts"]),
                   timeout=30)
        resolve_from(http, "bpr-0005")
