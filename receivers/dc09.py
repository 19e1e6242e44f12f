"""SIA DC-09 (ANSI/SIA DC-09-2013) framing, messages, encryption and answers (contract section 7).

Pure: bytes in, bytes out. A frame on the wire is

    <LF> CRC LLLL "ID" seq [R rcvr] [L line] [#acct] [ data ] [ [ext] ...] [_HH:MM:SS,MM-DD-YYYY] <CR>

CRC (CRC-16/ARC) and LLLL (the length) cover the bytes from the first `"` up to, not
including, the CR. Real panels deviate, and each deviation the contract lists is understood
here: frames glued together or split anywhere (`Framer`), a CRC sent as two raw bytes, a
length written in decimal, lowercase hex ciphertext, accounts that are not hex, `R` and `L`
missing or empty.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

LF, CR, QUOTE = 0x0A, 0x0D, 0x22
MAX_FRAME_BYTES = 2048  # far above any real frame; a longer length field is not a header
KEY_SIZES = (16, 24, 32)
IDS = ("SIA-DCS", "ADM-CID", "NULL")
TIMESTAMP_FORMAT = "_%H:%M:%S,%m-%d-%Y"

_HEX = frozenset(b"0123456789ABCDEFabcdef")
_DIGITS = frozenset(b"0123456789")


def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC_TABLE = _crc_table()


def crc16(data: bytes) -> int:
    """CRC-16/ARC: reflected polynomial 0xA001, initial 0, no final XOR."""
    crc = 0
    for byte in data:
        crc = (crc >> 8) ^ _CRC_TABLE[(crc ^ byte) & 0xFF]
    return crc


# -- framing -----------------------------------------------------------------------------------


class FrameOverflow(Exception):
    """More bytes are buffered than a sane sender would need: the connection should close."""


@dataclass
class Framer:
    """Cuts frames out of a byte stream, whatever the segments: several frames in one, one
    frame across several. `feed` returns each complete frame's body (the span the CRC covers)
    whose CRC and length match; frames that do not are dropped (no answer: the panel
    retransmits) and counted in `dropped`.
    """

    max_buffer: int = 8192
    dropped: int = 0
    _buffer: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        bodies: list[bytes] = []
        while (body := self._next()) is not None:
            if body:
                bodies.append(body)
        if len(self._buffer) > self.max_buffer:
            self._buffer.clear()
            raise FrameOverflow(f"more than {self.max_buffer} bytes without a complete frame")
        return bodies

    def _next(self) -> bytes | None:
        """The next frame's body, b"" for a dropped one, None when more bytes are needed."""
        buffer = self._buffer
        start = buffer.find(LF)
        if start < 0:
            buffer.clear()  # no frame starts in bytes before a LF
            return None
        del buffer[:start]
        header = _header(buffer)
        if header is None:
            return None
        if not header.lengths:
            del buffer[:1]
            return b""
        waiting = False
        for length in header.lengths:
            end = header.quote + length
            if end >= len(buffer):
                waiting = True
            elif buffer[end] == CR:
                body = bytes(buffer[header.quote:end])
                del buffer[: end + 1]
                if crc16(body) != header.crc:
                    self.dropped += 1
                    return b""
                return body
        # No length ends at a CR. Frames hold no CR but their last byte, so a CR already here
        # ends this frame: its length is wrong (drop it now, not after the connection idles).
        ended = buffer.find(CR, header.quote)
        if ended < 0:
            if waiting:
                return None
            ended = 0  # a header whose length leads nowhere: resynchronise at the next LF
        del buffer[: ended + 1]
        self.dropped += 1
        return b""


class _Header(NamedTuple):
    quote: int  # index of the first quote: where the CRC's and the length's span begins
    lengths: list[int]  # candidate lengths; none: not a frame's header
    crc: int


_NOT_A_HEADER = _Header(0, [], 0)


