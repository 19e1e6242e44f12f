"""Partner agencies on the real stack (contract section 16): Kafka, Redis, the worker, the center,
`centinela partners` as a process, and each agency a real HTTP endpoint that checks every signature.

Other tests' alerts share the topic: every check here picks this test's own messages by their
source (the beeper and the panel below exist only in this city).
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from deploy.stack import Stack
from tests.cap_checks import checked, field
from tests.integration.alerts import beep, signal
from tests.integration.center_support import center_with_worker, make_alert, wait_until
from tests.integration.support import Producer
from tests.partner_receiver import PartnerEndpoint, partner_endpoint

pytestmark = pytest.mark.integration

OPERATOR = "cap-operator-secret"
POLICE_KEY, FIRE_KEY = "a1" * 32, "f1" * 32
BEEPER, PANEL = "bpr-cap-1", "acct-cap-1"
INSIDE = {"lat": -34.425, "lon": -58.58, "accuracy_m": 20}


def city(police: str, firefighters: str) -> str:
    return f"""
zones:
  - {{id: cap-zone, name: Delta Norte, timezone: America/Argentina/Buenos_Aires,
     polygon: [[-58.585, -34.43], [-58.57, -34.43], [-58.57, -34.42], [-58.585, -34.42]]}}
beepers:
  - {{id: {BEEPER}, home_zone: cap-zone}}
panels:
  - id: {PANEL}
    zone: cap-zone
    address: "Av. Cazón 1234, Tigre"
    location: {{lat: -34.4251, lon: -58.5797}}
    occupants: "Rosa (82), lives alone"
    contacts: [{{name: Laura, relation: daughter, phone: "+54 11 5559 0909"}}]
    passcode: jacaranda
    instructions: "Gate code 4512. Dog in the yard."
tokens:
  - {{token: {OPERATOR}, role: operator, name: Operadora CAP}}
cap: {{sender: cot@tigre.gob.ar, language: es, retry_first_s: 0.2, retry_max_s: 1}}
partners:
  - {{id: cap-policia, name: Policía, url: "{police}", key: "{POLICE_KEY}", token: cap-policia-feed-token,
     categories: [panic], max_priority: 1}}
  - {{id: cap-bomberos, name: Bomberos, url: "{firefighters}", key: "{FIRE_KEY}", token: cap-bomberos-feed-token,
     categories: [fire], max_priority: 2, include_address: true}}
