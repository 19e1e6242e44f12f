"""Supervision, health and metrics logic (the real stack's faults: tests/integration/test_faults.py)."""

from __future__ import annotations

import asyncio
import re
import sys
import time
from pathlib import Path

import yaml
from aiokafka import TopicPartition
from prometheus_client import generate_latest

from center.health import (
    BrokerSample,
    Component,
    HealthSettings,
    HealthWatch,
    Partition,
    Sample,
    Stalls,
    lane_component,
    process_component,
)
from center.metrics import CenterMetrics
from deploy.supervisor import Child, Supervisor, backoff_s
from vocabulary.progress import ProcessRecord

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "centinela-alerts.yml"
TP = TopicPartition("zone.events", 2)


def test_the_backoff_doubles_up_to_its_cap_and_never_ends() -> None:
    assert [backoff_s(n, 0.5, 8.0) for n in range(0, 9)] == [0, 0.5, 1, 2, 4, 8, 8, 8, 8]
    assert backoff_s(1000, 0.5, 8.0) == 8.0


def run_for(supervisor: Supervisor, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        supervisor.tick()
        time.sleep(0.01)


def test_a_child_that_keeps_dying_is_restarted_again_and_again() -> None:
    supervisor = Supervisor(first_backoff_s=0.01, max_backoff_s=0.05)
    failing = Child("failing", [sys.executable, "-c", "raise SystemExit(3)"], {})
    finished = Child("finished", [sys.executable, "-c", "pass"], {})
    try:
        supervisor.start(failing)
        supervisor.start(finished)
        run_for(supervisor, 4.0)
    finally:
        supervisor.stop()
    assert failing.restarts >= 8, "given up on after a few quick deaths"
    assert failing.last_exit == "code 3"
    assert finished.restarts >= 8, "a process of the system that ends is restarted too"


def test_a_dead_broker_is_restarted_and_its_clients_are_left_to_reconnect() -> None:
    supervisor = Supervisor(first_backoff_s=0.5, max_backoff_s=0.5)
    broker = Child("broker", [sys.executable, "-c", "import time; time.sleep(60)"], {})
    consumer = Child("consumer", [sys.executable, "-c", "import time; time.sleep(60)"], {})
    try:
        for child in (broker, consumer):
            supervisor.start(child)
        run_for(supervisor, 0.2)
        first_consumer = consumer.process
        assert broker.process is not None
        broker.process.kill()
        run_for(supervisor, 1.5)
        assert broker.restarts == 1 and broker.state == "running"
        assert consumer.process is first_consumer and consumer.restarts == 0, "a Kafka client reconnects by itself"
    finally:
        supervisor.stop()


def test_a_lane_with_input_waiting_and_no_progress_for_stall_s_is_down() -> None:
    stalls = Stalls()
    waiting = Partition(end=10, committed=7)
    assert stalls.stalled_for("g", TP, waiting, now=100.0) == 0.0
    assert stalls.stalled_for("g", TP, waiting, now=120.0) == 20.0
    assert stalls.stalled_for("g", TP, Partition(end=11, committed=8), now=125.0) == 0.0, "it moved"
    assert stalls.stalled_for("g", TP, Partition(end=11, committed=8), now=160.0) == 35.0
    assert stalls.stalled_for("g", TP, Partition(end=8, committed=8), now=170.0) == 0.0, "nothing waiting"

    partitions = {TP: Partition(end=11, committed=8)}
    down = lane_component("evaluate", "centinela-evaluate", partitions, {TP: 35.0}, stall_s=30)
    assert down.level == "down" and "3 waiting on zone.events[2]" in down.detail
    assert lane_component("motion", "centinela-motion", partitions, {TP: 35.0}, stall_s=30).level == "degraded"
    assert lane_component("evaluate", "centinela-evaluate", partitions, {TP: 29.0}, stall_s=30).level == "ok"


class CountingBroker:
    """Stands for the broker's offsets: a partition with input waiting that never moves, or no answer."""

    def __init__(self) -> None:
        self.asked = 0
        self.answering = True

    async def sample(self) -> BrokerSample:
        self.asked += 1
        if not self.answering:
            raise ConnectionError("broker away")
        return {"evaluate": {TP: Partition(end=10, committed=7)}}, {}

    async def close(self) -> None:
        pass


def test_the_broker_is_asked_once_per_broker_sample_s_and_stalls_are_timed_by_its_answers() -> None:
    """The embedded broker lists every batch it holds to answer an end-offset request."""

    async def run() -> None:
        watch = HealthWatch("127.0.0.1:1", None, HealthSettings(stall_s=8, broker_sample_s=5),  # type: ignore[arg-type]  # Redis is not used here
                            feed_offsets=dict, feed_consuming=lambda: True)
        broker = watch.broker = CountingBroker()  # type: ignore[assignment]  # the fake stands for BrokerOffsets

        async def lane_at(now: float) -> Component:
            sample = Sample({})
            await watch._sample_broker(sample, now, None)
            return sample.components["lane:evaluate"]

        assert (await lane_at(100.0)).level == "ok"
        assert (await lane_at(101.0)).level == "ok" and broker.asked == 1, "answered from the last look"
        assert (await lane_at(105.0)).level == "ok" and broker.asked == 2
        assert (await lane_at(109.9)).level == "ok" and broker.asked == 2, "stalled 5 s as of the broker's answer"
        assert (await lane_at(110.0)).level == "down" and broker.asked == 3, "stalled 10 s"
        broker.answering = False
        sample = Sample({})
        await watch._sample_broker(sample, 120.0, None)
        assert sample.components["kafka"].level == "down" and broker.asked == 4
        await watch._sample_broker(Sample({}), 121.0, None)
        assert broker.asked == 5, "an unanswered look is not kept: the next sample asks again"

    asyncio.run(run())


def test_process_records_say_how_each_process_is() -> None:
    now = 1000.0
    running = ProcessRecord(state="running", pid=7, restarts=2, last_exit="signal 9", since=900, seen=999)
    assert process_component(running, now) == Component("ok", "running (pid 7); 2 restarts, last exit signal 9")
    waiting = running.model_copy(update={"state": "waiting", "since": 990.0})
    assert process_component(waiting, now).level == "degraded"  # type: ignore[union-attr]
    assert process_component(running.model_copy(update={"seen": 980.0}), now).level == "degraded"  # type: ignore[union-attr]
    assert process_component(running.model_copy(update={"seen": 500.0}), now) is None


def test_the_worst_component_is_the_status() -> None:
    assert Sample({"a": Component("ok", ""), "b": Component("degraded", "")}).status == "degraded"
    assert Sample({"a": Component("down", ""), "b": Component("degraded", "")}).status == "down"
    assert Sample({}).status == "ok"


def exposed() -> str:
    metrics = CenterMetrics()
    metrics.shared.sample = Sample({"kafka": Component("ok", "")}, lag={("centinela-urgent", "devices.beeps"): 4},
                                   restarts={"worker-1.urgent": 3})
    return generate_latest(metrics.registry).decode()


def test_metrics_expose_the_contract_series_even_before_anything_happened() -> None:
    text = exposed()
    assert 'centinela_consumer_lag{group="centinela-urgent",topic="devices.beeps"} 4.0' in text
    assert 'centinela_oldest_open_alert_seconds{priority="1"} 0.0' in text
    assert "# TYPE centinela_events_total counter" in text
    assert 'centinela_forged_messages_total{topic="alerts"} 0.0' in text
    assert 'centinela_process_restarts_total{process="worker-1.urgent"} 3.0' in text
    assert 'centinela_health{component="kafka"} 0.0' in text


def test_the_alerting_rules_use_series_the_center_exposes() -> None:
    rules = [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]
    assert rules
    names = {line.split()[2] for line in exposed().splitlines() if line.startswith("# TYPE")}
    names |= {f"{n}_total" for n in names}
    for rule in rules:
        for used in re.findall(r"centinela_[a-z_]+", rule["expr"]):
            assert used in names, f"{rule['alert']} uses {used}, which /metrics does not expose"