def _header(buffer: bytearray) -> _Header | None:
    """The header of the frame starting at buffer[0] (a LF); None when more bytes are needed."""
    if len(buffer) < 8:
        return None
    if buffer[7] == QUOTE:  # CRC as 2 raw bytes
        return _Header(7, _lengths(buffer[3:7]), int.from_bytes(buffer[1:3], "big"))
    if len(buffer) < 10:
        return None
    if buffer[9] != QUOTE or not all(b in _HEX for b in buffer[1:5]):
        return _NOT_A_HEADER
    return _Header(9, _lengths(buffer[5:9]), int(buffer[1:5], 16))


def _lengths(text: bytes | bytearray) -> list[int]:
    """The length field read as hex (the standard), then as decimal (some panels)."""
    if not all(b in _HEX for b in text):
        return []
    found = [int(text, 16)]
    if all(b in _DIGITS for b in text) and int(text) != found[0]:
        found.append(int(text))
    return [n for n in found if 0 < n <= MAX_FRAME_BYTES]


def frame(body: str) -> bytes:
    """`body` (from the first quote) framed with LF, CRC, length and CR."""
    raw = body.encode("ascii")
    return b"\n" + f"{crc16(raw):04X}{len(raw):04X}".encode() + raw + b"\r"


# -- messages ----------------------------------------------------------------------------------


class Unreadable(Exception):
    """A frame with a good CRC whose content cannot be read: the answer is DUH."""


_MESSAGE = re.compile(
    r'"(?P<star>\*?)(?P<id>[A-Z0-9-]{1,16})"(?P<seq>[0-9]{1,4})'
    r"(?:R(?P<receiver>[0-9A-Fa-f]{0,6}))?(?:L(?P<line>[0-9A-Fa-f]{0,6}))?"
    r'(?:#(?P<account>[!$-Z\\^-{}~]{1,16}))?\[(?P<payload>.*)',  # printable ASCII but [ ] # | "
    re.DOTALL,
)
_TRAILER = re.compile(r"(?P<ext>(?:\[[^\[\]]*\])*)(?P<ts>_[0-9]{2}:[0-9]{2}:[0-9]{2},[0-9]{2}-[0-9]{2}-[0-9]{4})?")


@dataclass(frozen=True)
class Message:
    """A frame's header and payload: the payload is still encrypted when `encrypted`."""

    id: str  # SIA-DCS, ADM-CID, NULL (without the star)
    encrypted: bool
    sequence: str
    receiver: str  # "" when missing
    line: str  # "" when missing
    account: str  # "" when missing from the header (it may be in the data)
    payload: str  # everything after the first "["


@dataclass(frozen=True)
class Content:
    """What a message says, decrypted: the data block's account and body, the timestamp."""

    account: str  # "" when the data block names none
    body: str  # the data after "#acct|" (SIA-DCS, ADM-CID), empty for NULL
    timestamp: datetime | None


def parse_message(body: bytes) -> Message:
    text = body.decode("latin-1")
    found = _MESSAGE.fullmatch(text)
    if found is None:
        raise Unreadable("not a DC-09 message header")
    return Message(
        id=found["id"], encrypted=bool(found["star"]), sequence=found["seq"], receiver=found["receiver"] or "",
        line=found["line"] or "", account=found["account"] or "", payload=found["payload"],
    )


def read_content(message: Message, key_hex: str | None) -> Content:
    """The message's data and timestamp, decrypted under `key_hex` when it is encrypted."""
    if not message.encrypted:
        return _clear_content(message.payload)
    if not key_hex:
        raise Unreadable("an encrypted frame for an account without a dc09_key")
    plain = decrypt(key_hex, message.payload)
    _pad, bar, rest = plain.partition("|")
    if not bar:
        raise Unreadable("the decrypted data has no '|': wrong key?")
    content = _clear_content(rest)
    if content.timestamp is None:
        raise Unreadable("an encrypted frame must carry a timestamp")
    return content


