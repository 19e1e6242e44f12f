"""Shared fixtures: the real broker and Redis on free loopback ports, the example city."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.stack import Stack
from vocabulary import internal

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_CONFIG = REPO / "examples" / "tigre"
DATASETS = REPO.parent / "shared" / "datasets"
# The installation's internal key for every process a test starts (they inherit the environment).
os.environ.setdefault(internal.KEY_ENV, "5e" * 32)
INTERNAL_KEY = internal.key_from_environment()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Apache Kafka and redis-server started for this test session, stopped after it.

    Always fresh processes on free ports (never CENTINELA_KAFKA/REDIS), so tests can run
    beside a running demo and never touch its data. The tests and every process they start
    log in to the broker as its admin (the environment says how); tests of the roles use theirs.
    """
    with Stack(partitions=4, workdir=tmp_path_factory.mktemp("stack")) as running:
        assert running.cluster is not None
        os.environ.update(running.cluster.security("admin").environment())
        yield running


@pytest.fixture(scope="session")
def example_config() -> Path:
    return EXAMPLE_CONFIG


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private PostgreSQL (deploy/postgres.py, as `up` runs it) on a free port for this session: its URL."""
    import signal
    import subprocess

    from deploy import postgres as embedded
    from deploy.stack import free_port

    data = tmp_path_factory.mktemp("postgres")
    embedded.ensure_initialised(data)
    port = free_port()
    log = (data / "postgres.log").open("wb")
    server = subprocess.Popen(embedded.postgres_argv(port, data), stdout=log, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        url = embedded.postgres_url(port, data)
        embedded.wait_until_answers(url)
        yield url
    finally:
        server.send_signal(signal.SIGINT)  # fast shutdown: sessions left open do not hold it up
        server.wait(30)
        log.close()
