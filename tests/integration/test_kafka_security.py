"""The embedded broker's authentication and ACLs (contract section 11), with the clients as Centinela
configures them: no credentials or a wrong password is refused, and each role reaches only its topics."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError

from deploy.broker import Cluster
from deploy.stack import Stack
from vocabulary import topics
from vocabulary.kafka_security import KafkaSecurity

pytestmark = pytest.mark.integration


def security(stack: Stack, role: str) -> KafkaSecurity:
    assert stack.cluster is not None
    return stack.cluster.security(role)


def writes(stack: Stack, settings: KafkaSecurity, topic: str) -> bool:
    producer = None
    try:
        producer = KafkaProducer(bootstrap_servers=stack.kafka, max_block_ms=8000, request_timeout_ms=5000,
                                 **settings.producer())
        producer.send(topics.named(topic), key=b"acl-test", value=b"{}").get(8)
        return True
    except KafkaError:
        return False
    finally:
        if producer is not None:
            producer.close(timeout=2)


def reads(stack: Stack, settings: KafkaSecurity, topic: str) -> bool:
    consumer = None
    try:
        consumer = KafkaConsumer(bootstrap_servers=stack.kafka, enable_auto_commit=False, request_timeout_ms=5000,
                                 **settings.client())
        partition = TopicPartition(topics.named(topic), 0)
        consumer.assign([partition])
        consumer.seek_to_beginning(partition)
        consumer.poll(timeout_ms=500)
        consumer.position(partition)
        return True
    except KafkaError:
        return False
    finally:
        if consumer is not None:
            consumer.close()


def connects(stack: Stack, settings: KafkaSecurity) -> bool:
    """Whether the broker lets this client in (aiokafka gives up at once where kafka-python retries)."""
    async def attempt() -> bool:
        producer = AIOKafkaProducer(bootstrap_servers=stack.kafka, request_timeout_ms=3000, **settings.producer())
        try:
            await asyncio.wait_for(producer.start(), 20)
            return True
        except (TimeoutError, KafkaConnectionError, KafkaError):
            return False
        finally:
            await producer.stop()

    return asyncio.run(attempt())


def test_a_client_without_credentials_or_with_a_wrong_password_is_refused(stack: Stack) -> None:
    assert not connects(stack, KafkaSecurity())
    assert not connects(stack, KafkaSecurity("SASL_PLAINTEXT", "SCRAM-SHA-512", "device", "not-the-password"))
    assert connects(stack, security(stack, "device")), "the right password is let in"


def test_devices_cameras_and_receivers_write_their_inputs_and_nothing_else(stack: Stack) -> None:
    device, camera, receiver = (security(stack, role) for role in ("device", "camera", "receiver"))
    assert all(writes(stack, device, topic) for topic in topics.INPUTS)
    assert writes(stack, camera, topics.MOTION) and not writes(stack, camera, topics.BEEPS)
    assert writes(stack, receiver, topics.ALARMS) and not writes(stack, receiver, topics.MOTION)
    for role in (device, camera, receiver):
        for internal_topic in (topics.ALERTS, topics.ZONE_EVENTS, topics.REJECTED):
            assert not writes(stack, role, internal_topic), (role.username, internal_topic)
        assert not reads(stack, role, topics.ALERTS), role.username
        assert not reads(stack, role, topics.BEEPS), role.username


def test_the_center_reads_alerts_and_cannot_write_the_inputs(stack: Stack) -> None:
    center = security(stack, "center")
    assert reads(stack, center, topics.ALERTS)
    assert writes(stack, center, topics.ZONE_EVENTS), "operators' actions reach evaluation"
    assert not writes(stack, center, topics.BEEPS) and not writes(stack, center, topics.ALERTS)
    history = security(stack, "history")
    assert reads(stack, history, topics.ALERTS) and not writes(stack, history, topics.ALERTS)


def credentials(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "centinela", "credentials", *args], capture_output=True,
                          text=True, timeout=60, check=False)


def test_credentials_prints_a_roles_client_settings_and_refuses_an_unknown_role(stack: Stack, tmp_path: Path) -> None:
    shown = credentials("receiver", "--data", str(stack.workdir))
    assert shown.returncode == 0, shown.stderr
    settings = json.loads(shown.stdout)
    assert settings == {"bootstrap": stack.kafka, "security_protocol": "SASL_PLAINTEXT",
                        "sasl_mechanism": "SCRAM-SHA-512", "username": "receiver",
                        "password": security(stack, "receiver").password}
    as_env = credentials("receiver", "--data", str(stack.workdir), "--env")
    assert f"CENTINELA_KAFKA={stack.kafka}" in as_env.stdout.splitlines()
    assert "CENTINELA_KAFKA_USERNAME=receiver" in as_env.stdout.splitlines()
    unknown = credentials("janitor", "--data", str(stack.workdir))
    assert unknown.returncode == 2 and "unknown role" in unknown.stderr
    never_used = credentials("receiver", "--data", str(tmp_path))
    assert never_used.returncode == 2 and "no embedded broker" in never_used.stderr


def test_a_cluster_id_that_starts_with_a_dash_is_formatted(tmp_path: Path) -> None:
    """One id in 64 starts with "-": StorageTool must not take it for an option."""
    cluster = Cluster(tmp_path, port=1)
    cluster.directory.mkdir(mode=0o700)
    (cluster.directory / "cluster.id").write_text("-AbCdEfGhIjKlMnOpQrStUw\n", encoding="ascii")
    cluster.prepare()
    meta = (cluster.directory / "node-1" / "meta.properties").read_text(encoding="utf-8")
    assert "cluster.id=-AbCdEfGhIjKlMnOpQrStUw" in meta.splitlines()
