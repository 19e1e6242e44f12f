"""One DC-09 receiver on the real embedded broker: frames per second over many TCP connections,
and frame-to-ACK latency, against a bare produce round trip measured in the same run.

1. Unloaded: one connection sends SOLO frames one at a time (the three kinds in turn), against
   SOLO produce round trips from one task: what the receiver adds to a single frame's ACK.
2. The receiver: `centinela receiver` in its own process. CONNECTIONS panels' connections each
   send a frame and wait for its ACK, then the next (as a panel does), FRAMES in all: a mix
   of clear ADM-CID, clear SIA-DCS and encrypted SIA-DCS (AES-128). Every ACK means the
   event was acknowledged by the broker. Timed from the first send to the last ACK; the
   latency of each frame is from just before its send to its ACK.
3. The baseline: a bare AIOKafkaProducer in this process, CONNECTIONS tasks each awaiting
   send_and_wait of an AlarmSignal-sized value, then the next; FRAMES in all.

The broker is the embedded Apache Kafka (SASL/SCRAM-SHA-512, ACLs): the receiver and the
baseline's producer both log in as role `receiver` and produce with acks=all, idempotent.

The load generator shares the 2 cores with the receiver and the broker, as the baseline's
producer shares them with the broker.

Run from the repository root: .venv/bin/python tests/bench/bench_receivers.py
BENCH_RECEIVERS_FRAMES, BENCH_RECEIVERS_CONNECTIONS change the sizes.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from deploy.stack import Stack, free_port  # noqa: E402
from receivers import dc09  # noqa: E402
from receivers.dc09 import Framer  # noqa: E402
from tests.bench._report import percentile, progress_for, report  # noqa: E402
from vocabulary import internal, topics  # noqa: E402
from vocabulary.kafka_security import KafkaSecurity  # noqa: E402

FRAMES = int(os.environ.get("BENCH_RECEIVERS_FRAMES", "20000"))
SOLO = 600  # frames, one at a time: the latency of an unloaded receiver
CONNECTIONS = int(os.environ.get("BENCH_RECEIVERS_CONNECTIONS", "100"))
AES_KEY = "00112233445566778899AABBCCDDEEFF"
PARTITIONS = 4


progress = progress_for("bench_receivers")


EACH_ALONE = [[panel] for panel in range(CONNECTIONS)]  # one panel per connection


def write_city(directory: Path) -> None:
    zone = "{id: z, timezone: UTC, polygon: [[-58.585, -34.43], [-58.57, -34.43], [-58.57, -34.42]]}"
    panels = "".join(
        f"  - {{id: p{n:04d}, zone: z, account: '{n:04d}'"
        + (f", dc09_key: '{AES_KEY}'" if n % 3 == 2 else "") + "}\n"
        for n in range(CONNECTIONS))
    # The bench's panels all connect from loopback and send as fast as they are answered: lift the
    # per-address and per-panel limits that protect a real receiver, so that they measure throughput.
    limits = f"ingest: {{dc09_max_per_address: {CONNECTIONS + 10}, dc09_per_panel_per_min: 1000000}}\n"
    (directory / "city.yaml").write_text(f"zones: [{zone}]\npanels:\n{panels}{limits}")


def frame_for(panel: int, sequence: int) -> bytes:
    account = f"{panel:04d}"
    header = f"{sequence % 10000:04d}R1L1#{account}"
    if panel % 3 == 2:  # encrypted frames must carry a fresh timestamp
        stamp = dc09.format_timestamp(datetime.now(UTC))
        return dc09.frame(f'"*SIA-DCS"{header}[{dc09.encrypt(AES_KEY, f"#{account}|Nri1/BA{sequence % 999}]{stamp}")}')
    if panel % 3 == 1:
        return dc09.frame(f'"SIA-DCS"{header}[#{account}|Nri1/BA{sequence % 999}]')
    return dc09.frame(f'"ADM-CID"{header}[#{account}|1130 01 {sequence % 999:03d}]')


async def panel_connection(port: int, panels: list[int], count: int, latencies: list[float],
                           kinds: dict[str, int]) -> None:
    """One connection sending `count` frames one at a time, from `panels` in turn."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    framer = Framer()
    answers: list[bytes] = []
    for n in range(count):
        frame = frame_for(panels[n % len(panels)], n + 1)
        sent = time.perf_counter()
        writer.write(frame)
        while not answers:
            data = await asyncio.wait_for(reader.read(4096), 60)
            if not data:
                raise ConnectionError("the receiver closed the connection")
            answers += framer.feed(data)
        latencies.append(time.perf_counter() - sent)
        kind = dc09.answer_kind(answers.pop(0))
        kinds[kind] = kinds.get(kind, 0) + 1
    writer.close()


async def through_receiver(port: int, connections: list[list[int]], share: int) -> tuple[float, list[float], dict[str, int]]:
    latencies: list[float] = []
    kinds: dict[str, int] = {}
    began = time.perf_counter()
    await asyncio.gather(*(panel_connection(port, panels, share, latencies, kinds) for panels in connections))
    return time.perf_counter() - began, latencies, kinds


async def bare_produce(kafka: str, security: KafkaSecurity, tasks: int, total: int) -> tuple[float, list[float]]:
    from aiokafka import AIOKafkaProducer

    value = (b'{"event_id":"dc09-0123456789abcdef0123456789abcdef01234567","panel_id":"p0001",'
             b'"ts":"2026-11-28T12:00:00.000Z","qualifier":1,"code":130,"group":1,"zone":15}')
    producer = AIOKafkaProducer(bootstrap_servers=kafka, linger_ms=1, **security.producer())
    await producer.start()
    latencies: list[float] = []
    share = total // tasks

    async def one(panel: int) -> None:
        for _ in range(share):
            sent = time.perf_counter()
            await producer.send_and_wait(topics.named(topics.ALARMS), value, key=f"p{panel:04d}".encode())
            latencies.append(time.perf_counter() - sent)

    try:
        began = time.perf_counter()
        await asyncio.gather(*(one(p) for p in range(tasks)))
        return time.perf_counter() - began, latencies
    finally:
        await producer.stop()


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    import socket

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the receiver exited")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the receiver did not start")


