"""`centinela history` against the real broker and PostgreSQL: killed with SIGKILL again and again
while alerts flow, it ends with every version stored exactly once, and nothing forged."""

from __future__ import annotations

import os
import random
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest
from kafka import KafkaProducer

from deploy.broker import admin_client, create_topics
from tests.conftest import INTERNAL_KEY
from tests.integration.center_support import make_alert, wait_until
from tests.integration.support import send_signed
from tests.integration.test_history import fresh_database
from vocabulary import topics
from vocabulary.kafka_security import KafkaSecurity

pytestmark = pytest.mark.integration
ALERTS = 300
VERSIONS = 4
KILLS = 5


def start_writer(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "centinela", "history"], env=env, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def publish(kafka: str, stop: threading.Event, sent: list[tuple[str, int]]) -> None:
    """Every alert's versions in order, alerts interleaved, a forged message and a redelivery now and then."""
    producer = KafkaProducer(bootstrap_servers=kafka, linger_ms=5, **KafkaSecurity.from_environment().producer())
    chance = random.Random(28)
    pending = {n: 1 for n in range(ALERTS)}
    try:
        while pending and not stop.is_set():
            for number in chance.sample(sorted(pending), min(25, len(pending))):
                version = pending[number]
                alert = make_alert(zone=f"z{number % 7}", alert_id=f"w-{number}", version=version,
                                   status="open" if version == 1 else "acknowledged")
                key, body = alert.zone_id.encode(), alert.model_dump_json().encode()
                send_signed(producer, topics.ALERTS, key, body, INTERNAL_KEY)
                sent.append((alert.alert_id, version))
                if chance.random() < 0.05:
                    send_signed(producer, topics.ALERTS, key, body, INTERNAL_KEY)  # the same version again
                if chance.random() < 0.05:
                    forged = make_alert(zone=alert.zone_id, alert_id=f"forged-{number}-{version}").model_dump_json()
                    producer.send(topics.named(topics.ALERTS), key=key, value=forged.encode())
                pending[number] += 1
                if pending[number] > VERSIONS:
                    del pending[number]
            producer.flush(10)
            time.sleep(0.05)
    finally:
        producer.close(10)


def stored(url: str) -> list[tuple[str, int]]:
    with psycopg.connect(url) as connection:
        return [(a, v) for a, v in connection.execute("SELECT alert_id, version FROM alert_versions")]


def test_the_writer_killed_at_any_moment_loses_and_doubles_nothing(stack, postgres: str, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CENTINELA_TOPIC_PREFIX", f"history{secrets.token_hex(3)}.")  # a topic and group of its own
    admin = admin_client(stack.kafka, KafkaSecurity.from_environment(), 20)
    try:
        create_topics(admin, 4)
    finally:
        admin.close()
    url = fresh_database(postgres)
    env = {**os.environ, "CENTINELA_KAFKA": stack.kafka, "CENTINELA_POSTGRES": url, "CENTINELA_REDIS": stack.redis_url}
    log = tmp_path / "history.log"
    sent: list[tuple[str, int]] = []
    stop = threading.Event()
    publisher = threading.Thread(target=publish, args=(stack.kafka, stop, sent), daemon=True)
    writer = start_writer(env, log)
    publisher.start()
    kills = 0
    try:
        chance = random.Random(7)
        while (publisher.is_alive() and kills < KILLS) or kills < 2:
            time.sleep(chance.uniform(0.5, 2.0))
            writer.send_signal(signal.SIGKILL)
            writer.wait(10)
            kills += 1
            writer = start_writer(env, log)
        publisher.join(120)
        assert not publisher.is_alive()
        expected = sorted(set(sent))
        assert len(expected) == ALERTS * VERSIONS
        wait_until(lambda: len(stored(url)) >= len(expected), timeout=60, every=0.5)
        time.sleep(2)  # anything read twice would be here by now
        assert sorted(stored(url)) == expected, f"see {log}"
        with psycopg.connect(url) as connection:
            current = connection.execute("SELECT count(*), min(version), max(version) FROM alerts").fetchone()
            places = connection.execute("SELECT DISTINCT lat, lon FROM alerts").fetchall()
        assert current == (ALERTS, VERSIONS, VERSIONS)
        assert places == [(-34.425, -58.575)]  # every current row has its latest version's location (make_alert's)
        assert kills >= 2
    finally:
        stop.set()
        writer.send_signal(signal.SIGTERM)
        writer.wait(15)
