"""An alert's way from the `alerts` topic to an operator's live stream, against a bare reader of `alerts`.

The center reads `alerts` with one consumer (center/feed.py), stores each snapshot in Redis
and fans it out to the live streams. The baseline, measured on the same alerts in the same
run, is a bare aiokafka consumer (no group, every partition, default fetch settings like the
feed's) reading `alerts` directly: the ratio of the two delays is what the center adds.

One alert every 30 to 70 ms is published as the worker publishes it (signed, acks=all,
idempotent, role `worker`); each delay runs from just before the produce call to the alert's
arrival on the live stream (SSE) or at the bare reader (role `center`, as the feed logs in).
Before that, each process's CPU share with nothing to read (the feed's idle polling).

Run from the repository root: .venv/bin/python tests/bench/bench_center.py
BENCH_CENTER_ALERTS changes the number of alerts (default 300).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench._cpu import CpuMeter
from tests.bench._report import percentile, progress_for, report

ALERTS = int(os.environ.get("BENCH_CENTER_ALERTS", "300"))
IDLE_S = 10.0

progress = progress_for("bench_center")


def summary(values_ms: list[float]) -> dict[str, float]:
    return {"p50_ms": round(percentile(values_ms, 0.5), 1), "p99_ms": round(percentile(values_ms, 0.99), 1),
            "max_ms": round(max(values_ms), 1)}


def read_stream(url: str, token: str, arrived: dict[str, float], ready: threading.Event,
                stop: threading.Event) -> None:
    import httpx

    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=10.0) as http, \
            http.stream("GET", "/api/stream") as stream:
        for line in stream.iter_lines():
            if line == ": connected":
                ready.set()
            elif line.startswith("data: "):
                arrived.setdefault(json.loads(line[6:])["alert_id"], time.monotonic())
            if stop.is_set():
                return


def read_alerts(kafka: str, security: Any, partitions: int, arrived: dict[str, float], ready: threading.Event,
                stop: threading.Event) -> None:
    """The baseline: a bare aiokafka consumer at the end of every partition of `alerts`."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from vocabulary import topics

    async def read() -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=kafka, enable_auto_commit=False, auto_offset_reset="latest",
                                    **security.client())
        await consumer.start()
        try:
            name = topics.named(topics.ALERTS)
            assigned = [TopicPartition(name, p) for p in range(partitions)]
            consumer.assign(assigned)
            await consumer.seek_to_end(*assigned)
            for tp in assigned:
                await consumer.position(tp)
            ready.set()
            while not stop.is_set():
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    now = time.monotonic()
                    for record in records:
                        arrived.setdefault(json.loads(record.value)["alert_id"], now)
        finally:
            await consumer.stop()

    asyncio.run(read())


def main() -> int:
    from kafka import KafkaProducer

    from deploy.stack import Stack
    from tests.integration.center_support import OPERATOR, make_alert, running_center, sample_city
    from tests.integration.support import send_signed
    from vocabulary import internal, topics

    os.environ.setdefault(internal.KEY_ENV, "5e" * 32)
    key = internal.key_from_environment()
    progress("starting Apache Kafka and Redis, then the center (role `center`)")
    with tempfile.TemporaryDirectory(prefix="centinela-bench-center-") as work, Stack(workdir=Path(work)) as stack:
        assert stack.cluster is not None
        center_security = stack.cluster.security("center")
        with running_center(sample_city(), stack.kafka, stack.redis_url, keepalive_s=0.5,
                            security=center_security) as center:
            broker = next(s.process.pid for s in stack.services if s.name.startswith("broker") and s.process)
            meter = CpuMeter({"broker (java)": broker, "center and the bench's readers": os.getpid()})
            progress(f"{IDLE_S:.0f} s idle: what the feed's polling costs with nothing to read")
            meter.start()
            time.sleep(IDLE_S)
            idle = meter.shares()

            streamed: dict[str, float] = {}
            bare: dict[str, float] = {}
            stop = threading.Event()
            readers = []
            for target, args in ((read_stream, (center.url, OPERATOR, streamed)),
                                 (read_alerts, (stack.kafka, center_security, stack.partitions, bare))):
                ready = threading.Event()
                thread = threading.Thread(target=target, args=(*args, ready, stop), daemon=True)
                thread.start()
                if not ready.wait(15):
                    raise SystemExit(f"bench_center: {target.__name__} did not start")
                readers.append(thread)
            producer = KafkaProducer(bootstrap_servers=stack.kafka, linger_ms=0,
                                     **stack.cluster.security("worker").producer())
            rng, sent = random.Random(1), {}
            meter.start()
            for n in range(ALERTS):
                alert = make_alert(rng.choice(["north", "south"]))
                body, zone = alert.model_dump_json().encode(), alert.zone_id.encode()
                sent[alert.alert_id] = time.monotonic()
                send_signed(producer, topics.ALERTS, zone, body, key).get(10)
                if n % 100 == 99:
                    progress(f"{n + 1}/{ALERTS} alerts published")
                time.sleep(rng.uniform(0.03, 0.07))
            deadline = time.monotonic() + 10
            while (len(streamed.keys() & sent.keys()) < len(sent) or len(bare.keys() & sent.keys()) < len(sent)) \
                    and time.monotonic() < deadline:
                time.sleep(0.05)
            busy = meter.shares()
            stop.set()
            producer.close(5)
            for thread in readers:
                thread.join(5)

    both = [a for a in sent if a in streamed and a in bare]
    center_ms = [1000 * (streamed[a] - sent[a]) for a in both]
    bare_ms = [1000 * (bare[a] - sent[a]) for a in both]
    added_ms = [1000 * (streamed[a] - bare[a]) for a in both]
    figures: dict[str, Any] = {
        "alerts": len(sent), "on_live_stream": len(streamed.keys() & sent.keys()), "read_bare": len(bare.keys() & sent.keys()),
        "baseline_bare_reader": summary(bare_ms), "center_live_stream": summary(center_ms),
        "added_by_center": summary(added_ms),
    }
    figures["p50_ratio_to_baseline"] = round(figures["center_live_stream"]["p50_ms"] / figures["baseline_bare_reader"]["p50_ms"], 2)
    figures["p99_ratio_to_baseline"] = round(figures["center_live_stream"]["p99_ms"] / figures["baseline_bare_reader"]["p99_ms"], 2)
    figures["cpu_idle_pct_of_a_core"] = idle
    figures["cpu_publishing_pct_of_a_core"] = busy
    progress(f"live stream p99 {figures['center_live_stream']['p99_ms']} ms, bare reader p99 "
             f"{figures['baseline_bare_reader']['p99_ms']} ms")
    report("center", {
        "path": "alert produced to `alerts` -> center feed -> Redis -> operator's live stream (SSE)",
        "baseline": "a bare aiokafka consumer of `alerts` (no group, default fetch settings), same alerts, same run",
        "alerts": ALERTS, "pace": "one every 30-70 ms (uniform)",
        "broker": "embedded Apache Kafka 4.3 (KRaft, 1 node, SASL/SCRAM-SHA-512, ACLs), same machine",
        "producer": "kafka-python as role `worker`, linger 0, acks=all, idempotent, each send awaited",
        "readers": "the center's feed and the bare reader log in as role `center`",
    }, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
