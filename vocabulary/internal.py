"""Authentication of Centinela's own messages (contract section 9).

Everything Centinela writes to `zone.events` and `alerts` carries an HMAC-SHA256, under
the installation's internal key, of the topic, the key, the value and a stamp (the partition,
the producer and its sequence number, the time), in the Kafka headers `centinela-mac` and
`centinela-stamp`. Readers apply only what verifies: a device (or anyone else who can write
to the broker) cannot act, silence, or publish an alert in Centinela's name.

The key comes from CENTINELA_INTERNAL_KEY (hex) or CENTINELA_INTERNAL_KEY_FILE; `up`
generates one at first start into its data directory, readable by its owner alone.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import os
import secrets
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from vocabulary.errors import ConfigError

HEADER = "centinela-mac"
STAMP = "centinela-stamp"  # "partition.producer.sequence.time_ms": where and by whom a message was signed
KEY_ENV = "CENTINELA_INTERNAL_KEY"
KEY_FILE_ENV = "CENTINELA_INTERNAL_KEY_FILE"
KEY_FILE = "internal.key"
KEY_BYTES = 32
# Redis hashes that evaluate writes and the center reads (under the topic prefix):
FORGED_COUNTS = "centinela:forged"  # topic -> messages ignored as unauthenticated or undecodable
HELD_BACK = "centinela:held-back"  # "silence id|zone" -> signals the silence held back in the zone
# A producer a reader has not heard from in this long (by the partition's newest signed time) is
# forgotten; a message of a producer it does not know must be signed no earlier than this before that time.
PRODUCER_MEMORY_MS = 3_600_000
REORDER = 64  # a producer's messages to one partition may arrive this far out of order (IPsec's window)

Headers = Iterable[tuple[str, bytes]] | Mapping[str, bytes] | None  # as aiokafka, kafka-python or Faust give them


@dataclass(frozen=True, slots=True)
class Stamp:
    """What a message's MAC binds besides its topic, key and value."""

    partition: int
    producer: str  # random per producer process: a restarted lane or center is a new producer
    sequence: int  # 1, 2, ... per producer
    at_ms: int  # the producer's clock when it signed

    def encode(self) -> bytes:
        return f"{self.partition}.{self.producer}.{self.sequence}.{self.at_ms}".encode("ascii")

    @classmethod
    def decode(cls, raw: object) -> Stamp | None:
        if not isinstance(raw, bytes):
            return None
        try:
            partition, producer, sequence, at_ms = raw.decode("ascii").split(".")
            stamp = cls(int(partition), producer, int(sequence), int(at_ms))
        except ValueError:  # UnicodeDecodeError included
            return None
        return stamp if producer.isalnum() and min(stamp.partition, stamp.sequence, stamp.at_ms) >= 0 else None


def sign(key: bytes, topic: str, message_key: bytes | None, value: bytes, stamp: bytes) -> bytes:
    """The hex MAC of one message; `topic` is the contract's name (without prefix)."""
    mac = hmac.new(key, digestmod=hashlib.sha256)
    for part in (topic.encode(), message_key or b"", value, stamp):
        mac.update(len(part).to_bytes(8, "big"))  # lengths first: no two messages sign the same bytes
        mac.update(part)
    return mac.hexdigest().encode("ascii")


class Signer:
    """One producer's identity: a random id, then a sequence that only grows."""

    def __init__(self, key: bytes) -> None:
        self.key = key
        self.producer = secrets.token_hex(8)
        self.sequence = itertools.count(1)

    def headers(self, topic: str, partition: int, message_key: bytes | None, value: bytes,
                at_ms: int | None = None) -> list[tuple[str, bytes]]:
        when = time.time_ns() // 1_000_000 if at_ms is None else at_ms
        stamp = Stamp(partition, self.producer, next(self.sequence), when).encode()
        return [(HEADER, sign(self.key, topic, message_key, value, stamp)), (STAMP, stamp)]


_signers: dict[bytes, Signer] = {}


def headers(key: bytes, topic: str, partition: int, message_key: bytes | None, value: bytes) -> list[tuple[str, bytes]]:
    """The Kafka headers that authenticate one message bound for `partition`, from this process's producer."""
    signer = _signers.get(key)
    if signer is None:
        signer = _signers[key] = Signer(key)
    return signer.headers(topic, partition, message_key, value)


def _one(pairs: Iterable[tuple[str, object]], name: str) -> object:
    found = [v for n, v in pairs if n == name]
    return found[0] if len(found) == 1 else None


def stamp_of(found: Headers) -> Stamp | None:
    """The stamp a message claims, unverified."""
    if found is None:
        return None
    return Stamp.decode(_one(found.items() if isinstance(found, Mapping) else found, STAMP))


