"""Who may do what on the broker (contract section 11): one principal per role, least privilege.

The one source of the roles and their grants: the embedded broker's ACLs (deploy/broker.py)
and the cluster manifests (deploy/kubernetes/) are made from it. Topic and group names are
the contract's; each installation's CENTINELA_TOPIC_PREFIX is added where they are applied.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from vocabulary import topics

ROLES = ("device", "camera", "receiver", "worker", "center", "history", "partners", "admin")
ADMIN = "admin"  # a super user: no grants needed
APPS = "centinela-"  # the consumer groups (and Faust's own topics) of Centinela's processes start with it

Resource = Literal["topic", "group"]
Pattern = Literal["literal", "prefixed"]
Operation = Literal["READ", "WRITE", "CREATE", "DESCRIBE", "DESCRIBE_CONFIGS"]


@dataclass(frozen=True)
class Grant:
    resource: Resource
    name: str
    operations: tuple[Operation, ...]
    pattern: Pattern = "literal"


def _writes(*names: str) -> tuple[Grant, ...]:
    return tuple(Grant("topic", name, ("WRITE",)) for name in names)


def _reads(*names: str) -> tuple[Grant, ...]:
    return tuple(Grant("topic", name, ("READ",)) for name in names)


GRANTS: dict[str, tuple[Grant, ...]] = {
    # A gateway that publishes to Kafka itself; reads nothing.
    "device": _writes(topics.BEEPS, topics.ALARMS, topics.MOTION),
    "camera": _writes(topics.MOTION),
    "receiver": _writes(topics.BEEPS, topics.ALARMS),
    # The three lanes: admit the inputs, evaluate zone.events, publish alerts and rejections. Faust
    # declares the topics it uses and keeps its own under the apps' prefix.
    "worker": (
        *_reads(*topics.INPUTS, topics.ZONE_EVENTS),
        *_writes(topics.ZONE_EVENTS, topics.ALERTS, topics.REJECTED),
        *(Grant("topic", name, ("CREATE", "DESCRIBE_CONFIGS")) for name in topics.ALL),
        Grant("topic", APPS, ("READ", "WRITE", "CREATE", "DESCRIBE", "DESCRIBE_CONFIGS"), "prefixed"),
        Grant("group", APPS, ("READ",), "prefixed"),
    ),
    # Reads alerts into its views, sends operators' actions to evaluation, and watches the lanes'
    # progress (their inputs' ends and their groups' committed offsets) for /healthz.
    "center": (
        *_reads(topics.ALERTS),
        *_writes(topics.ZONE_EVENTS),
        *(Grant("topic", name, ("DESCRIBE",)) for name in (*topics.INPUTS, topics.ZONE_EVENTS)),
        Grant("group", APPS, ("DESCRIBE",), "prefixed"),
    ),
    "history": (*_reads(topics.ALERTS), Grant("group", APPS + "history", ("READ",))),
    "partners": (*_reads(topics.ALERTS), Grant("group", APPS + "partners", ("READ",))),
    ADMIN: (),
}


def kafka_acls(prefix: str) -> list[Any]:
    """Every role's grants as kafka-python ACLs (allow, any host), names under the topic prefix."""
    from kafka.admin import ACL, ACLOperation, ACLPermissionType, ACLResourcePatternType, ResourcePattern, ResourceType

    acls = []
    for role, grants in GRANTS.items():
        for grant in grants:
            pattern = ResourcePattern(ResourceType[grant.resource.upper()], prefix + grant.name,
                                      ACLResourcePatternType[grant.pattern.upper()])
            acls += [ACL(f"User:{role}", "*", ACLOperation[operation], ACLPermissionType.ALLOW, pattern)
                     for operation in grant.operations]
    return acls
