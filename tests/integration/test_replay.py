"""Contract section 9 from outside, round 3: nothing that fails to verify moves evaluation, a
captured internal message replayed or copied to another partition is refused, and an event a
receiver got in time is admitted however late admission reads it. Real broker, Redis, worker."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from deploy.stack import Stack
from streams.zone_records import POSITIONS_KEY, Position
from tests.conftest import INTERNAL_KEY
from tests.integration.alerts import beep
from tests.integration.center_support import RunningCenter, center_with_worker, wait_until
from tests.integration.support import Producer, TopicReader, now_ts
from vocabulary import internal, topics
from vocabulary.events import format_timestamp
from vocabulary.kafka_security import KafkaSecurity

pytestmark = pytest.mark.integration

OPERATOR, SUPERVISOR = "op-secret", "sup-secret"  # examples/tigre
YEAR_2100_MS = 4_102_444_800_000


@pytest.fixture(scope="module")
def center(stack: Stack, example_config: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCenter]:
    with center_with_worker(stack, example_config, tmp_path_factory.mktemp("replay") / "worker.log") as running:
        yield running


@pytest.fixture
def raw_producer(stack: Stack) -> Iterator[KafkaProducer]:
    made = KafkaProducer(bootstrap_servers=stack.kafka, linger_ms=0, **KafkaSecurity.from_environment().producer())
    yield made
    made.close(5)


def forged_count(http: httpx.Client) -> float:
    for line in http.get("/metrics").text.splitlines():
        if line.startswith(f'centinela_forged_messages_total{{topic="{topics.ZONE_EVENTS}"}}'):
            return float(line.split()[-1])
    return 0.0


def alert_of(http: httpx.Client, event_id: str) -> dict[str, Any] | None:
    return next((a for a in http.get("/api/alerts").json()["alerts"] if event_id in a["event_ids"]), None)


def capture(consumer: KafkaConsumer, wanted: bytes, timeout_s: float = 30) -> Any:
    """The first record on zone.events whose value holds `wanted`, as the broker has it."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=200).values():
            for record in records:
                if wanted in record.value:
                    return record
    raise AssertionError(f"nothing on zone.events holds {wanted!r}")


def test_a_forged_future_message_and_replayed_or_copied_commands_move_nothing(
        center: RunningCenter, stack: Stack, raw_producer: KafkaProducer) -> None:
    name = topics.named(topics.ZONE_EVENTS)
    consumer = KafkaConsumer(bootstrap_servers=stack.kafka, enable_auto_commit=False,
                             **KafkaSecurity.from_environment().client())
    partitions = [TopicPartition(name, p) for p in sorted(consumer.partitions_for_topic(name) or [])]
    consumer.assign(partitions)
    consumer.seek_to_end(*partitions)
    for tp in partitions:
        consumer.position(tp)
    with center.client(SUPERVISOR) as supervisor, center.client(OPERATOR) as operator:
        added = supervisor.post("/api/silences", json={
            "zones": ["tigre-delta"], "category": "panic", "confirm": True, "reason": "replay test",
            "ends_at": now_ts(3600)})
        assert added.status_code == 201, added.text
        silence_id = added.json()["id"]
        captured = capture(consumer, f'"id":"{silence_id}"'.encode())
        consumer.close()
        assert supervisor.delete(f"/api/silences/{silence_id}").status_code == 200
        before = forged_count(operator)

        # Kafka refuses a broker timestamp that far ahead; the stamp claims it instead.
        forged = json.dumps({"type": "tick", "tick": "tigre-delta", "at": "2100-01-01T00:00:00Z"}).encode()
        raw_producer.send(name, forged, key=b"tigre-delta", partition=captured.partition,
                          headers=[(internal.HEADER, b"0" * 64),
                                   (internal.STAMP, f"{captured.partition}.forger.1.{YEAR_2100_MS}".encode())])
        raw_producer.send(name, captured.value, key=captured.key, partition=captured.partition,
                          headers=captured.headers)  # the supervisor's silence, again
        raw_producer.send(name, captured.value, key=captured.key, partition=(captured.partition + 1) % len(partitions),
                          headers=captured.headers)  # and copied into another partition
        raw_producer.flush(10)
        wait_until(lambda: forged_count(operator) >= before + 3, timeout=30)

        panic = beep("bpr-0003")  # tigre-delta
        producer = Producer(stack)
        producer.send("devices.beeps", "bpr-0003", panic)
        producer.close()
        alert = wait_until(lambda: alert_of(operator, panic["event_id"]), timeout=30)
        assert alert["category"] == "panic", "the ended silence did not come back"
        operator.post(f"/api/alerts/{alert['alert_id']}/resolve", json={"disposition": "test"})

    client = redis.Redis.from_url(stack.redis_url)
    stored = wait_until(lambda: client.hgetall(POSITIONS_KEY.format(topic=name)), timeout=10)
    assert stored and all(Position.decode(raw).timestamp_ms < YEAR_2100_MS for raw in stored.values()), stored  # type: ignore[union-attr]


def test_an_event_a_receiver_got_in_time_is_admitted_however_late_admission_reads_it(
        center: RunningCenter, stack: Stack, raw_producer: KafkaProducer) -> None:
    got = datetime.now(UTC) - timedelta(minutes=6)  # as if the workers had been 6 minutes behind
    receipts = internal.receipt_key(INTERNAL_KEY)
    late, unreceipted = (beep("bpr-0005", ts=format_timestamp(got - timedelta(seconds=1))) for _ in range(2))
    rejected = TopicReader(stack, topics.REJECTED)
    name = topics.named(topics.BEEPS)
    for event, receipt in ((late, True), (unreceipted, False)):
        value = json.dumps(event).encode()
        headers = internal.receipt_headers(receipts, topics.BEEPS, b"bpr-0005", value,
                                           int(got.timestamp() * 1000)) if receipt else []
        raw_producer.send(name, value, key=b"bpr-0005", headers=headers)
    raw_producer.flush(10)
    with center.client(OPERATOR) as operator:
        alert = wait_until(lambda: alert_of(operator, late["event_id"]), timeout=30)
        operator.post(f"/api/alerts/{alert['alert_id']}/resolve", json={"disposition": "test"})
    found = rejected.read_until(lambda f: any(unreceipted["event_id"] in json.dumps(v) for _, v in f))
    rejected.close()
    assert [v["reason"] for _, v in found if unreceipted["event_id"] in json.dumps(v)] == ["stale"], \
        "without a receipt, its age is measured when admission reads it"