def verify(key: bytes, topic: str, message_key: bytes | None, value: bytes | None, found: Headers,
           partition: int | None = None) -> Stamp | None:
    """The stamp, only when the message carries exactly one MAC and one stamp, they match, and the
    stamp names the partition the message was read from (when the reader gives it)."""
    if value is None or found is None:
        return None
    pairs = list(found.items() if isinstance(found, Mapping) else found)
    mac, raw = _one(pairs, HEADER), _one(pairs, STAMP)
    stamp = Stamp.decode(raw)
    if not isinstance(mac, bytes) or stamp is None or not isinstance(raw, bytes):
        return None
    if partition is not None and stamp.partition != partition:
        return None
    return stamp if hmac.compare_digest(mac, sign(key, topic, message_key, value, raw)) else None


@dataclass(slots=True)
class Heard:
    """A producer's newest sequence on a partition, which of the REORDER before it arrived, and when."""

    sequence: int
    below: int  # bit n set: sequence - 1 - n arrived
    at_ms: int


@dataclass(slots=True)
class Freshness:
    """One partition's memory of its producers: a message is applied once, however late it is replayed.

    A known producer's message is new when its sequence was never accepted (IPsec's sliding
    window); an unknown producer's (a restarted process) when it was signed within
    PRODUCER_MEMORY_MS of the partition's newest signed time, which is exactly how long a
    producer is remembered. A replay is therefore refused however long ago the original was.
    """

    newest_ms: int = 0
    heard: dict[str, Heard] = field(default_factory=dict)

    def accept(self, stamp: Stamp, now_ms: int) -> bool:
        """True, remembering it, when the message is new; False for a replay."""
        known = self.heard.get(stamp.producer)
        if known is None:
            if stamp.at_ms < self.newest_ms - PRODUCER_MEMORY_MS:
                return False
            self.heard[stamp.producer] = Heard(stamp.sequence, 0, stamp.at_ms)
        elif stamp.sequence > known.sequence:
            shift = stamp.sequence - known.sequence
            known.below = ((known.below << shift) | (1 << (shift - 1))) & ((1 << REORDER) - 1)
            known.sequence, known.at_ms = stamp.sequence, max(known.at_ms, stamp.at_ms)
        else:
            bit = known.sequence - 1 - stamp.sequence
            if bit < 0 or bit >= REORDER or known.below >> bit & 1:
                return False
            known.below |= 1 << bit
        # The producers' clocks are trusted (they hold the key), but never past the reader's own.
        self.newest_ms = max(self.newest_ms, min(stamp.at_ms, now_ms))
        horizon = self.newest_ms - PRODUCER_MEMORY_MS
        for producer in [p for p, h in self.heard.items() if h.at_ms < horizon]:
            del self.heard[producer]
        return True

    def encode(self) -> str:
        return json.dumps({"newest_ms": self.newest_ms,
                           "heard": {p: [h.sequence, h.below, h.at_ms] for p, h in self.heard.items()}})

    @classmethod
    def decode(cls, raw: bytes | str | None) -> Freshness:
        if raw is None:
            return cls()
        data = json.loads(raw)
        return cls(int(data["newest_ms"]), {p: Heard(int(s), int(b), int(a)) for p, (s, b, a) in data["heard"].items()})


RECEIVED = "centinela-received"  # "time_ms.mac": when a receiver got a device's event, under the receipt key


def receipt_key(key: bytes) -> bytes:
    """The key receivers sign receipts with: derived, so it cannot sign an internal message."""
    return hmac.new(key, b"centinela receipt", hashlib.sha256).digest()


def receipt_headers(receipts: bytes, topic: str, message_key: bytes | None, value: bytes,
                    at_ms: int) -> list[tuple[str, bytes]]:
    """The header that says when a receiver got this event (`receipts`: `receipt_key(...)`)."""
    mac = sign(receipts, topic, message_key, value, str(at_ms).encode())
    return [(RECEIVED, f"{at_ms}.".encode() + mac)]


def received_at_ms(receipts: bytes, topic: str, message_key: bytes | None, value: bytes | None,
                   found: Headers) -> int | None:
    """When a receiver got this event, if it carries exactly one receipt and it verifies."""
    if value is None or found is None:
        return None
    raw = _one(found.items() if isinstance(found, Mapping) else found, RECEIVED)
    if not isinstance(raw, bytes):
        return None
    at, _, mac = raw.partition(b".")
    if not at.isdigit() or not hmac.compare_digest(mac, sign(receipts, topic, message_key, value, at)):
        return None
    return int(at)


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
    """The key file in `directory`, generated (mode 0600) at the first start, whole or not at all."""
    path = directory / KEY_FILE
    if path.exists():
        return path
    descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=".internal.key.")  # mode 0600
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as out:
            out.write(secrets.token_hex(KEY_BYTES) + "\n")
            out.flush()
            os.fsync(out.fileno())
        os.link(temporary, path)  # a rename that never replaces a key another process made meanwhile
    except FileExistsError:
        pass
    finally:
        os.unlink(temporary)
    return path
