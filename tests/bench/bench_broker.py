"""The embedded broker's cost as it holds more: the same light traffic, round after round.

Tansu 0.6 (memory storage) lists every batch it holds in a partition on each fetch that
finds data there (tansu-storage/src/dynostore.rs), and keeps every batch until it stops.
Each round here is the same: a producer sends RATE messages/s (linger 0: about a batch each),
over PARTITIONS partitions, and CONSUMERS consumers read them with the lanes' fetch wait.
Nothing else runs against the broker, so any growth in its CPU per round, or in the
consumers' delay, comes from what the earlier rounds left in it. The baseline is round 1,
in the same run; the ratios are each round's figures over it.

Run from the repository root: .venv/bin/python tests/bench/bench_broker.py
BENCH_BROKER_ROUNDS changes the number of rounds.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from deploy.stack import Stack
from tests.bench._cpu import cpu_s
from tests.bench._report import progress_for, report
from vocabulary import topics
from vocabulary.topics import FETCH_MAX_WAIT_MS

ROUNDS = int(os.environ.get("BENCH_BROKER_ROUNDS", "6"))
ROUND_S = 8.0
RATE = 500  # messages/s: the bench_streams background rate
PARTITIONS = 4
CONSUMERS = 2  # like the urgent and evaluate lanes


progress = progress_for("bench_broker")


async def one_round(kafka: str, broker_pid: int) -> dict[str, Any]:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    name = topics.named(topics.BEEPS)
    partitions = [TopicPartition(name, p) for p in range(PARTITIONS)]
    delays: list[float] = []
    consumers = []
    for _ in range(CONSUMERS):
        consumer = AIOKafkaConsumer(bootstrap_servers=kafka, enable_auto_commit=False,
                                    fetch_max_wait_ms=FETCH_MAX_WAIT_MS)
        await consumer.start()
        consumer.assign(partitions)
        await consumer.seek_to_end(*partitions)
        consumers.append(consumer)

    async def read(consumer: Any, timed: bool) -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=1000)
            now = time.time()
            if timed:
                delays.extend((now - float(r.value)) * 1000 for records in batches.values() for r in records)

    readers = [asyncio.create_task(read(c, n == 0)) for n, c in enumerate(consumers)]
    producer = AIOKafkaProducer(bootstrap_servers=kafka, linger_ms=0)
    await producer.start()
    try:
        await asyncio.sleep(1)
        used, started, sent = cpu_s(broker_pid), time.monotonic(), 0
        while (elapsed := time.monotonic() - started) < ROUND_S:
            while sent < elapsed * RATE:
                await producer.send(name, str(time.time()).encode(), partition=sent % PARTITIONS)
                sent += 1
            await asyncio.sleep(0.002)
        broker_share = (cpu_s(broker_pid) - used) / (time.monotonic() - started)
        await asyncio.sleep(1)
    finally:
        await producer.stop()
        for task in readers:
            task.cancel()
        for consumer in consumers:
            await consumer.stop()
    q = statistics.quantiles(delays, n=100)
    return {"broker_pct_of_a_core": round(100 * broker_share), "delay_p50_ms": round(q[49], 1),
            "delay_p99_ms": round(q[98], 1), "messages": sent}


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="centinela-bench-broker-"))
    rounds: list[dict[str, Any]] = []
    with Stack(partitions=PARTITIONS, workdir=work) as stack:
        broker = next(s.process for s in stack.services if s.name.startswith("broker") and s.process is not None)
        for n in range(1, ROUNDS + 1):
            found = asyncio.run(one_round(stack.kafka, broker.pid))
            held = sum(r["messages"] for r in rounds) // PARTITIONS
            rounds.append(found)
            progress(f"round {n}/{ROUNDS} (~{held} batches already held per partition): broker "
                     f"{found['broker_pct_of_a_core']} % of a core, delay p50 {found['delay_p50_ms']} / "
                     f"p99 {found['delay_p99_ms']} ms")
    first, last = rounds[0], rounds[-1]
    figures: dict[str, Any] = {f"round {n}": r for n, r in enumerate(rounds, 1)}
    figures["last_to_first_broker_cpu"] = round(last["broker_pct_of_a_core"] / max(first["broker_pct_of_a_core"], 1), 2)
    figures["last_to_first_delay_p99"] = round(last["delay_p99_ms"] / max(first["delay_p99_ms"], 0.1), 2)
    settings = {"broker": "Tansu 0.6.0 (memory storage), same machine", "partitions": PARTITIONS,
                "traffic": f"{RATE} messages/s for {ROUND_S:g} s a round, linger 0 (about a batch each)",
                "consumers": f"{CONSUMERS}, fetch_max_wait_ms {FETCH_MAX_WAIT_MS} (the lanes')", "rounds": ROUNDS,
                "baseline": "round 1 of the same run"}
    report("broker", settings, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
