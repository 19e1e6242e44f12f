"""No alert lost, none doubled: one round of each kind that `make soak` repeats (tests/soak/rounds.py).

A worker killed outright mid-stream (with both cores kept busy, and half of the panics
sent while no worker runs), and two workers sharing the zones through a rebalance.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from deploy.stack import Stack
from tests.soak.rounds import cpu_hogs, kill_and_restart, rebalance

pytestmark = pytest.mark.integration


@pytest.mark.timeout(300)
def test_a_worker_killed_mid_stream_and_restarted_leaves_every_alert_once(stack: Stack, tmp_path: Path) -> None:
    with cpu_hogs():
        result = kill_and_restart(stack, tmp_path, "kill", random.Random())
    assert result.passed, result.summary()


@pytest.mark.timeout(300)
def test_two_workers_share_the_zones_without_doubling_alerts_or_deadlines(stack: Stack, tmp_path: Path) -> None:
    result = rebalance(stack, tmp_path, "pair", random.Random())
    assert result.passed, result.summary()
