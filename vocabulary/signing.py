"""Device signatures (contract section 6)."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Protocol


def signature(key_hex: str, source_id: str, event_id: str, ts: str, kind_or_code: str) -> str:
    """Hex HMAC-SHA256 of "{source_id}|{event_id}|{ts}|{kind_or_code}" under the key's bytes."""
    message = f"{source_id}|{event_id}|{ts}|{kind_or_code}".encode()
    return hmac.new(bytes.fromhex(key_hex), message, hashlib.sha256).hexdigest()


def signature_matches(key_hex: str, sig: str, source_id: str, event_id: str, ts: str, kind_or_code: str) -> bool:
    return hmac.compare_digest(signature(key_hex, source_id, event_id, ts, kind_or_code), sig.lower())


class DeviceEvent(Protocol):
    """What a device signs: a PanicBeep or an AlarmSignal."""

    @property
    def sig(self) -> str | None: ...
    @property
    def source_id(self) -> str: ...
    @property
    def event_id(self) -> str: ...
    @property
    def signed_part(self) -> str: ...


def signed_by_device(key_hex: str, event: DeviceEvent, raw: bytes) -> bool:
    """Whether `event`, read from the JSON `raw`, carries its device's valid sig over its ts as sent."""
    if event.sig is None:
        return False
    try:
        sent_ts = json.loads(raw)["ts"]  # signed as sent, not as we re-format it
    except (ValueError, KeyError, TypeError):
        return False
    return isinstance(sent_ts, str) and signature_matches(
        key_hex, event.sig, event.source_id, event.event_id, sent_ts, event.signed_part)


# Outgoing HTTP deliveries (responders' webhooks, partners' CAP messages), contract section 16:
TIMESTAMP_HEADER = "X-Centinela-Timestamp"
SIGNATURE_HEADER = "X-Centinela-Signature"


def delivery_signature(key_hex: str, timestamp: str, body: bytes) -> str:
    """`sha256=` and the hex HMAC-SHA256, under the key's bytes, of the timestamp, a dot, and the body."""
    return "sha256=" + hmac.new(bytes.fromhex(key_hex), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def delivery_headers(key_hex: str, timestamp: str, body: bytes) -> dict[str, str]:
    """The two headers that let a receiver check a delivery and refuse an old one."""
    return {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: delivery_signature(key_hex, timestamp, body)}
