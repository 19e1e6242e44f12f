"""The cluster path (contract section 12): three embedded Kafka nodes survive the loss of any one, and
two workers share the zones and take over from each other."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deploy.broker import Cluster, admin_client
from deploy.stack import free_port
from streams.health import CHECK_S, LANES_KEY
from tests.integration.devices import Senders, check_counted_once, install_devices
from tests.integration.failover import kill_leaders, long_grouping
from tests.integration.system import System, poll
from vocabulary import topics

pytestmark = pytest.mark.integration


def evaluate_partitions(system: System) -> dict[int, set[int]]:
    """Per worker pid, the zone.events partitions its evaluate lane owns (from the lanes' records)."""
    owned: dict[int, set[int]] = {}
    for key in system.redis.smembers(LANES_KEY):
        record = {k.decode(): v.decode() for k, v in system.redis.hgetall(key).items()}
        if record.get("lane") == "evaluate" and time.time() - float(record["checked_at"]) < 2 * CHECK_S:
            owned.setdefault(int(record["worker"]), set()).update(
                int(name.rsplit("/", 1)[1]) for name in json.loads(record["lag"]) if name.startswith("zone.events/"))
    return owned


@pytest.mark.timeout(360)
def test_three_nodes_survive_losing_the_leader_twice_and_two_workers_take_over_from_each_other(
        tmp_path: Path) -> None:
    system = System(tmp_path, stall_s=30, brokers=3)
    install_devices(system)
    long_grouping(system)
    with system:
        system.wait_ready(timeout_s=150)
        admin = admin_client(system.kafka, system.security("admin"), 20)
        try:
            [alerts] = admin.describe_topics([topics.named(topics.ALERTS)])
        finally:
            admin.close()
        assert all(len(p["replica_nodes"]) == 3 for p in alerts["partitions"]), "replication factor 3"
        acked, kills = kill_leaders(system, kills=2, spacing_s=(6, 9), rng=random.Random(7))
        for kill in kills:
            print(kill)
        check_counted_once(system, acked)
        assert acked.retries > 0 or any(k.ack_gap_s > 1 for k in kills), "the kills reached no device"

        # Workers on several machines: a second one shares the zones, then is lost.
        redis_url = f"redis://:{(system.data / 'redis.password').read_text().strip()}@127.0.0.1:{system.redis_port}/0"
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("CENTINELA_KAFKA")},
               **Cluster.used(system.data).environment("worker"), "CENTINELA_REDIS": redis_url}
        with (tmp_path / "second-worker.log").open("ab") as log:
            second = subprocess.Popen([sys.executable, "-m", "centinela", "worker", "--config", str(system.config),
                                       "--web-port", str(free_port())], env=env, stdout=log, stderr=subprocess.STDOUT,
                                      start_new_session=True)
        try:
            shared = poll(lambda: (o := evaluate_partitions(system)).get(second.pid) and len(o) == 2 and o, 90,
                          "the second worker's evaluate lane owns partitions")
            assert set().union(*shared.values()) == {0, 1, 2, 3} and sum(map(len, shared.values())) == 4, shared
            senders = Senders(system, first_sequence=len(acked.frames) + 1).start(camera_per_s=20)
            try:
                time.sleep(5)
                os.killpg(second.pid, signal.SIGKILL)  # the worker and its lanes, as a machine lost
                second.wait()
                poll(lambda: (o := evaluate_partitions(system)) and set(o) != {second.pid}
                     and next(iter(o.values())) == {0, 1, 2, 3} and len(o) == 1, 90,
                     "the remaining worker owns every partition")
                time.sleep(5)
                senders.finish.set()
                senders.join()
            finally:
                senders.abandon.set()
            check_counted_once(system, acked.merged(senders.acked))
        finally:
            if second.poll() is None:
                os.killpg(second.pid, signal.SIGKILL)
                second.wait()
