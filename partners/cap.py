"""An alert's snapshot as one OASIS CAP 1.2 `<alert>` for one partner (contract section 16). Pure.

Only what the contract maps goes in: the title, the zone, the location, the priority, the status
and (with `include_address`) the address. Nothing else of the alert (notes, steps, responders)
and nothing of the account (phones, passcode, occupants, instructions) is ever read here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from lxml import etree
from pydantic import BaseModel, ConfigDict

from alert_rules.city import Zone
from alert_rules.partners import CapSettings, Partner
from vocabulary.events import Alert

NAMESPACE = "urn:oasis:names:tc:emergency:cap:1.2"
MEDIA_TYPE = "application/cap+xml"
SCHEMA = Path(__file__).resolve().parent / "schema" / "CAP-v1.2.xsd"
MIN_RADIUS_M = 50.0

MsgType = Literal["Alert", "Update", "Cancel"]

CATEGORIES: dict[str, str] = {
    "panic": "Security", "duress": "Security", "intrusion": "Security", "motion": "Security", "tamper": "Security",
    "fire": "Fire",
    "medical": "Health", "welfare": "Health",
    "trouble": "Infra", "supervision": "Infra",
}
URGENCY = {1: "Immediate", 2: "Immediate", 3: "Expected", 4: "Unknown", 5: "Unknown"}
SEVERITY = {1: "Extreme", 2: "Severe", 3: "Moderate", 4: "Minor", 5: "Minor"}


class Sent(BaseModel):
    """What a later message's `references` names of one the partner was sent, and which version it was."""

    model_config = ConfigDict(frozen=True)

    sender: str
    identifier: str
    sent: str
    version: int
    msg_type: MsgType

    @property
    def reference(self) -> str:
        return f"{self.sender},{self.identifier},{self.sent}"


@dataclass(frozen=True)
class CapMessage:
    alert_id: str
    version: int
    msg_type: MsgType
    sent: Sent
    document: bytes


def cancels(alert: Alert) -> bool:
    return alert.status == "resolved" and alert.disposition in ("false_alarm", "test")


def message_type(alert: Alert, previous: Sent | None) -> MsgType | None:
    """Alert first, Update after, Cancel for a false alarm or a test; None when there is nothing to say:
    a version the partner already got (or an older one), or a cancel of an alert it never got."""
    if previous is not None and alert.version <= previous.version:
        return None
    if cancels(alert):
        return "Cancel" if previous is not None else None
    return "Alert" if previous is None else "Update"


def identifier(alert: Alert) -> str:
    return f"centinela.{alert.alert_id}.{alert.version}"


def sent_time(alert: Alert, zone: Zone | None) -> str:
    """`updated_at` to the second in the zone's offset; CAP allows no fraction and no `Z`, and writes UTC as -00:00."""
    local = alert.updated_at.astimezone(ZoneInfo(zone.timezone if zone else "UTC")).replace(microsecond=0)
    offset = local.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes > 0 else "-"
    return f"{local:%Y-%m-%dT%H:%M:%S}{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def certainty(alert: Alert, msg_type: MsgType) -> str:
    if msg_type == "Cancel":
        return "Unlikely"
    if alert.status in ("acknowledged", "dispatched") or (alert.status == "resolved" and alert.disposition == "real"):
        return "Observed"
    return "Likely"


def _number(value: float, places: int = 6) -> str:
    text = f"{value:.{places}f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def circle(alert: Alert) -> str | None:
    """`lat,lon radius_km`: the radius is the location's accuracy, up to the whole metre, and at least 50 m."""
    if alert.location is None:
        return None
    radius_km = math.ceil(max(MIN_RADIUS_M, alert.location.accuracy_m or 0.0)) / 1000
    return f"{_number(alert.location.lat)},{_number(alert.location.lon)} {_number(radius_km, 3)}"


def polygon(zone: Zone) -> str:
    """The zone's [lon, lat] corners as CAP's `lat,lon` pairs, the ring closed."""
    corners = [(lat, lon) for lon, lat in zone.polygon]
    if corners[0] != corners[-1]:
        corners.append(corners[0])
    return " ".join(f"{_number(lat)},{_number(lon)}" for lat, lon in corners)


def area_description(alert: Alert, partner: Partner, zone: Zone | None) -> str:
    where = (zone.name if zone and zone.name else alert.zone_id)
    if partner.include_address and alert.address:
        return f"{where}: {alert.address}"
    return where


def build(alert: Alert, partner: Partner, settings: CapSettings, zone: Zone | None,
          previous: Sent | None) -> CapMessage | None:
    """The partner's next CAP message about the alert, or None when it needs none (message_type)."""
    msg_type = message_type(alert, previous)
    if msg_type is None:
        return None
    this = Sent(sender=settings.sender, identifier=identifier(alert), sent=sent_time(alert, zone),
                version=alert.version, msg_type=msg_type)
    root = etree.Element(f"{{{NAMESPACE}}}alert", nsmap={None: NAMESPACE})

    def add(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
        element = etree.SubElement(parent, f"{{{NAMESPACE}}}{name}")
        if text is not None:
            element.text = text
        return element

    add(root, "identifier", this.identifier)
    add(root, "sender", this.sender)
    add(root, "sent", this.sent)
    add(root, "status", "Test" if alert.disposition == "test" else "Actual")
    add(root, "msgType", msg_type)
    add(root, "scope", "Restricted")
    add(root, "restriction", settings.restriction)
    if previous is not None:
        add(root, "references", previous.reference)
    info = add(root, "info")
    add(info, "language", settings.language)
    add(info, "category", CATEGORIES.get(alert.category, "Other"))
    add(info, "event", alert.title)
    add(info, "urgency", URGENCY[alert.priority])
    add(info, "severity", SEVERITY[alert.priority])
    add(info, "certainty", certainty(alert, msg_type))
    for name, value in (("alert_id", alert.alert_id), ("priority", str(alert.priority)),
                        ("status", alert.status), ("zone_id", alert.zone_id)):
        parameter = add(info, "parameter")
        add(parameter, "valueName", name)
        add(parameter, "value", value)
    area = add(info, "area")
    add(area, "areaDesc", area_description(alert, partner, zone))
    around = circle(alert)
    if around is None and zone is not None:
        add(area, "polygon", polygon(zone))
    elif around is not None:
        add(area, "circle", around)
    document = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return CapMessage(alert.alert_id, alert.version, msg_type, this, document)
