"""The embedded stack: Apache Kafka (deploy/broker.py) and Redis on loopback ports.

`centinela up`, `make demo` and the test fixtures all start the same stack from here.
CENTINELA_KAFKA / CENTINELA_REDIS switch to servers that already run.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from deploy.broker import Cluster
from vocabulary.errors import Unavailable
from vocabulary.kafka_security import KafkaSecurity
from vocabulary.redaction import redacted

if TYPE_CHECKING:
    from deploy.supervisor import Child

LOOPBACK = "127.0.0.1"


class StackError(Unavailable):
    """A one-line reason the stack cannot start."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def free_block(size: int) -> int:
    """The first of `size` consecutive free loopback ports (the broker's nodes and controllers)."""
    for _ in range(100):
        first = free_port()
        if first + size < 65536 and all(_free(LOOPBACK, first + i) for i in range(size)):
            return first
    raise StackError(f"no {size} consecutive free ports on {LOOPBACK}")


def _free(host: str, port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def ensure_free(host: str, port: int, what: str) -> None:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            raise StackError(f"{what}: port {host}:{port} is already taken") from None


def _answers(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


@dataclass
class Service:
    """One server process we started, with its log file."""

    name: str
    argv: list[str]
    host: str
    port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 20.0) -> None:
        ensure_free(self.host, self.port, self.name)
        with private_log(self.log) as log:
            self.process = subprocess.Popen(
                self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        deadline = time.monotonic() + timeout_s
        while not _answers(self.host, self.port):
            if self.process.poll() is not None:
                raise StackError(f"{self.name} exited with {self.process.returncode}; see {self.log}")
            if time.monotonic() > deadline:
                self.stop()
                raise StackError(f"{self.name} did not answer on {self.host}:{self.port} within {timeout_s:.0f} s")
            time.sleep(0.05)

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def private_log(path: Path) -> BinaryIO:
    """A log file opened for appending, readable by its owner alone (logs name devices and zones)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.fchmod(descriptor, 0o600)
    return os.fdopen(descriptor, "ab")


DATA_MARK = ".centinela-data"  # in a data directory Centinela made itself


def make_private(directory: Path) -> None:
    """A data directory Centinela made (new, or marked by an earlier start), and everything in it,
    for its owner alone: folders 0700, files 0600. A directory it did not make (`--data .`,
    `--data ~`) is left as it is; what Centinela writes there is made private as it is written."""
    if not directory.exists():
        directory.mkdir(mode=0o700, parents=True)
        (directory / DATA_MARK).touch(mode=0o600)
    if not (directory / DATA_MARK).is_file():
        return
    directory.chmod(0o700)
    for root, folders, files in os.walk(directory):
        for name in folders:
            os.chmod(os.path.join(root, name), 0o700, follow_symlinks=False)
        for name in files:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                os.chmod(path, 0o600)


def secret_file(path: Path, make: Callable[[], str]) -> str:
    """The secret kept in `path`, made at the first start (mode 0600)."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(descriptor, "w", encoding="ascii") as out:
        out.write(make() + "\n")
    return path.read_text(encoding="ascii").strip()


def redis_binary() -> str:
    found = shutil.which("redis-server") or ("/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None)
    if not found:
        raise StackError("redis-server is not installed: apt-get install -y redis-server (make test does it)")
    return found


def redis_argv(port: int, data: Path) -> list[str]:
    """redis-server with its data in `data` and its password in `data`/../redis.conf (see `redis_password`)."""
    return [redis_binary(), str(data.parent / "redis.conf"), "--bind", LOOPBACK, "--port", str(port),
            "--dir", str(data), "--appendonly", "yes", "--save", "", "--protected-mode", "yes", "--daemonize", "no"]


def redis_password(workdir: Path) -> str:
    """The embedded Redis's generated password, kept across restarts; written to redis.conf, not on
    the command line, where any local user could read it."""
    (workdir / "redis").mkdir(mode=0o700, exist_ok=True)
    password = secret_file(workdir / "redis.password", lambda: secrets.token_hex(24))
    with private_log(workdir / "redis.conf") as conf:
        conf.truncate(0)
        conf.write(f"requirepass {password}\n".encode())
    return password


def topic_partitions(kafka: str, name: str, timeout_s: float = 20.0) -> int | None:
    """How many partitions topic `name` (as named on the broker) has; None while it does not exist."""
    from deploy.broker import admin_client

    admin = admin_client(kafka, KafkaSecurity.from_environment(), timeout_s)
    try:
        [found] = admin.describe_topics([name])
    finally:
        admin.close()
    return len(found["partitions"]) or None


@dataclass
class Stack:
    """Broker and Redis for one run; starts what is not given by the environment.

    The embedded broker's clients log in as a role (deploy/roles.py): `security` is the admin's,
    for the stack's own set-up; `up` gives each process its role's (`cluster.environment`).
    """

    kafka: str = ""
    redis_url: str = ""
    postgres_url: str = ""
    partitions: int = 4
    brokers: int = 1
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="centinela-")))
    services: list[Service] = field(default_factory=list)
    cluster: Cluster | None = None
    security: KafkaSecurity = field(default_factory=KafkaSecurity.from_environment)

    @classmethod
    def from_environment(cls, partitions: int = 4, workdir: Path | None = None, brokers: int = 1) -> Stack:
        stack = cls(
            kafka=os.environ.get("CENTINELA_KAFKA", ""),
            redis_url=os.environ.get("CENTINELA_REDIS", ""),
            postgres_url=os.environ.get("CENTINELA_POSTGRES", ""),
            partitions=partitions,
            brokers=brokers,
        )
        if workdir is not None:
            stack.workdir = workdir
        return stack

    def environment(self, role: str) -> dict[str, str]:
        """CENTINELA_KAFKA and the Kafka security settings for a process of `role`."""
        if self.cluster is None:  # a broker of the environment's: its settings are inherited
            return {"CENTINELA_KAFKA": self.kafka}
        return self.cluster.environment(role)

    def start(self, kafka_port: int | None = None, redis_port: int | None = None) -> Stack:
        make_private(self.workdir)
        try:
            if not self.kafka:
                port = kafka_port or free_block(2 * self.brokers)
                cluster = self._embed_broker(port)
                for node in cluster.nodes:
                    self._start(Service(f"broker-{node.node_id}", cluster.argv(node), LOOPBACK, node.port,
                                        self.workdir / f"broker-{node.node_id}.log"), timeout_s=90)
                cluster.provision(self.partitions)
            if not self.redis_url:
                port = redis_port or free_port()
                url = self._redis_url(port)  # writes the password file redis-server reads
                self._start(Service("redis", redis_argv(port, self.workdir / "redis"), LOOPBACK, port,
                                    self.workdir / "redis.log"))
                self.redis_url = url
            if self.cluster is None:
                self.create_topics()
            self._wait_for_redis()
        except BaseException:
            self.stop()
            raise
        return self

    def create_topics(self) -> None:
        """The topics on a broker of the environment's (the embedded one's `provision` makes its own)."""
        from deploy.broker import admin_client, create_topics

        admin = admin_client(self.kafka, self.security, 20)
        try:
            create_topics(admin, self.partitions)
        finally:
            admin.close()

    def _embed_broker(self, port: int) -> Cluster:
        cluster = Cluster(self.workdir, port, self.brokers)
        for node in cluster.nodes:
            ensure_free(LOOPBACK, node.port, "broker (--broker-port)")
            ensure_free(LOOPBACK, node.controller_port, "broker's controller (--broker-port + brokers)")
        cluster.prepare()
        self.cluster, self.kafka, self.security = cluster, cluster.bootstrap, cluster.security("admin")
        return cluster

    def _redis_url(self, port: int) -> str:
        return f"redis://:{redis_password(self.workdir)}@{LOOPBACK}:{port}/0"

    def supervised(self, kafka_port: int, redis_port: int, postgres_port: int | None = None) -> list[Child]:
        """Redis, the broker's nodes and (with `postgres_port`) PostgreSQL as children for a supervisor,
        when the environment names none.

        Once every node answers, each role's user and ACLs and the topics are made (idempotent:
        a node restarted after a crash finds them in its own log).
        """
        from deploy.supervisor import Child  # it imports this module for its private log files

        self.workdir.mkdir(parents=True, exist_ok=True)
        children = []
        if not self.redis_url:
            ensure_free(LOOPBACK, redis_port, "redis (--redis-port)")
            self.redis_url = self._redis_url(redis_port)
            children.append(Child("redis", redis_argv(redis_port, self.workdir / "redis"), {}, self.workdir / "redis.log",
                                  ready=lambda: _answers(LOOPBACK, redis_port)))
        if postgres_port is not None and not self.postgres_url:
            from deploy import postgres

            ensure_free(LOOPBACK, postgres_port, "postgres (--postgres-port)")
            postgres.ensure_initialised(self.workdir)
            url = self.postgres_url = postgres.postgres_url(postgres_port, self.workdir)
            children.append(Child("postgres", postgres.postgres_argv(postgres_port, self.workdir), {},
                                  self.workdir / "postgres.log", ready=lambda: postgres.answers(url)))
        if not self.kafka:
            cluster = self._embed_broker(kafka_port)

            def provision_once_all_answer() -> None:
                if all(_answers(LOOPBACK, node.port) for node in cluster.nodes):
                    cluster.provision(self.partitions)

            for node in cluster.nodes:
                port = node.port
                children.append(Child(f"broker-{node.node_id}" if cluster.size > 1 else "broker", cluster.argv(node),
                                      {}, self.workdir / f"broker-{node.node_id}.log",
                                      ready=lambda port=port: _answers(LOOPBACK, port),  # type: ignore[misc]
                                      on_ready=provision_once_all_answer))
        return children

    def _start(self, service: Service, timeout_s: float = 20.0) -> None:
        self.services.append(service)
        service.start(timeout_s)

    def _wait_for_redis(self, timeout_s: float = 10.0) -> None:
        import redis

        client = redis.Redis.from_url(self.redis_url)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                client.ping()
                return
            except redis.RedisError as error:
                if time.monotonic() > deadline:
                    raise StackError(f"Redis at {redacted(self.redis_url)} does not answer: {error}") from None
                time.sleep(0.1)
            finally:
                client.close()

    def stop(self) -> None:
        for service in reversed(self.services):
            service.stop()
        self.services.clear()

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
