"""Authentication of Centinela's own messages (contract section 9).

Everything Centinela writes to `zone.events` and `alerts` carries an HMAC-SHA256, under
the installation's internal key, of the topic, the key and the value, in the Kafka header
`centinela-mac`. Readers apply only what verifies: a device (or anyone else who can write
to the broker) cannot act, silence, or publish an alert in Centinela's name.

The key comes from CENTINELA_INTERNAL_KEY (hex) or CENTINELA_INTERNAL_KEY_FILE; `up`
generates one at first start into its data directory, readable by its owner alone.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path

from vocabulary.errors import ConfigError

HEADER = "centinela-mac"
KEY_ENV = "CENTINELA_INTERNAL_KEY"
KEY_FILE_ENV = "CENTINELA_INTERNAL_KEY_FILE"
KEY_FILE = "internal.key"
KEY_BYTES = 32
# Redis hashes that evaluate writes and the center reads (under the topic prefix):
FORGED_COUNTS = "centinela:forged"  # topic -> messages ignored as unauthenticated or undecodable
HELD_BACK = "centinela:held-back"  # "silence id|zone" -> signals the silence held back in the zone

Headers = Iterable[tuple[str, bytes]] | Mapping[str, bytes] | None  # as aiokafka, kafka-python or Faust give them


def sign(key: bytes, topic: str, message_key: bytes | None, value: bytes) -> bytes:
    """The hex MAC of one message; `topic` is the contract's name (without prefix)."""
    mac = hmac.new(key, digestmod=hashlib.sha256)
    for part in (topic.encode(), message_key or b"", value):
        mac.update(len(part).to_bytes(8, "big"))  # lengths first: no two messages sign the same bytes
        mac.update(part)
    return mac.hexdigest().encode("ascii")


def headers(key: bytes, topic: str, message_key: bytes | None, value: bytes) -> list[tuple[str, bytes]]:
    """The Kafka headers that authenticate one message."""
    return [(HEADER, sign(key, topic, message_key, value))]


def verify(key: bytes, topic: str, message_key: bytes | None, value: bytes | None, found: Headers) -> bool:
    """True only when the message carries exactly one MAC and it matches."""
    if value is None or found is None:
        return False
    pairs = found.items() if isinstance(found, Mapping) else found
    macs = [v for name, v in pairs if name == HEADER]
    if len(macs) != 1 or not isinstance(macs[0], bytes):
        return False
    return hmac.compare_digest(macs[0], sign(key, topic, message_key, value))


def parse_key(text: str, where: str) -> bytes:
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        raise ConfigError([f"{where}: the internal key must be hex"]) from None
    if len(key) < 16:
        raise ConfigError([f"{where}: the internal key must be at least 16 bytes (32 hex digits)"])
    return key


def key_from_environment() -> bytes:
    """The internal key from CENTINELA_INTERNAL_KEY, else from the file CENTINELA_INTERNAL_KEY_FILE names."""
    if os.environ.get(KEY_ENV):
        return parse_key(os.environ[KEY_ENV], KEY_ENV)
    path = os.environ.get(KEY_FILE_ENV)
    if not path:
        raise ConfigError([f"no internal key: set {KEY_ENV} (hex) or {KEY_FILE_ENV}; `centinela up` makes one"])
    try:
        return parse_key(Path(path).read_text(encoding="ascii"), path)
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError([f"{KEY_FILE_ENV}: {path}: cannot be read: {error}"]) from None


def ensure_key_file(directory: Path) -> Path:
    """The key file in `directory`, generated (mode 0600) at the first start."""
    path = directory / KEY_FILE
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path
    with os.fdopen(descriptor, "w", encoding="ascii") as out:
        out.write(secrets.token_hex(KEY_BYTES) + "\n")
    return path
