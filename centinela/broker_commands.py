"""`centinela broker` and `centinela credentials`: the embedded Apache Kafka alone, and its clients' settings."""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path

from centinela.commands import DEFAULT_KAFKA_PORT, own_data
from vocabulary.errors import UsageError


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    broker = sub.add_parser("broker", help="run the embedded broker alone (Apache Kafka, as `up` runs it)")
    broker.add_argument("--data", default=".centinela", help="where the broker keeps its log and credentials")
    broker.add_argument("--broker-port", type=int, default=DEFAULT_KAFKA_PORT, help="the first node's client port")
    broker.add_argument("--brokers", type=int, default=1, choices=(1, 3), help="embedded Kafka nodes (3: a cluster)")
    broker.add_argument("--partitions", type=int, default=4, help="partitions per topic when it creates them")
    broker.set_defaults(run=run_broker)

    credentials = sub.add_parser("credentials", help="the embedded broker's client settings for a role, as JSON")
    credentials.add_argument("role", help="device, camera, receiver, worker, center, history, partners or admin")
    credentials.add_argument("--data", default=".centinela", help="the data directory `up` or `broker` used")
    credentials.add_argument("--env", action="store_true", help="as CENTINELA_KAFKA... lines for a shell")
    credentials.set_defaults(run=run_credentials)


def run_broker(args: argparse.Namespace) -> int:
    """The embedded broker alone, supervised as `up` supervises it; its address once it accepts clients."""
    from deploy.stack import Stack
    from deploy.supervisor import Supervisor

    data = own_data(Path(args.data))
    stack = Stack(partitions=args.partitions, brokers=args.brokers, workdir=data, redis_url="unused")
    nodes = stack.supervised(kafka_port=args.broker_port, redis_port=0)
    supervisor = Supervisor()
    try:
        for node in nodes:
            supervisor.start(node)
        supervisor.wait_until_running(timeout_s=120)
        print(stack.kafka, flush=True)
        return supervisor.run_until_signal()
    finally:
        supervisor.stop()


def run_credentials(args: argparse.Namespace) -> int:
    from deploy.broker import BrokerError, Cluster
    from deploy.roles import ROLES

    if args.role not in ROLES:
        raise UsageError(f"unknown role {args.role!r}; one of {', '.join(ROLES)}")
    data = Path(args.data).resolve()
    try:
        cluster = Cluster.used(data)
    except BrokerError as error:
        raise UsageError(str(error)) from None
    if args.env:
        for name, value in cluster.environment(args.role).items():
            print(f"{name}={shlex.quote(value)}")
        return 0
    security = cluster.security(args.role)
    print(json.dumps({"bootstrap": cluster.bootstrap, "security_protocol": security.protocol,
                      "sasl_mechanism": security.mechanism, "username": security.username,
                      "password": security.password}))
    return 0
