"""An alert's way from the `alerts` topic to an operator's live stream, at two feed fetch waits.

The center reads `alerts` with one consumer (center/feed.py), stores each snapshot in Redis
and fans it out to the live streams. Tansu answers a fetch as soon as a look at its storage
finds data and otherwise looks again after half the time that remains of the fetch wait, so
an alert that lands between two looks waits for the next one. Until round 2, session 5 the
feed let the broker hold its fetches 100 ms; it now uses the lanes' wait
(`vocabulary.topics.FETCH_MAX_WAIT_MS`, 20 ms unless CENTINELA_FETCH_MAX_WAIT_MS says
otherwise). The baseline is 100 ms, measured in the same run; each condition runs in a
process of its own (the wait is read when the center starts) on a fresh broker and Redis.

For each: the delay from the alert's acknowledgement by the broker (it is on `alerts`) to its
arrival on an operator's live stream, one alert every 30 to 70 ms; and what the feed's polling
costs the broker with nothing to read.

Run from the repository root: .venv/bin/python tests/bench/bench_center.py
BENCH_CENTER_ALERTS changes the number of alerts per condition (default 300).
"""

from __future__ import annotations

import json
import multiprocessing
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
BASELINE_MS = 100  # the feed's fetch wait until round 2, session 5
WAIT_ENV = "CENTINELA_FETCH_MAX_WAIT_MS"

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


def one_condition(alerts: int, results: Any) -> None:
    """In a process of its own, with the fetch wait in its environment: the figures, put on `results`."""
    from kafka import KafkaProducer

    from deploy.stack import Stack
    from tests.integration.center_support import OPERATOR, make_alert, running_center, sample_city
    from tests.integration.support import send_signed
    from vocabulary import internal, topics

    key = internal.key_from_environment()
    with tempfile.TemporaryDirectory(prefix="centinela-bench-center-") as work, \
            Stack(workdir=Path(work)) as stack, \
            running_center(sample_city(), stack.kafka, stack.redis_url, keepalive_s=0.5) as center:
        broker = next(s.process.pid for s in stack.services if s.name.startswith("broker") and s.process)
        meter = CpuMeter({"broker (Tansu)": broker, "center and the bench's reader": os.getpid()})
        meter.start()
        time.sleep(IDLE_S)
        idle = meter.shares()

        arrived: dict[str, float] = {}
        ready, stop = threading.Event(), threading.Event()
        reader = threading.Thread(target=read_stream, args=(center.url, OPERATOR, arrived, ready, stop), daemon=True)
        reader.start()
        if not ready.wait(10):
            raise RuntimeError("the live stream did not connect")
        producer = KafkaProducer(bootstrap_servers=stack.kafka, linger_ms=0)
        rng, acked = random.Random(1), {}
        meter.start()
        for n in range(alerts):
            alert = make_alert(rng.choice(["north", "south"]))
            body, zone = alert.model_dump_json().encode(), alert.zone_id.encode()
            send_signed(producer, topics.ALERTS, zone, body, key).get(10)
            acked[alert.alert_id] = time.monotonic()
            if n % 100 == 99:
                progress(f"fetch wait {topics.FETCH_MAX_WAIT_MS} ms: {n + 1}/{alerts} alerts published")
            time.sleep(rng.uniform(0.03, 0.07))
        deadline = time.monotonic() + 10
        while len(arrived.keys() & acked.keys()) < len(acked) and time.monotonic() < deadline:
            time.sleep(0.05)
        busy = meter.shares()
        stop.set()
        producer.close(5)
        reader.join(5)
    delays = [1000 * (arrived[a] - at) for a, at in acked.items() if a in arrived]
    results.put({"fetch_wait_ms": topics.FETCH_MAX_WAIT_MS, "alerts": len(acked), "arrived": len(delays),
                 **summary(delays), "cpu_idle_pct_of_a_core": idle, "cpu_publishing_pct_of_a_core": busy})


def measure(wait_ms: int) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    before = os.environ.get(WAIT_ENV)
    os.environ[WAIT_ENV] = str(wait_ms)  # the child reads it when it imports the center
    try:
        child = context.Process(target=one_condition, args=(ALERTS, results))
        child.start()
    finally:
        if before is None:
            del os.environ[WAIT_ENV]
        else:
            os.environ[WAIT_ENV] = before
    figures = results.get(timeout=IDLE_S + ALERTS * 0.1 + 120)
    child.join(30)
    return figures  # type: ignore[no-any-return]


def main() -> int:
    from vocabulary.topics import FETCH_MAX_WAIT_MS

    conditions = [BASELINE_MS, FETCH_MAX_WAIT_MS]
    figures: dict[str, Any] = {}
    for wait_ms in conditions:
        progress(f"feed fetch wait {wait_ms} ms: a fresh broker and Redis, {IDLE_S:.0f} s idle, then {ALERTS} alerts")
        figures[f"fetch_wait_{wait_ms}_ms"] = measure(wait_ms)
    base, now = figures[f"fetch_wait_{BASELINE_MS}_ms"], figures[f"fetch_wait_{FETCH_MAX_WAIT_MS}_ms"]
    figures["p50_ratio_to_baseline"] = round(now["p50_ms"] / base["p50_ms"], 2)
    figures["p99_ratio_to_baseline"] = round(now["p99_ms"] / base["p99_ms"], 2)
    broker_idle = [f["cpu_idle_pct_of_a_core"]["broker (Tansu)"] for f in (base, now)]
    figures["broker_idle_pct_of_a_core_baseline_then_now"] = broker_idle
    report("center", {
        "path": "alert acknowledged on `alerts` -> center feed -> Redis -> operator's live stream (SSE)",
        "baseline": f"feed fetch wait {BASELINE_MS} ms (until round 2, session 5)",
        "now": f"feed fetch wait {FETCH_MAX_WAIT_MS} ms (vocabulary.topics.FETCH_MAX_WAIT_MS)",
        "alerts per condition": ALERTS, "pace": "one every 30-70 ms (uniform)",
        "broker": "Tansu (memory storage), fresh for each condition, same machine",
        "producer": "kafka-python, linger 0, each send awaited",
    }, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