def main() -> None:
    os.environ.setdefault(internal.KEY_ENV, "5e" * 32)  # the receiver signs its receipts with a key derived from it
    with tempfile.TemporaryDirectory(prefix="bench-receivers-") as tmp, \
            Stack(partitions=PARTITIONS, workdir=Path(tmp) / "stack") as stack:
        config = Path(tmp) / "config"
        config.mkdir()
        write_city(config)
        dc09_port, ingest_port = free_port(), free_port()
        assert stack.cluster is not None, "the bench starts its own broker"
        security = stack.cluster.security("receiver")
        env = {**os.environ, **stack.environment("receiver"), "CENTINELA_DC09": f"127.0.0.1:{dc09_port}",
               "CENTINELA_INGEST": f"127.0.0.1:{ingest_port}"}
        log = (Path(tmp) / "receiver.log").open("wb")
        receiver = subprocess.Popen([sys.executable, "-m", "centinela", "receiver", "--config", str(config)],
                                    env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            try:
                wait_for_port(ingest_port, receiver)  # ingestion serves once the producer is connected
            except SystemExit:
                log.flush()
                print((Path(tmp) / "receiver.log").read_text(errors="replace")[-3000:], file=sys.stderr)
                raise
            progress("warming up")
            asyncio.run(bare_produce_warmup(stack.kafka, security))
            asyncio.run(through_receiver(dc09_port, EACH_ALONE, 1))
            progress(f"unloaded: {SOLO} frames over one connection, {SOLO} produce round trips from one task")
            _, solo_base = asyncio.run(bare_produce(stack.kafka, security, 1, SOLO))
            _, solo_rx, solo_kinds = asyncio.run(through_receiver(dc09_port, [[0, 1, 2]], SOLO))
            progress(f"baseline: bare produce round trips, {FRAMES} over {CONNECTIONS} tasks")
            base_s, base_latencies = asyncio.run(bare_produce(stack.kafka, security, CONNECTIONS, FRAMES))
            progress(f"receiver: {FRAMES} frames over {CONNECTIONS} TCP connections")
            rx_s, rx_latencies, kinds = asyncio.run(through_receiver(dc09_port, EACH_ALONE, FRAMES // CONNECTIONS))
        finally:
            receiver.terminate()
            receiver.wait(15)
            log.close()
    sent = len(rx_latencies)
    rx_rate, base_rate = sent / rx_s, len(base_latencies) / base_s
    for kind, count in solo_kinds.items():
        kinds[kind] = kinds.get(kind, 0) + count
    report("receivers", {
        "frames": sent, "unloaded frames": len(solo_rx), "connections": CONNECTIONS, "mix": "1/3 ADM-CID, 1/3 SIA-DCS, 1/3 *SIA-DCS (AES-128)",
        "broker": "embedded Apache Kafka 4.3 (KRaft, 1 node, SASL/SCRAM-SHA-512, ACLs), same machine",
        "producers": "the receiver's and the baseline's: role `receiver`, acks=all, idempotent", "partitions": PARTITIONS,
        "load generator": "this process (asyncio), sharing the cores",
        "receiver limits": "per source address and per panel lifted (all panels connect from loopback)",
    }, {
        "answers": dict(sorted(kinds.items())),
        "unloaded frame->ACK p50 ms": round(percentile(solo_rx, 0.5) * 1000, 2),
        "unloaded frame->ACK p99 ms": round(percentile(solo_rx, 0.99) * 1000, 2),
        "unloaded produce round trip p50 ms": round(percentile(solo_base, 0.5) * 1000, 2),
        "unloaded produce round trip p99 ms": round(percentile(solo_base, 0.99) * 1000, 2),
        "ratio unloaded p50 frame->ACK to produce p50": round(percentile(solo_rx, 0.5) / percentile(solo_base, 0.5), 2),
        "receiver frames/s": round(rx_rate),
        "receiver frame->ACK p50 ms": round(percentile(rx_latencies, 0.5) * 1000, 2),
        "receiver frame->ACK p99 ms": round(percentile(rx_latencies, 0.99) * 1000, 2),
        "baseline bare produce/s": round(base_rate),
        "baseline produce round trip p50 ms": round(percentile(base_latencies, 0.5) * 1000, 2),
        "baseline produce round trip p99 ms": round(percentile(base_latencies, 0.99) * 1000, 2),
        "ratio frames/s to produce/s": round(rx_rate / base_rate, 3),
        "ratio p50 frame->ACK to produce p50": round(percentile(rx_latencies, 0.5) / percentile(base_latencies, 0.5), 2),
        "ratio p99 frame->ACK to produce p99": round(percentile(rx_latencies, 0.99) / percentile(base_latencies, 0.99), 2),
    })


async def bare_produce_warmup(kafka: str, security: KafkaSecurity) -> None:
    """Topics' metadata and the broker's first writes, outside every timing."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=kafka, **security.producer())
    await producer.start()
    try:
        for n in range(50):
            await producer.send_and_wait(topics.named(topics.ALARMS), b"{}", key=f"warm-{n}".encode())
    finally:
        await producer.stop()


if __name__ == "__main__":
    main()
