"""Every mapping of contract section 16, on documents checked against the OASIS CAP 1.2 schema."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from alert_rules.city import Zone
from alert_rules.partners import CapSettings, Partner
from partners.cap import NAMESPACE, Sent, build, message_type, sent_time
from tests.cap_checks import checked, field, schema
from vocabulary.events import Alert

SETTINGS = CapSettings(sender="cot@tigre.gob.ar", language="es")
ZONE = Zone(id="tigre-centro", name="Tigre Centro", timezone="America/Argentina/Buenos_Aires",
            polygon=[[-58.60, -34.44], [-58.56, -34.44], [-58.55, -34.425]])
FIREFIGHTERS = Partner(id="bomberos", name="Bomberos", url="https://bomberos.example/cap", key="ab" * 16,
                       token="bomberos-feed-token", categories=["fire", "medical", "panic"], max_priority=3)
OPENED = datetime(2026, 12, 7, 1, 2, 3, 456000, tzinfo=UTC)


def alert(**changes: Any) -> Alert:
    fields: dict[str, Any] = {
        "alert_id": "a-1", "zone_id": "tigre-centro", "priority": 1, "category": "panic", "title": "Panic: bpr-0001",
        "status": "open", "opened_at": OPENED, "updated_at": OPENED, "source": {"kind": "beeper", "id": "bpr-0001"},
        "count": 1, "event_ids": ["e-1"], "location": {"lat": -34.4251, "lon": -58.5797, "accuracy_m": 120.0},
        "rule": "panic-beep", "version": 1,
        # What the alert holds that must never reach a partner (tests.cap_checks.PRIVATE):
        "note": "called +54 11 5555 0101, passcode girasol", "responder": "Móvil 7",
        "steps": [{"step": "call", "outcome": "done", "by": "Ana", "at": OPENED, "note": "Rosa (82), lives alone"}],
    }
    fields.update(changes)
    return Alert.model_validate(fields, strict=False)


def document(a: Alert, previous: Sent | None = None, partner: Partner = FIREFIGHTERS,
             zone: Zone | None = ZONE) -> tuple[etree._Element, Sent]:
    message = build(a, partner, SETTINGS, zone, previous)
    assert message is not None
    return checked(message.document), message.sent


def parameters(root: etree._Element) -> dict[str, str | None]:
    found = root.findall(f"{{{NAMESPACE}}}info/{{{NAMESPACE}}}parameter")
    return {p[0].text or "": p[1].text for p in found}


def test_the_schema_shipped_is_oasis_cap_1_2_and_refuses_what_cap_forbids() -> None:
    root, _ = document(alert())
    broken = etree.fromstring(etree.tostring(root))
    broken.find(f"{{{NAMESPACE}}}sent").text = "2026-12-07T01:02:03Z"  # type: ignore[union-attr]
    assert not schema().validate(broken), "CAP forbids a Z offset: the schema must refuse it"


def test_first_message_maps_every_field_of_section_16() -> None:
    root, sent = document(alert())
    assert field(root, "identifier") == "centinela.a-1.1"
    assert field(root, "sender") == "cot@tigre.gob.ar"
    assert field(root, "sent") == "2026-12-06T22:02:03-03:00"  # to the second, in the zone's offset
    assert field(root, "status") == "Actual"
    assert field(root, "msgType") == "Alert"
    assert field(root, "scope") == "Restricted"
    assert field(root, "restriction") == SETTINGS.restriction
    assert field(root, "references") is None
    assert field(root, "info/language") == "es"
    assert field(root, "info/category") == "Security"
    assert field(root, "info/event") == "Panic: bpr-0001"
    assert (field(root, "info/urgency"), field(root, "info/severity")) == ("Immediate", "Extreme")
    assert field(root, "info/certainty") == "Likely"
    assert parameters(root) == {"alert_id": "a-1", "priority": "1", "status": "open", "zone_id": "tigre-centro"}
    assert field(root, "info/area/areaDesc") == "Tigre Centro"
    assert field(root, "info/area/circle") == "-34.4251,-58.5797 0.12"
    assert field(root, "info/area/polygon") is None
    assert sent == Sent(sender="cot@tigre.gob.ar", identifier="centinela.a-1.1", sent="2026-12-06T22:02:03-03:00",
                        version=1, msg_type="Alert")


def test_utc_is_written_minus_zero_as_cap_requires() -> None:
    utc = ZONE.model_copy(update={"timezone": "UTC"})
    assert sent_time(alert(), utc) == "2026-12-07T01:02:03-00:00"
    assert sent_time(alert(), None) == "2026-12-07T01:02:03-00:00"
    east = ZONE.model_copy(update={"timezone": "Asia/Kolkata"})
    assert sent_time(alert(), east) == "2026-12-07T06:32:03+05:30"


@pytest.mark.parametrize(("category", "cap"), [
    ("panic", "Security"), ("duress", "Security"), ("intrusion", "Security"), ("motion", "Security"),
    ("tamper", "Security"), ("fire", "Fire"), ("medical", "Health"), ("welfare", "Health"),
    ("trouble", "Infra"), ("supervision", "Infra"),
])
def test_categories(category: str, cap: str) -> None:
    root, _ = document(alert(category=category))
    assert field(root, "info/category") == cap


@pytest.mark.parametrize(("priority", "urgency", "severity"), [
    (1, "Immediate", "Extreme"), (2, "Immediate", "Severe"), (3, "Expected", "Moderate"),
    (4, "Unknown", "Minor"), (5, "Unknown", "Minor"),
])
def test_urgency_and_severity_by_priority(priority: int, urgency: str, severity: str) -> None:
    root, _ = document(alert(priority=priority))
    assert (field(root, "info/urgency"), field(root, "info/severity")) == (urgency, severity)
    assert parameters(root)["priority"] == str(priority)


def test_a_lifecycle_references_each_previous_message_and_certainty_follows_the_operators() -> None:
    versions = [
        alert(version=1),
        alert(version=2, status="acknowledged", updated_at=OPENED + timedelta(seconds=5)),
        alert(version=3, status="dispatched", updated_at=OPENED + timedelta(seconds=9)),
        alert(version=4, status="resolved", disposition="real", updated_at=OPENED + timedelta(seconds=60)),
    ]
    previous: Sent | None = None
    seen = []
    for version in versions:
        root, sent = document(version, previous)
        expected = None if previous is None else f"{previous.sender},{previous.identifier},{previous.sent}"
        assert field(root, "references") == expected
        seen.append((field(root, "msgType"), field(root, "info/certainty"), parameters(root)["status"]))
        previous = sent
    assert seen == [("Alert", "Likely", "open"), ("Update", "Observed", "acknowledged"),
                    ("Update", "Observed", "dispatched"), ("Update", "Observed", "resolved")]


@pytest.mark.parametrize(("disposition", "status"), [("false_alarm", "Actual"), ("test", "Test")])
def test_a_false_alarm_or_a_test_is_a_cancel(disposition: str, status: str) -> None:
    _, first = document(alert(category="fire", title="Fire (110): panel acct-1001, zone 3"))
    root, _ = document(alert(category="fire", version=2, status="resolved", disposition=disposition), first)
    assert field(root, "msgType") == "Cancel"
    assert field(root, "status") == status
    assert field(root, "info/certainty") == "Unlikely"
    assert field(root, "references") == f"cot@tigre.gob.ar,centinela.a-1.1,{first.sent}"


def test_a_resolved_real_alert_is_observed_even_unacknowledged() -> None:
    _, first = document(alert())
    root, _ = document(alert(version=2, status="resolved", disposition="real"), first)
    assert (field(root, "msgType"), field(root, "info/certainty")) == ("Update", "Observed")


def test_nothing_to_say_for_old_versions_or_a_cancel_of_an_unknown_alert() -> None:
    _, second = document(alert(version=2))
    assert message_type(alert(version=2), second) is None
    assert message_type(alert(version=1), second) is None
    assert message_type(alert(status="resolved", disposition="false_alarm"), None) is None
    assert build(alert(status="resolved", disposition="test"), FIREFIGHTERS, SETTINGS, ZONE, None) is None


def test_without_a_location_the_area_is_the_zone_polygon_in_lat_lon_order_closed() -> None:
    root, _ = document(alert(location=None))
    assert field(root, "info/area/circle") is None
    assert field(root, "info/area/polygon") == "-34.44,-58.6 -34.44,-58.56 -34.425,-58.55 -34.44,-58.6"
    closed = ZONE.model_copy(update={"polygon": [*ZONE.polygon, ZONE.polygon[0]]})
    root, _ = document(alert(location=None), zone=closed)
    assert field(root, "info/area/polygon") == "-34.44,-58.6 -34.44,-58.56 -34.425,-58.55 -34.44,-58.6"


def test_the_radius_is_the_accuracy_and_at_least_50_metres() -> None:
    for accuracy, radius in ((None, "0.05"), (8.0, "0.05"), (50.0, "0.05"), (1234.5, "1.235")):
        root, _ = document(alert(location={"lat": -34.4, "lon": -58.5, "accuracy_m": accuracy}))
        assert field(root, "info/area/circle") == f"-34.4,-58.5 {radius}"


def test_the_address_only_with_include_address() -> None:
    with_address = alert(address="Av. Cazón 1234, Tigre", category="fire")
    root, _ = document(with_address)
    assert field(root, "info/area/areaDesc") == "Tigre Centro"
    assert b"Cazon" not in etree.tostring(root) and "Cazón" not in etree.tostring(root, encoding="unicode")
    sharing = FIREFIGHTERS.model_copy(update={"include_address": True})
    root, _ = document(with_address, partner=sharing)
    assert field(root, "info/area/areaDesc") == "Tigre Centro: Av. Cazón 1234, Tigre"


def test_an_unknown_zone_is_named_by_its_id_and_the_area_has_no_shape_without_a_location() -> None:
    root, _ = document(alert(location=None, zone_id="gone"), zone=None)
    assert field(root, "info/area/areaDesc") == "gone"
    assert field(root, "info/area/polygon") is None and field(root, "info/area/circle") is None


def test_text_is_escaped_by_the_xml_library() -> None:
    root, _ = document(alert(title='Fire <"&"> at "B" & C'))
    assert field(root, "info/event") == 'Fire <"&"> at "B" & C'


categories = st.sampled_from(["panic", "duress", "medical", "fire", "intrusion", "motion", "tamper", "trouble",
                              "supervision", "welfare"])
locations = st.none() | st.fixed_dictionaries({
    "lat": st.floats(-90, 90), "lon": st.floats(-180, 180),
    "accuracy_m": st.none() | st.floats(0, 1e6)})


@settings(max_examples=150, deadline=None)
@given(category=categories, priority=st.integers(1, 5), location=locations,
       status=st.sampled_from(["open", "acknowledged", "dispatched", "resolved"]),
       disposition=st.sampled_from([None, "real", "false_alarm", "test"]),
       title=st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=80),
       seconds=st.integers(0, 10**9), sender=st.sampled_from(["cot@tigre.gob.ar", "centinela"]))
def test_any_alert_gives_a_valid_document(category: str, priority: int, location: dict[str, float] | None,
                                          status: str, disposition: str | None, title: str, seconds: int,
                                          sender: str) -> None:
    at = datetime(1990, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
    snapshot = alert(category=category, priority=priority, location=location, status=status, title=title,
                     disposition=disposition if status == "resolved" else None, updated_at=at, version=2)
    first = Sent(sender=sender, identifier="centinela.a-1.1", sent="2026-12-06T22:02:03-03:00", version=1,
                 msg_type="Alert")
    message = build(snapshot, FIREFIGHTERS, CapSettings(sender=sender), ZONE, first)
    assert message is not None
    root = checked(message.document)
    assert field(root, "msgType") == ("Cancel" if status == "resolved" and disposition in ("false_alarm", "test")
                                      else "Update")
