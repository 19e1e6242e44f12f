"""The embedded broker: Apache Kafka in KRaft mode, on loopback, durable, with SCRAM and ACLs per role.

Each node is both broker and controller of one quorum. Its log lives in `<data>/kafka/node-N`,
formatted once (the cluster id is kept in `<data>/kafka/cluster.id`), so a restarted node still
holds every message it acknowledged and every committed offset. Clients authenticate with
SASL/SCRAM-SHA-512 on the client listener; the controller listener takes SASL/PLAIN from the
nodes alone. The passwords (`<data>/kafka/credentials.json`, mode 0600) are made at the first
start; `provision` gives each role its SCRAM user and ACLs (deploy/roles.py) and creates the topics.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploy import roles
from vocabulary import topics
from vocabulary.errors import Unavailable
from vocabulary.kafka_security import KafkaSecurity

LOOPBACK = "127.0.0.1"
HOME_ENV = "CENTINELA_KAFKA_HOME"
ADMIN = "admin"
CONTROLLER = "controller"  # the nodes' own principal on the controller listener
MECHANISM = "SCRAM-SHA-512"
SCRAM_ITERATIONS = 4096
# Sized for a 2-core machine (measured in docs/operations.md): a fixed heap, G1 with short pauses.
MAX_MESSAGE_BYTES = 32 * 1024 * 1024
JVM_OPTIONS = ("-Xms512m", "-Xmx512m", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
               "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true")


class BrokerError(Unavailable):
    """A one-line reason the embedded broker cannot run."""


def kafka_home() -> Path:
    """Where `make setup` put Apache Kafka: CENTINELA_KAFKA_HOME, else deploy/kafka of this checkout."""
    home = Path(os.environ.get(HOME_ENV) or Path(__file__).resolve().parent / "kafka")
    if not any((home / "lib").glob("kafka_2.13-*.jar")):
        raise BrokerError(f"Apache Kafka is not installed in {home}/lib: run `make setup` (or set {HOME_ENV})")
    return home


def java() -> str:
    found = shutil.which("java") or (os.path.join(os.environ["JAVA_HOME"], "bin", "java")
                                     if os.environ.get("JAVA_HOME") else None)
    if not found:
        raise BrokerError("java is not installed: apt-get install -y default-jre-headless (make setup does it)")
    return found


@dataclass(frozen=True)
class Node:
    node_id: int
    port: int  # clients
    controller_port: int

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"


@dataclass(frozen=True)
class Cluster:
    """The embedded broker's nodes: clients on `port`..`port+n-1`, controllers on the next n ports."""

    data: Path  # the run's data directory; the broker keeps its own under data/kafka
    port: int
    size: int = 1

    @property
    def directory(self) -> Path:
        return self.data / "kafka"

    @property
    def nodes(self) -> list[Node]:
        return [Node(i + 1, self.port + i, self.port + self.size + i) for i in range(self.size)]

    @property
    def bootstrap(self) -> str:
        return ",".join(node.address for node in self.nodes)

    @property
    def replication(self) -> int:
        return min(3, self.size)

    @property
    def min_insync(self) -> int:
        return 2 if self.size >= 3 else 1

    @classmethod
    def used(cls, data: Path) -> Cluster:
        """The embedded broker `up` or `broker` last ran in `data` (its ports and size as it ran)."""
        path = data / "kafka" / "listeners.json"
        if not path.exists():
            raise BrokerError(f"{data}: no embedded broker ever ran there (`centinela up --data {data}` makes one)")
        found = json.loads(path.read_text(encoding="utf-8"))
        return cls(data, int(found["port"]), int(found["size"]))

    def passwords(self) -> dict[str, str]:
        """Every role's password (and the nodes'), made at the first start and kept, mode 0600."""
        path = self.directory / "credentials.json"
        wanted = [*roles.ROLES, CONTROLLER]
        kept: dict[str, str] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        if all(name in kept for name in wanted):
            return kept
        made = {name: kept.get(name) or secrets.token_urlsafe(24) for name in wanted}
        write_private(path, json.dumps(made, indent=2) + "\n")
        return made

    def cluster_id(self) -> str:
        path = self.directory / "cluster.id"
        if not path.exists():
            write_private(path, _random_cluster_id() + "\n")
        return path.read_text(encoding="ascii").strip()

    def properties(self, node: Node, passwords: dict[str, str]) -> str:
        voters = ",".join(f"{n.node_id}@{LOOPBACK}:{n.controller_port}" for n in self.nodes)
        controller_secret = passwords[CONTROLLER]
        settings = {
            "process.roles": "broker,controller",
            "node.id": node.node_id,
            "controller.quorum.voters": voters,
            "listeners": f"CLIENT://{LOOPBACK}:{node.port},CONTROLLER://{LOOPBACK}:{node.controller_port}",
            "advertised.listeners": f"CLIENT://{LOOPBACK}:{node.port}",
            "listener.security.protocol.map": "CLIENT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT",
            "inter.broker.listener.name": "CLIENT",
            "controller.listener.names": "CONTROLLER",
            "sasl.enabled.mechanisms": MECHANISM,
            "sasl.mechanism.inter.broker.protocol": MECHANISM,
            "listener.name.client.scram-sha-512.sasl.jaas.config":
                _jaas("scram.ScramLoginModule", ADMIN, passwords[ADMIN]),
            # The controller listener is never a client's: PLAIN with the nodes' own secret, no ANONYMOUS.
            "sasl.mechanism.controller.protocol": "PLAIN",
            "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
            "listener.name.controller.plain.sasl.jaas.config":
                _jaas("plain.PlainLoginModule", CONTROLLER, controller_secret,
                      f'user_{CONTROLLER}="{controller_secret}"'),
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users": f"User:{ADMIN};User:{CONTROLLER}",
            "log.dirs": str(self.directory / f"node-{node.node_id}"),
            "auto.create.topics.enable": "false",
            # An oversized input is admission's to refuse, with its raw bytes on events.rejected: the broker
            # takes what the workers' producers send (32 MiB requests; streams/admit.py keeps 16 MiB raw).
            "message.max.bytes": MAX_MESSAGE_BYTES,
            "replica.fetch.max.bytes": MAX_MESSAGE_BYTES,
            "default.replication.factor": self.replication,
            "min.insync.replicas": self.min_insync,
            "offsets.topic.replication.factor": self.replication,
            "offsets.topic.num.partitions": 8,
            "transaction.state.log.replication.factor": self.replication,
            "transaction.state.log.min.isr": self.min_insync,
            "transaction.state.log.num.partitions": 4,
            "share.coordinator.state.topic.replication.factor": self.replication,
            "share.coordinator.state.topic.min.isr": self.min_insync,
            "group.initial.rebalance.delay.ms": 0,
            "num.network.threads": 2,
            "num.io.threads": 2,
            "num.recovery.threads.per.data.dir": 2,
            # A dead node is fenced in seconds, not the default 9 s, so acks=all writes resume soon.
            "broker.heartbeat.interval.ms": 500,
            "broker.session.timeout.ms": 3000,
            "controller.quorum.election.timeout.ms": 1000,
            "controller.quorum.fetch.timeout.ms": 2000,
            "replica.lag.time.max.ms": 5000,
            "unclean.leader.election.enable": "false",
        }
        return "".join(f"{name}={value}\n" for name, value in settings.items())

    def prepare(self) -> None:
        """Write each node's configuration and format its log directory if it never was."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        passwords = self.passwords()
        cluster_id = self.cluster_id()
        write_private(self.directory / "listeners.json", json.dumps({"port": self.port, "size": self.size}) + "\n")
        for node in self.nodes:
            config = self._config_path(node)
            write_private(config, self.properties(node, passwords))
            if not (self.directory / f"node-{node.node_id}" / "meta.properties").exists():
                self._format(node, config, cluster_id, passwords[ADMIN])

    def argv(self, node: Node) -> list[str]:
        home = kafka_home()
        return [java(), *JVM_OPTIONS, f"-Dlog4j2.configurationFile={home / 'log4j2.properties'}",
                "-cp", f"{home / 'lib'}/*", "kafka.Kafka", str(self._config_path(node))]

    def _config_path(self, node: Node) -> Path:
        return self.directory / f"node-{node.node_id}.properties"

    def _format(self, node: Node, config: Path, cluster_id: str, admin_password: str) -> None:
        home = kafka_home()
        result = subprocess.run(
            [java(), "-cp", f"{home / 'lib'}/*", f"-Dlog4j2.configurationFile={home / 'log4j2.properties'}",
             # `--cluster-id=ID`, not `-t ID`: an id may start with "-", which the parser takes for an option.
             "kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}", "-c", str(config),
             "--add-scram", f"{MECHANISM}=[name={ADMIN},password={admin_password}]"],
            capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0:
            raise BrokerError(f"formatting Kafka node {node.node_id} failed: "
                              f"{(result.stderr or result.stdout).strip().splitlines()[-1:]}")

    def security(self, role: str) -> KafkaSecurity:
        if role not in roles.ROLES:
            raise BrokerError(f"unknown role {role!r}; one of {', '.join(roles.ROLES)}")
        return KafkaSecurity("SASL_PLAINTEXT", MECHANISM, role, self.passwords()[role])

    def environment(self, role: str) -> dict[str, str]:
        """What a process of `role` needs to reach this broker (contract section 9's variables)."""
        return {"CENTINELA_KAFKA": self.bootstrap, **self.security(role).environment()}

    def provision(self, partitions: int, timeout_s: float = 60.0) -> None:
        """Each role's SCRAM user and ACLs, and the topics; idempotent, run each time a node is ready."""
        from kafka.admin import ScramMechanism, UserScramCredentialUpsertion

        admin = admin_client(self.bootstrap, self.security(ADMIN), timeout_s)
        try:
            passwords = self.passwords()
            errors = admin.alter_user_scram_credentials([
                UserScramCredentialUpsertion(name, ScramMechanism.SCRAM_SHA_512, passwords[name],
                                             iterations=SCRAM_ITERATIONS)
                for name in roles.ROLES if name != ADMIN])
            if failed := {name: error for name, error in errors.items() if error}:
                raise BrokerError(f"cannot create the roles' users: {failed}")
            admin.create_acls(roles.kafka_acls(topics.prefix()))
            create_topics(admin, partitions, self.replication, self.min_insync)
        finally:
            admin.close()


def write_private(path: Path, text: str) -> None:
    """Write `path` for its owner alone, atomically: a crash leaves the old file or the new one."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)


def _jaas(module: str, username: str, password: str, extra: str = "") -> str:
    return (f"org.apache.kafka.common.security.{module} required "
            f'username="{username}" password="{password}"{" " + extra if extra else ""};')


def _random_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes in URL-safe base64 without padding (as StorageTool makes them)."""
    import base64

    return base64.urlsafe_b64encode(secrets.token_bytes(16)).decode("ascii").rstrip("=")


def admin_client(bootstrap: str, security: KafkaSecurity, timeout_s: float) -> Any:
    """A Kafka admin client, once the broker answers (within `timeout_s`)."""
    from kafka.admin import KafkaAdminClient
    from kafka.errors import KafkaError

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return KafkaAdminClient(bootstrap_servers=bootstrap, client_id="centinela-setup",
                                    request_timeout_ms=10000, **security.client())
        except KafkaError as error:
            if time.monotonic() > deadline:
                raise BrokerError(f"Kafka at {bootstrap} does not answer: {error}") from None
            time.sleep(0.3)


def create_topics(admin: Any, partitions: int, replication: int = 1, min_insync: int = 1) -> None:
    """The contract's and our internal topics; existing ones are left as they are."""
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    existing = set(admin.list_topics())
    wanted = [NewTopic(name=topics.named(name), num_partitions=partitions, replication_factor=replication,
                       topic_configs={"min.insync.replicas": str(min_insync)})
              for name in topics.ALL if topics.named(name) not in existing]
    if wanted:
        try:
            admin.create_topics(wanted)
        except TopicAlreadyExistsError:
            pass
