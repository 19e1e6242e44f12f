"""The cluster manifests (deploy/kubernetes/, deploy/compose.yaml): valid, offline, and in step with the code.

Kubernetes' own objects are checked against Kubernetes' JSON schemas (kubernetes-validate, strict: an
unknown field is an error); Strimzi's custom resources against the schemas of Strimzi's CRDs, and the
compose file against the Compose Specification's schema (tests/unit/schemas/README.md says where
they come from). The roles, their ACLs and the topics must be deploy/roles.py's and vocabulary/topics.py's.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from centinela.cli import build_parser
from centinela.config import load_config
from deploy import manifests, roles
from vocabulary import topics

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"
SCHEMAS = Path(__file__).resolve().parent / "schemas"
# The oldest Kubernetes still commonly run by cities' providers, and the newest kubernetes-validate knows.
VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
STRIMZI = "kafka.strimzi.io/"
NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")  # a DNS-1123 subdomain
# Each Deployment's process (its component label) and the role it logs in to Kafka as.
PROCESSES = {"worker": "worker", "center": "center", "receiver": "receiver", "history": "history",
             "partners": "partners"}


def manifest_files() -> list[Path]:
    return sorted(p for p in KUBERNETES.glob("*.yaml") if p.name != "kustomization.yaml")


def load_documents() -> list[dict[str, Any]]:
    return [document for path in manifest_files()
            for document in yaml.safe_load_all(path.read_text(encoding="utf-8")) if document]


DOCUMENTS = load_documents()


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [d for d in DOCUMENTS if d["kind"] == kind]


def strict(schema: Any) -> Any:
    """The CRD schema as the API server applies it with strict field validation: no unknown fields."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    found = {key: strict(value) for key, value in schema.items()}
    if ("properties" in found and "additionalProperties" not in found
            and not found.get("x-kubernetes-preserve-unknown-fields")):
        found["additionalProperties"] = False
    return found


CRDS = {kind: {"apiVersion": crd["apiVersion"], "schema": strict(crd["schema"])}
        for kind, crd in json.loads((SCHEMAS / "strimzi-crds.json").read_text(encoding="utf-8")).items()
        if not kind.startswith("_")}


def check_custom_resource(document: dict[str, Any]) -> None:
    crd = CRDS[document["kind"]]
    assert document["apiVersion"] == crd["apiVersion"], f"{document['kind']}: Strimzi 1.x serves {crd['apiVersion']}"
    jsonschema.Draft7Validator(crd["schema"]).validate(document)


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in container.get("env", [])}


def deployments() -> dict[str, dict[str, Any]]:
    """Each Deployment by its component label."""
    return {d["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]: d
            for d in of_kind("Deployment")}


def test_generated_files_are_what_the_roles_and_topics_make() -> None:
    assert manifests.stale() == [], "run `python -m deploy.manifests` and commit what it writes"


@pytest.mark.parametrize("version", VERSIONS)
def test_kubernetes_objects_validate_against_kubernetes_schemas(version: str) -> None:
    core = [d for d in DOCUMENTS if not d["apiVersion"].startswith(STRIMZI)]
    assert {d["kind"] for d in core} >= {"Namespace", "ConfigMap", "Deployment", "Service",
                                         "PodDisruptionBudget", "NetworkPolicy"}
    for document in core:
        kubernetes_validate.validate(document, version, strict=True)


def test_strimzi_resources_validate_against_strimzis_crds() -> None:
    custom = [d for d in DOCUMENTS if d["apiVersion"].startswith(STRIMZI)]
    assert {d["kind"] for d in custom} == {"Kafka", "KafkaNodePool", "KafkaUser", "KafkaTopic"}
    for document in custom:
        check_custom_resource(document)


def test_the_checks_reject_a_misspelled_field() -> None:
    deployment = copy.deepcopy(deployments()["worker"])
    deployment["spec"]["replica"] = deployment["spec"].pop("replicas")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, VERSIONS[-1], strict=True)
    user = copy.deepcopy(of_kind("KafkaUser")[0])
    user["spec"]["authorization"]["acls"][0]["operation"] = "Write"  # v1beta2's field, gone in v1
    with pytest.raises(jsonschema.ValidationError):
        check_custom_resource(user)
    topic = copy.deepcopy(of_kind("KafkaTopic")[0])
    topic["spec"]["partitions"] = 0
    with pytest.raises(jsonschema.ValidationError):
        check_custom_resource(topic)


def test_every_object_is_named_for_kubernetes_in_the_namespace() -> None:
    for document in DOCUMENTS:
        name = document["metadata"]["name"]
        assert NAME.match(name) and len(name) <= 253, name
        if document["kind"] != "Namespace":
            assert document["metadata"]["namespace"] == manifests.NAMESPACE, name


