"""A partner's CAP messages of the last 24 h as an Atom feed (RFC 4287), newest first. Pure.

Each entry holds its CAP document inline (`content type="application/cap+xml"`): an agency that
missed a POST, or polls instead, reads exactly what it would have been sent.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from lxml import etree

from alert_rules.partners import Partner
from partners.cap import MEDIA_TYPE
from partners.cap import NAMESPACE as CAP
from partners.outbox import Envelope

ATOM = "http://www.w3.org/2005/Atom"
MEDIA_TYPE_ATOM = "application/atom+xml"
GENERATOR = "Centinela"


def _rfc3339(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def entry_id(partner_id: str, identifier: str) -> str:
    """A stable IRI per message and partner (the same CAP identifier may reach several partners)."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"centinela:cap:{partner_id}:{identifier}").urn


def feed(partner: Partner, envelopes: Sequence[Envelope], self_url: str, now: float) -> bytes:
    """`envelopes` newest first, as the outbox gives them."""
    root = etree.Element(f"{{{ATOM}}}feed", nsmap={None: ATOM})

    def add(parent: etree._Element, name: str, text: str | None = None, **attributes: str) -> etree._Element:
        element = etree.SubElement(parent, f"{{{ATOM}}}{name}", attributes)
        if text is not None:
            element.text = text
        return element

    add(root, "id", uuid.uuid5(uuid.NAMESPACE_URL, f"centinela:cap:{partner.id}:feed").urn)
    add(root, "title", f"CAP 1.2 alerts for {partner.name}")
    add(root, "updated", _rfc3339(envelopes[0].queued_at if envelopes else now))
    add(add(root, "author"), "name", GENERATOR)
    add(root, "generator", GENERATOR)
    add(root, "link", rel="self", type=MEDIA_TYPE_ATOM, href=self_url)
    for envelope in envelopes:
        document = etree.fromstring(envelope.body)
        event = document.findtext(f"{{{CAP}}}info/{{{CAP}}}event") or ""
        entry = add(root, "entry")
        add(entry, "id", entry_id(partner.id, envelope.identifier))
        add(entry, "title", f"{envelope.msg_type}: {event}")
        add(entry, "updated", _rfc3339(envelope.queued_at))
        add(entry, "summary", f"CAP {envelope.msg_type} {envelope.identifier}, sent {envelope.sent}")
        add(entry, "content", type=MEDIA_TYPE).append(document)
    written: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return written