"""


@contextmanager
def partners_process(stack: Stack, config: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    # As `up` runs it: the broker's `partners` principal, whose ACLs allow reading alerts in its group, no more.
    env = {**os.environ, **stack.environment("partners"), "CENTINELA_REDIS": stack.redis_url}
    with log.open("ab") as out:
        process = subprocess.Popen([sys.executable, "-m", "centinela", "partners", "--config", str(config)],
                                   env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        process.terminate()
        process.wait(15)


@pytest.fixture(scope="module")
def agencies() -> Iterator[tuple[PartnerEndpoint, PartnerEndpoint]]:
    # The police answer 500 to this test's first three POSTs, then 200.
    with partner_endpoint(POLICE_KEY, answers=[500, 500, 500], only=BEEPER.encode()) as police, \
            partner_endpoint(FIRE_KEY) as firefighters:
        yield police, firefighters


@pytest.fixture(scope="module")
def running(stack: Stack, agencies: tuple[PartnerEndpoint, PartnerEndpoint],
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    directory = tmp_path_factory.mktemp("cap-city")
    (directory / "city.yaml").write_text(city(agencies[0].url, agencies[1].url))
    with center_with_worker(stack, directory, directory / "worker.log") as center, \
            partners_process(stack, directory, directory / "partners.log") as process:
        yield center, process


def mine(endpoint: PartnerEndpoint, source: str) -> list[etree._Element]:
    """The documents about this test's source that the endpoint accepted, in order; every POST it
    got (this test's or not) carried a valid signature."""
    assert all(r.signed for r in endpoint.received), "a POST without a valid signature"
    return [checked(r.body) for r in endpoint.delivered() if source.encode() in r.body]


def act(center: Any, alert_id: str, action: str, body: dict[str, str] | None = None) -> None:
    with center.client(OPERATOR) as operator:
        answer = operator.post(f"/api/alerts/{alert_id}/{action}", json=body)
        assert answer.status_code == 200, answer.text


def opened_by(center: Any, source: str) -> str:
    with center.client(OPERATOR) as operator:
        def found() -> str | None:
            alerts = operator.get("/api/alerts", params={"zone": "cap-zone"}).json()["alerts"]
            return next((a["alert_id"] for a in alerts if a["source"]["id"] == source), None)

        return wait_until(found, timeout=30)  # type: ignore[no-any-return]


def assert_chain(documents: list[etree._Element]) -> None:
    assert field(documents[0], "references") is None
    for before, after in itertools.pairwise(documents):
        named = ",".join(field(before, part) or "" for part in ("sender", "identifier", "sent"))
        assert field(after, "references") == named


def test_a_panic_acknowledged_dispatched_resolved_is_alert_then_three_updates_despite_three_500s(
        running: Any, stack: Stack, agencies: tuple[PartnerEndpoint, PartnerEndpoint]) -> None:
    center, _ = running
    police, _ = agencies
    producer = Producer(stack)
    producer.send("devices.beeps", BEEPER, beep(BEEPER, location=INSIDE))
    producer.close()
    alert_id = opened_by(center, BEEPER)
    wait_until(lambda: len(mine(police, BEEPER)) >= 1, timeout=30)
    act(center, alert_id, "ack")
    act(center, alert_id, "dispatch", {"responder": "Móvil 7"})
    act(center, alert_id, "resolve", {"disposition": "real", "note": "llamó a +54 11 5559 0909"})
    documents = wait_until(lambda: four if len(four := mine(police, BEEPER)) >= 4 else None, timeout=30)
    assert [field(d, "msgType") for d in documents] == ["Alert", "Update", "Update", "Update"]
    assert [field(d, "info/certainty") for d in documents] == ["Likely", "Observed", "Observed", "Observed"]
    assert len({field(d, "identifier") for d in documents}) == 4
    assert_chain(documents)
    assert field(documents[0], "info/area/circle") == "-34.425,-58.58 0.05"
    ours = [r for r in police.received if BEEPER.encode() in r.body]
    assert [r.answered for r in ours][:4] == [500, 500, 500, 200], "the first message was retried until taken"
    assert ours[0].body == ours[3].body


def test_a_fire_resolved_as_false_alarm_ends_with_a_cancel(
        running: Any, stack: Stack, agencies: tuple[PartnerEndpoint, PartnerEndpoint]) -> None:
    center, _ = running
    _, firefighters = agencies
    producer = Producer(stack)
    producer.send("devices.alarms", PANEL, signal(PANEL, 110))
    producer.close()
    alert_id = opened_by(center, PANEL)
    wait_until(lambda: len(mine(firefighters, PANEL)) >= 1, timeout=30)
    act(center, alert_id, "ack")
    act(center, alert_id, "resolve", {"disposition": "false_alarm", "note": "passcode jacaranda dado"})
    documents = wait_until(lambda: got if (got := mine(firefighters, PANEL)) and field(got[-1], "msgType") == "Cancel"
                           else None, timeout=30)
    assert [field(d, "msgType") for d in documents] == ["Alert", "Update", "Cancel"]
    assert field(documents[-1], "info/certainty") == "Unlikely"
    assert field(documents[0], "info/category") == "Fire"
    assert field(documents[0], "info/area/areaDesc") == "Delta Norte: Av. Cazón 1234, Tigre"
    assert_chain(documents)
    with center.client() as anyone:
        feed = anyone.get("/cap/cap-bomberos/feed", headers={"Authorization": "Bearer cap-bomberos-feed-token"})
    assert feed.status_code == 200
    assert PANEL.encode() in feed.content


def test_healthz_has_each_partner(running: Any) -> None:
    center, _ = running
    with center.client() as anyone:
        def reported() -> dict[str, Any] | None:
            components = anyone.get("/healthz").json()["components"]
            both = {name: components.get(f"partner:{name}") for name in ("cap-policia", "cap-bomberos")}
            return both if all(c and c["detail"].startswith("delivering") for c in both.values()) else None

        assert wait_until(reported, timeout=20)


def test_a_forged_alert_reaches_no_partner_and_is_counted(
        running: Any, stack: Stack, agencies: tuple[PartnerEndpoint, PartnerEndpoint]) -> None:
    center, _ = running
    police, _ = agencies
    forged = make_alert(zone="cap-zone", category="panic").model_copy(update={"title": "Panic: forged-cap"})
    producer = Producer(stack)
    producer.send("alerts", "cap-zone", forged.model_dump_json().encode())  # no MAC: not Centinela's
    producer.send("devices.beeps", BEEPER, beep(BEEPER, location=INSIDE))  # after it on the topic: a marker
    producer.close()
    wait_until(lambda: any(field(d, "msgType") == "Alert" for d in mine(police, BEEPER)[4:]), timeout=30)
    assert not any(b"forged-cap" in r.body for r in police.received)
    with center.client() as anyone:
        def counted() -> bool:
            lines = anyone.get("/metrics").text.splitlines()
            return any(line.startswith("centinela_partners_forged_messages_total ") and float(line.split()[-1]) >= 1
                       for line in lines)

        assert wait_until(counted, timeout=10)