def test_kustomization_applies_every_manifest() -> None:
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text(encoding="utf-8"))
    assert sorted(kustomization["resources"]) == sorted(p.name for p in manifest_files())


def test_kafka_is_three_kraft_nodes_with_scram_over_tls_and_acls() -> None:
    [kafka] = of_kind("Kafka")
    [pool] = of_kind("KafkaNodePool")
    assert pool["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"] == manifests.CLUSTER
    assert pool["spec"]["replicas"] == 3 and sorted(pool["spec"]["roles"]) == ["broker", "controller"]
    [listener] = kafka["spec"]["kafka"]["listeners"]
    assert listener["tls"] is True and listener["authentication"]["type"] == "scram-sha-512"
    authorization = kafka["spec"]["kafka"]["authorization"]
    assert authorization == {"type": "simple", "superUsers": [manifests.user_name(roles.ADMIN)]}
    config = kafka["spec"]["kafka"]["config"]
    assert config["default.replication.factor"] == manifests.REPLICAS == 3
    assert config["min.insync.replicas"] == manifests.MIN_INSYNC == 2
    assert config["num.partitions"] == manifests.PARTITIONS
    assert config["auto.create.topics.enable"] is False


def test_each_role_has_a_kafka_user_with_the_grants_of_deploy_roles() -> None:
    users = {u["metadata"]["name"]: u for u in of_kind("KafkaUser")}
    assert sorted(users) == sorted(manifests.user_name(role) for role in roles.ROLES)
    for role in roles.ROLES:
        spec = users[manifests.user_name(role)]["spec"]
        assert spec["authentication"] == {"type": "scram-sha-512"}
        found = {(acl["resource"]["type"], acl["resource"]["name"], acl["resource"]["patternType"], operation)
                 for acl in spec.get("authorization", {}).get("acls", []) for operation in acl["operations"]}
        wanted = {(g.resource, g.name, "prefix" if g.pattern == "prefixed" else "literal",
                   manifests.strimzi_operation(operation))
                  for g in roles.GRANTS[role] for operation in g.operations}
        assert found == wanted, role
    # Nothing outside Centinela's topics and groups, and no device-side role near the internal topics.
    names = {g.name for grants in roles.GRANTS.values() for g in grants}
    assert names <= {*topics.ALL, roles.APPS, roles.APPS + "history", roles.APPS + "partners"}
    for role in ("device", "camera", "receiver"):
        assert {(g.resource, g.name) for g in roles.GRANTS[role]} <= {("topic", t) for t in topics.INPUTS}
        assert {o for g in roles.GRANTS[role] for o in g.operations} == {"WRITE"}


def test_topics_are_the_codes_with_the_projects_partitions() -> None:
    found = {t["spec"]["topicName"]: t["spec"] for t in of_kind("KafkaTopic")}
    assert sorted(found) == sorted(topics.ALL)
    up_partitions = build_parser().parse_args(["up"]).partitions
    for spec in found.values():
        assert spec["partitions"] == manifests.PARTITIONS == up_partitions
        assert spec["replicas"] == 3 and spec["config"]["min.insync.replicas"] == 2


def test_each_process_logs_in_as_its_role_with_its_secrets() -> None:
    found = deployments()
    assert sorted(found) == sorted(PROCESSES)
    for component, deployment in found.items():
        pod = deployment["spec"]["template"]["spec"]
        [container] = pod["containers"]
        assert container["args"] == [component]
        env = env_of(container)
        user = manifests.user_name(PROCESSES[component])
        assert env["CENTINELA_KAFKA_USERNAME"]["value"] == user
        assert env["CENTINELA_KAFKA_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": user, "key": "password"}
        assert env["CENTINELA_KAFKA"]["value"] == f"{manifests.CLUSTER}-kafka-bootstrap:9093"
        assert env["CENTINELA_KAFKA_SECURITY"]["value"] == "SASL_SSL"
        assert env["CENTINELA_KAFKA_SASL_MECHANISM"]["value"] == "SCRAM-SHA-512"
        for name in ("CENTINELA_INTERNAL_KEY", "CENTINELA_REDIS", "CENTINELA_POSTGRES"):
            if name in env:
                assert "value" not in env[name], f"{component}: {name} must come from a Secret"
        # The cluster CA that Strimzi generates, mounted where CENTINELA_KAFKA_CA points.
        volumes = {v["name"]: v for v in pod["volumes"]}
        ca = Path(env["CENTINELA_KAFKA_CA"]["value"])
        [mount] = [m for m in container["volumeMounts"] if m["mountPath"] == str(ca.parent)]
        assert volumes[mount["name"]]["secret"]["secretName"] == f"{manifests.CLUSTER}-cluster-ca-cert"
        [config] = [m for m in container["volumeMounts"] if m["mountPath"] == env["CENTINELA_CONFIG"]["value"]]
        sources = volumes[config["name"]]["projected"]["sources"]
        assert {"configMap", "secret"} == {key for source in sources for key in source}
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
        assert container["resources"]["requests"]["memory"] and container["resources"]["limits"]["memory"]
    assert "CENTINELA_INTERNAL_KEY" in env_of(found["worker"]["spec"]["template"]["spec"]["containers"][0])
    assert "CENTINELA_POSTGRES" in env_of(found["history"]["spec"]["template"]["spec"]["containers"][0])


