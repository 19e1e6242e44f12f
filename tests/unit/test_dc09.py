"""The DC-09 codec: CRC, framing, messages, encryption and answers, and each deviation of real panels."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from receivers import dc09
from receivers.dc09 import FrameOverflow, Framer, Unreadable

VECTOR_SIA = '"SIA-DCS"0001RF3L77#1234[#1234|NRR|Atest]'
VECTOR_NAK = '"NAK"0000R0L0A0[]_16:20:01,09-24-2025'
KEYS = {16: "00112233445566778899AABBCCDDEEFF", 24: "0123456789ABCDEF" * 3, 32: "F0E1D2C3B4A59687" * 4}


def test_crc16_arc_check_value() -> None:
    assert dc09.crc16(b"123456789") == 0xBB3D


@pytest.mark.parametrize(("body", "crc", "length"), [(VECTOR_SIA, "F4D2", "0029"), (VECTOR_NAK, "E441", "0025")])
def test_public_vectors(body: str, crc: str, length: str) -> None:
    assert dc09.frame(body) == f"\n{crc}{length}{body}\r".encode()


def test_nak_is_framed_like_the_public_vector() -> None:
    assert dc09.nak(datetime(2025, 9, 24, 16, 20, 1, tzinfo=UTC)) == dc09.frame(VECTOR_NAK)


def test_framer_finds_a_frame_and_the_message_reads() -> None:
    bodies = Framer().feed(dc09.frame(VECTOR_SIA))
    assert bodies == [VECTOR_SIA.encode()]
    message = dc09.parse_message(bodies[0])
    assert (message.id, message.encrypted, message.sequence, message.receiver, message.line, message.account) == (
        "SIA-DCS", False, "0001", "F3", "77", "1234")
    content = dc09.read_content(message, None)
    assert (content.account, content.body, content.timestamp) == ("1234", "NRR|Atest", None)


def test_several_frames_in_one_segment() -> None:
    frames = [dc09.frame(f'"ADM-CID"000{n}R1L1#1234[#1234|1130 01 00{n}]') for n in range(1, 4)]
    assert Framer().feed(b"".join(frames)) == [f[9:-1] for f in frames]


def test_a_frame_split_across_segments_at_every_byte() -> None:
    whole = dc09.frame(VECTOR_SIA) + dc09.frame(VECTOR_NAK)
    for cut in range(1, len(whole)):
        framer = Framer()
        assert framer.feed(whole[:cut]) + framer.feed(whole[cut:]) == [VECTOR_SIA.encode(), VECTOR_NAK.encode()]


def test_bytes_one_at_a_time() -> None:
    framer = Framer()
    found = [body for byte in dc09.frame(VECTOR_SIA) for body in framer.feed(bytes([byte]))]
    assert found == [VECTOR_SIA.encode()]


def test_crc_as_two_raw_bytes() -> None:
    raw = VECTOR_SIA.encode()
    binary = b"\n" + dc09.crc16(raw).to_bytes(2, "big") + b"0029" + raw + b"\r"
    assert Framer().feed(binary) == [raw]


def test_crc_as_raw_bytes_that_look_like_lf_and_cr() -> None:
    """A raw CRC byte may be a LF or a CR; the length still finds the frame's end."""
    for seq in range(10000):
        body = f'"NULL"{seq:04d}R0L0#1234[]'
        crc = dc09.crc16(body.encode()).to_bytes(2, "big")
        if b"\n" in crc or b"\r" in crc:
            break
    else:
        pytest.skip("no sequence gives such a CRC")
    wire = b"\n" + crc + f"{len(body):04X}".encode() + body.encode() + b"\r"
    assert Framer().feed(wire + dc09.frame(VECTOR_SIA)) == [body.encode(), VECTOR_SIA.encode()]


def test_length_in_decimal() -> None:
    raw = VECTOR_SIA.encode()  # 41 bytes: 0029 in hex, 0041 in decimal
    decimal = f"\n{dc09.crc16(raw):04X}0041".encode() + raw + b"\r"
    assert Framer().feed(decimal) == [raw]


def test_a_wrong_crc_is_dropped_and_the_next_frame_still_found() -> None:
    bad = dc09.frame(VECTOR_SIA).replace(b"F4D2", b"F4D3")
    framer = Framer()
    assert framer.feed(bad + dc09.frame(VECTOR_NAK)) == [VECTOR_NAK.encode()]
    assert framer.dropped == 1


def test_a_wrong_length_is_dropped() -> None:
    raw = VECTOR_SIA.encode()
    framer = Framer()
    assert framer.feed(f"\n{dc09.crc16(raw):04X}0027".encode() + raw + b"\r" + dc09.frame(VECTOR_NAK)) == [
        VECTOR_NAK.encode()]
    assert framer.dropped == 1


def test_a_length_beyond_the_frame_is_dropped_without_waiting_for_more_bytes() -> None:
    raw = VECTOR_SIA.encode()
    framer = Framer()
    assert framer.feed(f"\n{dc09.crc16(raw):04X}0100".encode() + raw + b"\r") == []
    assert framer.dropped == 1
    assert framer.feed(dc09.frame(VECTOR_NAK)) == [VECTOR_NAK.encode()]