def _clear_content(payload: str) -> Content:
    data, bracket, trailer = payload.partition("]")
    if not bracket:
        raise Unreadable("the data block has no closing ']'")
    found = _TRAILER.fullmatch(trailer)
    if found is None:
        raise Unreadable("unreadable extended data or timestamp")
    account, body = "", data
    if data.startswith("#"):
        account, _, body = data[1:].partition("|")
    return Content(account=account, body=body, timestamp=parse_timestamp(found["ts"]) if found["ts"] else None)


def parse_timestamp(text: str) -> datetime:
    try:
        return datetime.strptime(text, TIMESTAMP_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise Unreadable(f"bad timestamp {text!r}") from None


def format_timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(TIMESTAMP_FORMAT)


# -- encryption --------------------------------------------------------------------------------

Pad = Callable[[int], str]


def random_pad(size: int) -> str:
    """Random hex digits: never "|", "[" or "]", which delimit what follows."""
    return secrets.token_hex(size)[:size].upper()


def _cipher(key_hex: str) -> Cipher[modes.CBC]:
    key = bytes.fromhex(key_hex)
    if len(key) not in KEY_SIZES:
        raise ValueError(f"a DC-09 key has 16, 24 or 32 bytes, not {len(key)}")
    return Cipher(algorithms.AES(key), modes.CBC(bytes(16)))


def encrypt(key_hex: str, text: str, pad: Pad = random_pad) -> str:
    """Upper-case hex of AES-CBC (zero IV) of pad + "|" + text, padded to whole blocks."""
    size = -(len(text) + 1) % 16
    plain = (pad(size) + "|" + text).encode("ascii")
    encryptor = _cipher(key_hex).encryptor()
    return (encryptor.update(plain) + encryptor.finalize()).hex().upper()


def decrypt(key_hex: str, hex_text: str) -> str:
    try:
        data = bytes.fromhex(hex_text)
    except ValueError:
        raise Unreadable("the encrypted part is not hex") from None
    if not data or len(data) % 16:
        raise Unreadable("the encrypted part is not whole AES blocks")
    decryptor = _cipher(key_hex).decryptor()
    plain = decryptor.update(data) + decryptor.finalize()
    try:
        return plain.decode("ascii")
    except UnicodeDecodeError:
        raise Unreadable("the decrypted data is not text: wrong key?") from None


# -- answers -----------------------------------------------------------------------------------


def _echo(message: Message, account: str) -> str:
    """Sequence, receiver, line and account as the panel sent them; never "None": a missing
    R stays missing, a missing or empty L is line 0."""
    receiver = f"R{message.receiver}" if message.receiver else ""
    shown = account if account.isascii() and account.isprintable() else ""  # an answer is ASCII
    return f"{message.sequence}{receiver}L{message.line or '0'}" + (f"#{shown}" if shown else "")


def ack(message: Message, account: str, now: datetime, key_hex: str | None = None, pad: Pad = random_pad) -> bytes:
    """ACK, or *ACK encrypted under the panel's key for an encrypted frame."""
    if message.encrypted and key_hex:
        return frame(f'"*ACK"{_echo(message, account)}[{encrypt(key_hex, "]" + format_timestamp(now), pad)}')
    return frame(f'"ACK"{_echo(message, account)}[]')


def duh(message: Message | None, account: str = "") -> bytes:
    """DUH: the frame was received but cannot be used (unknown account, key, body)."""
    if message is None:
        return frame('"DUH"0000R0L0A0[]')
    return frame(f'"DUH"{_echo(message, account or message.account)}[]')


def nak(now: datetime) -> bytes:
    """NAK with the receiver's time, so the panel can correct its clock."""
    return frame(f'"NAK"0000R0L0A0[]{format_timestamp(now)}')


def answer_kind(answer: bytes) -> str:
    """"ACK", "NAK" or "DUH" for a framed answer (an encrypted *ACK is an ACK)."""
    return answer[answer.index(b'"') + 1:].split(b'"', 1)[0].lstrip(b"*").decode("ascii")