def test_the_center_starts_on_healthz() -> None:
    [container] = deployments()["center"]["spec"]["template"]["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["http"] == 8080 and env_of(container)["CENTINELA_HTTP"]["value"] == "0.0.0.0:8080"
    assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}


def test_only_the_receivers_device_ports_are_open_to_the_outside() -> None:
    [container] = deployments()["receiver"]["spec"]["template"]["spec"]["containers"]
    env = env_of(container)
    device_ports = {(9020, "TCP"), (9020, "UDP"), (8090, "TCP")}
    assert {env["CENTINELA_DC09"]["value"], env["CENTINELA_INGEST"]["value"]} == {"0.0.0.0:9020", "0.0.0.0:8090"}
    assert {(p["containerPort"], p["protocol"]) for p in container["ports"]} == device_ports
    [service] = [s for s in of_kind("Service") if s["spec"].get("type") == "LoadBalancer"]
    assert service["spec"]["selector"] == {"app.kubernetes.io/name": "centinela-receiver"}
    assert {(p["port"], p["protocol"]) for p in service["spec"]["ports"]} == device_ports
    open_to_all, inside = [], []
    for policy in of_kind("NetworkPolicy"):
        for rule in policy["spec"]["ingress"]:
            (inside if rule.get("from") == [{"podSelector": {}}] else open_to_all).append((policy, rule))
    assert inside and all(p["spec"]["podSelector"]["matchLabels"] == {"app.kubernetes.io/part-of": "centinela"}
                          for p, _ in inside)
    [(policy, rule)] = open_to_all
    assert "from" not in rule and policy["spec"]["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/component": "receiver"}
    assert {(p["port"], p["protocol"]) for p in rule["ports"]} == device_ports
    for deployment in deployments().values():  # every pod is under the namespace-only policy
        assert deployment["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/part-of"] == "centinela"


def test_the_workers_disruption_budget_selects_the_workers() -> None:
    [budget] = of_kind("PodDisruptionBudget")
    labels = deployments()["worker"]["spec"]["template"]["metadata"]["labels"]
    assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert budget["spec"]["maxUnavailable"] == 1 < deployments()["worker"]["spec"]["replicas"]


def test_the_config_map_is_a_valid_configuration(tmp_path: Path) -> None:
    [config] = of_kind("ConfigMap")
    for name, text in config["data"].items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    (tmp_path / "tokens.yaml").write_text('tokens: [{token: "operator-token-1", role: operator, name: "Op"}]\n', encoding="utf-8")
    assert load_config(tmp_path).city.zones


COMPOSE = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text(encoding="utf-8"))


def test_the_compose_file_validates_against_the_compose_specification() -> None:
    schema = json.loads((SCHEMAS / "compose-spec.json").read_text(encoding="utf-8"))
    jsonschema.Draft7Validator(schema).validate(COMPOSE)
    broken = copy.deepcopy(COMPOSE)
    broken["services"]["worker"]["enviroment"] = {}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(schema).validate(broken)


def test_the_compose_file_names_the_same_roles_and_processes() -> None:
    services = COMPOSE["services"]
    assert services["kafka"]["image"].startswith("apache/kafka:")
    init = services["kafka-init"]
    assert f"./{manifests.COMPOSE_INIT}:/centinela/kafka-init.sh:ro" in init["volumes"]
    assert {name for name in init["environment"] if name.startswith("CENTINELA_PASSWORD_")} == {
        f"CENTINELA_PASSWORD_{role.upper()}" for role in roles.ROLES}
    processes = {name: s for name, s in services.items() if s.get("image", "").startswith("centinela:")}
    assert {name: s["command"] for name, s in processes.items()} == {
        component: [component] for component in PROCESSES}
    for name, service in processes.items():
        env = service["environment"]
        role = PROCESSES[name]
        assert env["CENTINELA_KAFKA_USERNAME"] == role and role in roles.ROLES
        assert env["CENTINELA_KAFKA_PASSWORD"] == f"${{CENTINELA_PASSWORD_{role.upper()}}}"
        assert env["CENTINELA_KAFKA_SECURITY"] == "SASL_PLAINTEXT"
        assert service["depends_on"]["kafka-init"] == {"condition": "service_completed_successfully"}
