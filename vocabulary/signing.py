"""Device signatures (contract section 6)."""

from __future__ import annotations

import hashlib
import hmac


def signature(key_hex: str, source_id: str, event_id: str, ts: str, kind_or_code: str) -> str:
    """Hex HMAC-SHA256 of "{source_id}|{event_id}|{ts}|{kind_or_code}" under the key's bytes."""
    message = f"{source_id}|{event_id}|{ts}|{kind_or_code}".encode()
    return hmac.new(bytes.fromhex(key_hex), message, hashlib.sha256).hexdigest()


def signature_matches(key_hex: str, sig: str, source_id: str, event_id: str, ts: str, kind_or_code: str) -> bool:
    return hmac.compare_digest(signature(key_hex, source_id, event_id, ts, kind_or_code), sig.lower())
