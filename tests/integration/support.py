"""Helpers for tests on the real stack: run workers, produce, read topics."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from deploy.stack import Stack, free_port
from streams.ports import partition_of
from vocabulary import internal, topics
from vocabulary.kafka_security import KafkaSecurity


def now_ts(offset_s: float = 0.0) -> str:
    return (datetime.now(UTC) + timedelta(seconds=offset_s)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@contextmanager
def worker(stack: Stack, config: Path, log: Path, extra_env: dict[str, str] | None = None,
           args: list[str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """A real stream worker process (`centinela worker [args]`), stopped after the block."""
    env = {**os.environ, "CENTINELA_KAFKA": stack.kafka, "CENTINELA_REDIS": stack.redis_url, **(extra_env or {})}
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "centinela", "worker", "--config", str(config), "--web-port", str(free_port()),
             *(args or [])],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)  # the worker and its lanes
                process.wait()


class Broker(Protocol):
    """Where the broker answers: a Stack, or a running `centinela up` (tests/integration/system.py)."""

    kafka: str


def send_signed(kafka: KafkaProducer, topic: str, key: bytes, value: bytes, secret: bytes) -> Any:
    """Send `value` to its key's partition of an internal topic, authenticated for that partition."""
    partition = partition_of(key.decode(), len(kafka.partitions_for(topics.named(topic))))
    return kafka.send(topics.named(topic), key=key, value=value, partition=partition,
                      headers=internal.headers(secret, topic, partition, key, value))


class Producer:
    def __init__(self, stack: Broker) -> None:
        self.kafka = KafkaProducer(bootstrap_servers=stack.kafka, max_request_size=32 * 1024 * 1024, linger_ms=0,
                                   **KafkaSecurity.from_environment().producer())

    def send(self, topic: str, key: str | bytes | None, value: Any) -> None:
        raw = value if isinstance(value, bytes) else json.dumps(value).encode()
        encoded_key = key.encode() if isinstance(key, str) else key
        self.kafka.send(topics.named(topic), key=encoded_key, value=raw).get(10)

    def send_internal(self, topic: str, key: str, value: bytes) -> None:
        """As Centinela's own processes write an internal topic: with the MAC under the internal key."""
        send_signed(self.kafka, topic, key.encode(), value, internal.key_from_environment()).get(10)

    def close(self) -> None:
        self.kafka.close()


class TopicReader:
    """Reads a topic from its current end (or the start), without a consumer group."""

    def __init__(self, stack: Broker, topic: str, from_start: bool = False) -> None:
        self.consumer = KafkaConsumer(bootstrap_servers=stack.kafka, enable_auto_commit=False, fetch_max_wait_ms=20,
                                      fetch_max_bytes=64 * 1024 * 1024, max_partition_fetch_bytes=64 * 1024 * 1024,
                                      **KafkaSecurity.from_environment().client())
        self.topic = topic
        name = topics.named(topic)
        partitions = [TopicPartition(name, p) for p in sorted(self.consumer.partitions_for_topic(name) or [])]
        self.consumer.assign(partitions)
        if from_start:
            self.consumer.seek_to_beginning(*partitions)
        else:
            self.consumer.seek_to_end(*partitions)
            for tp in partitions:
                self.consumer.position(tp)  # fix the position now, before anything is produced

    def read_until(self, done: Callable[[list[tuple[bytes | None, dict[str, Any]]]], bool],
                   timeout_s: float = 30.0) -> list[tuple[bytes | None, dict[str, Any]]]:
        found: list[tuple[bytes | None, dict[str, Any]]] = []
        deadline = time.monotonic() + timeout_s
        while not done(found) and time.monotonic() < deadline:
            for records in self.consumer.poll(timeout_ms=200).values():
                found.extend((r.key, value) for r in records if (value := self._authentic(r)) is not None)
        return found

    def _authentic(self, record: Any) -> dict[str, Any] | None:
        """The record's JSON, skipping what a real reader ignores: on an internal topic anything
        Centinela did not write (other tests forge some), and anywhere what does not decode."""
        if self.topic in (topics.ALERTS, topics.ZONE_EVENTS) and not internal.verify(
                internal.key_from_environment(), self.topic, record.key, record.value, record.headers,
                record.partition):
            return None
        try:
            value = json.loads(record.value)
        except (ValueError, RecursionError):
            return None
        return value if isinstance(value, dict) else None

    def close(self) -> None:
        self.consumer.close()