def test_garbage_between_frames_is_skipped() -> None:
    wire = b"hello\x00\xff" + dc09.frame(VECTOR_SIA) + b"\r\n\nxx" + dc09.frame(VECTOR_NAK)
    assert Framer().feed(wire) == [VECTOR_SIA.encode(), VECTOR_NAK.encode()]


def test_the_buffer_is_bounded() -> None:
    framer = Framer(max_buffer=256)
    framer.feed(b"\n0000" + b"0800")  # a header promising 2048 bytes
    with pytest.raises(FrameOverflow):
        framer.feed(b'"' + b"x" * 300)


def test_non_hex_account_and_missing_receiver_and_line() -> None:
    message = dc09.parse_message(b'"SIA-DCS"0007#foc7688[#foc7688|Nri1/BA501]')
    assert (message.receiver, message.line, message.account) == ("", "", "foc7688")
    ack = dc09.ack(message, message.account, datetime.now(UTC))
    assert ack == dc09.frame('"ACK"0007L0#foc7688[]')
    assert b"None" not in ack


def test_empty_receiver_and_line_are_echoed_without_none() -> None:
    message = dc09.parse_message(b'"ADM-CID"0012RL#1234[#1234|1130 01 015]')
    assert dc09.ack(message, "1234", datetime.now(UTC)) == dc09.frame('"ACK"0012L0#1234[]')


def test_ack_echoes_sequence_receiver_line_and_account() -> None:
    message = dc09.parse_message(VECTOR_SIA.encode())
    assert dc09.ack(message, "1234", datetime.now(UTC)) == dc09.frame('"ACK"0001RF3L77#1234[]')
    assert dc09.duh(message) == dc09.frame('"DUH"0001RF3L77#1234[]')


def test_timestamp_and_extended_data() -> None:
    message = dc09.parse_message(b'"SIA-DCS"0002R1L1#1234[#1234|Nri1/BA501][X-58.5W34.4][Hkitchen]_10:11:12,11-28-2026')
    assert dc09.read_content(message, None).timestamp == datetime(2026, 11, 28, 10, 11, 12, tzinfo=UTC)


@pytest.mark.parametrize("body", [
    b'"SIA-DCS"0002R1L1#1234[#1234|Nri1/BA501',  # no closing bracket
    b'"SIA-DCS"0002R1L1#1234[#1234|Nri1/BA501]_99:11:12,11-28-2026',  # impossible time
    b'"SIA-DCS"0002R1L1#1234[#1234|Nri1/BA501]junk',
])
def test_unreadable_contents(body: bytes) -> None:
    with pytest.raises(Unreadable):
        dc09.read_content(dc09.parse_message(body), None)


@pytest.mark.parametrize("size", sorted(KEYS))
def test_encryption_round_trip_with_each_key_size(size: int) -> None:
    key = KEYS[size]
    text = "Nri1/BA501]_10:11:12,11-28-2026"
    cipher = dc09.encrypt(key, text)
    assert len(cipher) % 32 == 0 and cipher == cipher.upper()
    _pad, bar, rest = dc09.decrypt(key, cipher).partition("|")
    assert (bar, rest) == ("|", text)


def test_lowercase_ciphertext_and_its_encrypted_ack() -> None:
    key, now = KEYS[16], datetime(2026, 11, 28, 10, 11, 12, tzinfo=UTC)
    cipher = dc09.encrypt(key, "Nri1/BA501]_10:11:12,11-28-2026").lower()
    message = dc09.parse_message(f'"*SIA-DCS"0005R1L0#1234[{cipher}'.encode())
    content = dc09.read_content(message, key)
    assert (message.encrypted, content.body, content.timestamp) == (True, "Nri1/BA501", now)
    answer = dc09.ack(message, "1234", now, key)
    reply = dc09.parse_message(Framer().feed(answer)[0])
    assert (reply.id, reply.encrypted, reply.sequence, reply.receiver, reply.line, reply.account) == (
        "ACK", True, "0005", "1", "0", "1234")
    assert dc09.read_content(reply, key) == dc09.Content(account="", body="", timestamp=now)


def test_a_wrong_key_does_not_decrypt() -> None:
    cipher = dc09.encrypt(KEYS[16], "Nri1/BA501]_10:11:12,11-28-2026")
    message = dc09.parse_message(f'"*SIA-DCS"0005R1L0#1234[{cipher}'.encode())
    with pytest.raises(Unreadable):
        dc09.read_content(message, KEYS[32])


def test_an_encrypted_frame_must_carry_a_timestamp() -> None:
    cipher = dc09.encrypt(KEYS[16], "Nri1/BA501]")
    with pytest.raises(Unreadable, match="timestamp"):
        dc09.read_content(dc09.parse_message(f'"*SIA-DCS"0005R1L0#1234[{cipher}'.encode()), KEYS[16])


def test_pad_never_holds_delimiters() -> None:
    assert not set(dc09.random_pad(4096)) & set("|[]")
