"""Accounts and action plans through the real worker and center (contract section 8), and the
privacy rule: after a burglary worked through its plan, no configured phone or passcode is on
any topic, in any log file, in Redis's files or in the metrics."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition

from centinela.config import load_config
from deploy.stack import Stack
from tests.integration.alerts import IN_ZONE_A, beep, signal
from tests.integration.center_support import RunningCenter, center_with_worker, wait_until
from tests.integration.support import Producer
from vocabulary.kafka_security import KafkaSecurity

pytestmark = pytest.mark.integration

OPERATOR, SUPERVISOR, RESPONDER, VIEWER = "op-secret", "sup-secret", "resp-secret", "view-secret"  # examples/tigre


class Remember(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture(scope="module")
def logs() -> Iterator[Remember]:
    """Every log record of this process (the center runs in it), at every level."""
    handler, root = Remember(), logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@pytest.fixture(scope="module")
def worker_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("plans") / "worker.log"


@pytest.fixture(scope="module")
def center(stack: Stack, example_config: Path, worker_log: Path, logs: Remember) -> Iterator[RunningCenter]:
    with center_with_worker(stack, example_config, worker_log) as running:
        yield running


def raise_alert(center: RunningCenter, stack: Stack, topic: str, key: str, event: dict[str, Any]) -> dict[str, Any]:
    producer = Producer(stack)
    producer.send(topic, key, event)
    producer.close()
    with center.client(OPERATOR) as http:
        return wait_until(lambda: next((a for a in http.get("/api/alerts").json()["alerts"]
                                        if event["event_id"] in a["event_ids"]), None), timeout=30)


def test_a_burglary_is_worked_through_its_plan(center: RunningCenter, stack: Stack) -> None:
    work_a_burglary(center, stack)


def work_a_burglary(center: RunningCenter, stack: Stack) -> None:
    alert = raise_alert(center, stack, "devices.alarms", "acct-1001", signal("acct-1001", 130))
    alert_id, path = alert["alert_id"], f"/api/alerts/{alert['alert_id']}"
    assert (alert["category"], alert["address"]) == ("intrusion", "Av. Cazón 1234, Tigre")
    assert (alert["location"]["lat"], alert["location"]["lon"]) == (-34.4251, -58.5797)

    with center.client(OPERATOR) as operator, center.client(VIEWER) as viewer, \
            center.client(RESPONDER) as responder, center.client(SUPERVISOR) as supervisor:
        plan = operator.get(f"{path}/plan").json()
        assert "passcode" not in plan["account"] and "girasol" not in str(plan), "only the audited reveal shows it"
        assert [c["phone"] for c in plan["account"]["contacts"]] == ["+54 11 5555 0101", "+54 11 5555 0102"]
        assert [(s["id"], s["outcome"]) for s in plan["steps"]] == [
            ("call-home", None), ("call-contacts", None), ("dispatch-patrol", None), ("confirm-on-site", None)]
        seen = viewer.get(f"{path}/plan").json()["account"]
        assert (seen["address"], seen["contacts"], "passcode" in seen, seen["has_passcode"]) == (
            "Av. Cazón 1234, Tigre", None, False, True)
        assert seen["occupants"].startswith("Rosa") and seen["instructions"].startswith("Gate code")
        assert responder.get(f"{path}/plan").status_code == 404  # Patrol 7 sees panics and duress only

        bad = [
            (viewer, f"{path}/steps", {"step": "call-home", "outcome": "done"}, 403),
            (operator, f"{path}/steps", {"step": "call-home", "outcome": "maybe"}, 422),
            (operator, f"{path}/steps", {"outcome": "done"}, 422),
            (operator, f"{path}/steps", {"step": "no such step", "outcome": "done"}, 422),
            (operator, f"{path}/steps", {"step": "call-keyholder", "outcome": "done"}, 404),  # tigre-norte's plan
            (operator, "/api/alerts/intrusion-0000/steps", {"step": "call-home", "outcome": "done"}, 404),
            (viewer, f"{path}/reveal", None, 403),
        ]
        for client, url, body, status in bad:
            answer = client.post(url, json=body)
            assert answer.status_code == status, (url, body, answer.text)
            assert "error" in answer.json()
        assert operator.post(f"{path}/steps", content=b"{nope", headers={"Content-Type": "application/json"}
                             ).status_code == 422
        lone_surrogate = b'{"step": "call-home", "outcome": "done", "note": "\\ud800"}'
        assert operator.post(f"{path}/steps", content=lone_surrogate, headers={"Content-Type": "application/json"}
                             ).status_code == 422

        answer = operator.post(f"{path}/steps", json={"step": "call-home", "outcome": "no_answer", "note": "10 rings"})
        assert answer.status_code == 200, answer.text
        assert (answer.json()["change"], answer.json()["steps"][-1]["outcome"]) == ("step", "no_answer")
        revealed = operator.post(f"{path}/reveal")
        assert revealed.json() == {"passcode": "girasol", "status": "recorded"}
        assert revealed.headers["cache-control"] == "no-store"
        assert operator.post(f"{path}/ack").status_code == 200
        for step, outcome, who in [("call-home", "failed", operator), ("call-contacts", "done", supervisor),
                                   ("dispatch-patrol", "done", operator), ("confirm-on-site", "done", operator)]:
            answer = who.post(f"{path}/steps", json={"step": step, "outcome": outcome})
            assert answer.status_code == 200, answer.text
        plan = operator.get(f"{path}/plan").json()
        assert [(s["id"], s["outcome"], s["by"]) for s in plan["steps"]] == [
            ("call-home", "failed", "Operator 1"), ("call-contacts", "done", "Supervisor"),
            ("dispatch-patrol", "done", "Operator 1"), ("confirm-on-site", "done", "Operator 1")]
        assert operator.post(f"{path}/resolve", json={"disposition": "real", "note": "door forced"}).status_code == 200
        assert operator.post(f"{path}/steps", json={"step": "call-home", "outcome": "done"}).status_code == 409
        assert operator.post(f"{path}/reveal").status_code == 409

        history = operator.get(f"{path}/history").json()
        assert [(h["change"], h["changed_by"]) for h in history] == [
            ("opened", "system"), ("step", "Operator 1"), ("passcode_revealed", "Operator 1"),
            ("acknowledged", "Operator 1"), ("step", "Operator 1"), ("step", "Supervisor"), ("step", "Operator 1"),
            ("step", "Operator 1"), ("resolved", "Operator 1")]
        assert [s["step"] for s in history[-1]["steps"]] == [
            "call-home", "call-home", "call-contacts", "dispatch-patrol", "confirm-on-site"]
        assert alert_id not in {a["alert_id"] for a in operator.get("/api/alerts").json()["alerts"]}


def test_a_wearers_account_shows_no_phone_to_a_responder(center: RunningCenter, stack: Stack) -> None:
    alert = raise_alert(center, stack, "devices.beeps", "bpr-0001", beep("bpr-0001", location=IN_ZONE_A))
    path = f"/api/alerts/{alert['alert_id']}/plan"
    with center.client(OPERATOR) as operator, center.client(RESPONDER) as responder:
        full = operator.get(path).json()
        assert (full["account"]["wearer"], full["account"]["contacts"][0]["phone"]) == ("Ana Sosa", "+54 11 5555 0103")
        assert full["steps"][0]["id"] == "call-wearer"
        scoped = responder.get(path)
        assert scoped.status_code == 200
        assert (scoped.json()["account"]["wearer"], scoped.json()["account"]["contacts"]) == ("Ana Sosa", None)
        assert operator.post(f"/api/alerts/{alert['alert_id']}/reveal").status_code == 404  # a beeper has no passcode


def every_topic(stack: Stack) -> list[bytes]:
    """Every key and value of every topic on the broker, from the beginning."""
    consumer = KafkaConsumer(bootstrap_servers=stack.kafka, enable_auto_commit=False, **KafkaSecurity.from_environment().client(),
                             fetch_max_bytes=64 * 1024 * 1024, max_partition_fetch_bytes=64 * 1024 * 1024)
    found: list[bytes] = []
    try:
        names = sorted(consumer.topics())
        partitions = [TopicPartition(n, p) for n in names for p in sorted(consumer.partitions_for_topic(n) or [])]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        pending = {tp for tp in partitions if ends[tp] > 0}
        assert {"alerts", "zone.events"} <= {tp.topic for tp in pending}, names
        wait_until(lambda: _drain(consumer, ends, pending, found) or not pending, timeout=60)
    finally:
        consumer.close()
    return found


def _drain(consumer: KafkaConsumer, ends: dict[TopicPartition, int], pending: set[TopicPartition],
           found: list[bytes]) -> None:
    for records in consumer.poll(timeout_ms=500).values():
        found.extend((r.key or b"") + b"\n" + (r.value or b"") for r in records)
    for tp in list(pending):
        if consumer.position(tp) >= ends[tp]:
            pending.discard(tp)


def test_no_phone_or_passcode_is_on_a_topic_in_a_log_or_in_a_metric(
        center: RunningCenter, stack: Stack, example_config: Path, worker_log: Path, logs: Remember) -> None:
    city = load_config(example_config).city
    secrets = [p.passcode.get_secret_value() for p in city.panels if p.passcode]
    secrets += [c.phone for device in (*city.panels, *city.beepers) for c in device.contacts]
    assert len(secrets) == 4
    work_a_burglary(center, stack)  # reads the passcode and the phones, records steps and a reveal
    with center.client(OPERATOR) as operator:
        metrics = operator.get("/metrics").text
    messages = every_topic(stack)
    assert len(messages) > 10
    files = [worker_log, *(p for p in stack.workdir.rglob("*") if p.is_file())]
    places: dict[str, bytes] = {
        "the topics": b"\n".join(messages),
        "the center's log records": "\n".join(logs.lines).encode(),
        "the metrics": metrics.encode(),
        **{str(f): f.read_bytes() for f in files},
    }
    # Positive controls: the scan reads what is there (the address travels on alerts; logs are written).
    assert "Av. Cazón 1234".encode() in places["the topics"]
    assert places["the center's log records"] and places[str(worker_log)]
    for secret in secrets:
        for variant in {secret, secret.replace(" ", ""), secret[-9:]}:  # "5555 0101": the number without prefixes
            leaks = [where for where, text in places.items() if variant.encode() in text]
            assert leaks == [], f"{variant!r} found in {leaks}"
