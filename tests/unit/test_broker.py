"""The embedded broker's configuration, without starting it: who may log in where, and the node layout."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from deploy.broker import BrokerError, Cluster, kafka_home
from deploy.roles import GRANTS, ROLES, kafka_acls


def properties(cluster: Cluster, node: int = 0) -> dict[str, str]:
    text = cluster.properties(cluster.nodes[node], cluster.passwords())
    return dict(line.split("=", 1) for line in text.splitlines())


def test_clients_must_log_in_with_scram_and_the_controllers_take_only_the_nodes(tmp_path: Path) -> None:
    found = properties(Cluster(tmp_path, 9092))
    assert found["listeners"] == "CLIENT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093"
    assert "PLAINTEXT" not in found["listener.security.protocol.map"].replace("SASL_PLAINTEXT", "")
    assert found["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert found["super.users"] == "User:admin;User:controller"
    assert found["authorizer.class.name"].endswith("StandardAuthorizer")
    assert "allow.everyone.if.no.acl.found" not in found, "Kafka's default (false) stands"


def test_three_nodes_take_consecutive_ports_and_replicate_every_topic_thrice(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, 9092, size=3)
    assert [(n.port, n.controller_port) for n in cluster.nodes] == [(9092, 9095), (9093, 9096), (9094, 9097)]
    assert cluster.bootstrap == "127.0.0.1:9092,127.0.0.1:9093,127.0.0.1:9094"
    found = properties(cluster, 2)
    assert found["node.id"] == "3"
    assert found["controller.quorum.voters"] == "1@127.0.0.1:9095,2@127.0.0.1:9096,3@127.0.0.1:9097"
    assert (found["default.replication.factor"], found["min.insync.replicas"]) == ("3", "2")


def test_passwords_are_made_once_and_kept_private(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, 9092)
    first = cluster.passwords()
    assert set(first) == {*ROLES, "controller"} and len(set(first.values())) == len(first)
    assert cluster.passwords() == first, "kept across starts"
    assert stat.S_IMODE((tmp_path / "kafka" / "credentials.json").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "kafka").stat().st_mode) == 0o700


def test_a_role_is_known_or_refused(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, 9092)
    assert cluster.environment("receiver")["CENTINELA_KAFKA_USERNAME"] == "receiver"
    with pytest.raises(BrokerError, match="unknown role"):
        cluster.security("janitor")
    with pytest.raises(BrokerError, match="no embedded broker"):
        Cluster.used(tmp_path)


def test_every_grant_becomes_acls_under_the_topic_prefix() -> None:
    acls = kafka_acls("city-")
    assert len(acls) == sum(len(g.operations) for grants in GRANTS.values() for g in grants)
    assert all(acl.resource_pattern.resource_name.startswith("city-") for acl in acls)
    assert not any(acl.principal == "User:admin" for acl in acls), "the admin is a super user"


def test_kafka_home_says_how_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CENTINELA_KAFKA_HOME", str(tmp_path))
    with pytest.raises(BrokerError, match="make setup"):
        kafka_home()
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "kafka_2.13-4.3.2.jar").touch()
    assert kafka_home() == tmp_path
