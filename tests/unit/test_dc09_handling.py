"""From a DC-09 frame to an answer and an AlarmSignal: bodies, the SIA table, accounts, keys,
time window, polls, retransmissions, and a fuzz test that nothing a client sends raises."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alert_rules.city import City, Panel, Zone
from alert_rules.engine import RuleEngine, zone_event
from alert_rules.rules import Rules
from receivers import dc09
from receivers.dc09 import Framer, Unreadable
from receivers.handling import FrameHandler
from receivers.signals import SIA_TO_CONTACT_ID, Signal, adm_cid, sia_dcs
from vocabulary.events import format_timestamp
from vocabulary.signing import signature_matches

NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
AES = "00112233445566778899AABBCCDDEEFF"
HMAC = "6b6579"
PANELS = [
    Panel(id="acct-1234", zone="z", account="1234"),
    Panel(id="acct-foc", zone="z", account="foc7688", key=HMAC, dc09_clear=True),
    Panel(id="acct-keyed", zone="z", account="5151", key=HMAC),  # clear frames are not its own
    Panel(id="acct-enc", zone="z", account="ABCD", dc09_key=AES),
    Panel(id="9876", zone="z"),  # its account is its id
]


def handler() -> FrameHandler:
    return FrameHandler(PANELS, pad=lambda size: "0" * size)


def stamp(moment: datetime = NOW) -> str:
    return dc09.format_timestamp(moment)


def handle(h: FrameHandler, body: str, now: datetime = NOW):  # type: ignore[no-untyped-def]
    return h.handle(body.encode(), now)


# -- bodies --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("sia", "expected"), sorted(SIA_TO_CONTACT_ID.items()))
def test_the_contract_sia_table(sia: str, expected: tuple[int, int]) -> None:
    signal = sia_dcs(f"Nri3/{sia}017")
    assert (signal.code, signal.qualifier, signal.group, signal.zone, signal.sia) == (*expected, 3, 17, None)


@pytest.mark.parametrize("body", ["Nri2/id1/OP", "Nid1/ri2/OP", "Nti10:05/id1/ri2/OP", "Nri2/ti10:05/OP"])
def test_sia_fields_in_any_order(body: str) -> None:
    assert sia_dcs(body) == Signal(qualifier=1, code=401, group=2, zone=0)


def test_sia_without_fields_and_with_text() -> None:
    assert sia_dcs("NBA501") == Signal(1, 130, 0, 501)
    assert sia_dcs("NFH|Akitchen") == Signal(3, 110, 0, 0)


def test_an_unknown_sia_code_goes_on_as_trouble_with_its_code() -> None:
    assert sia_dcs("Nri1/ZX12") == Signal(1, 300, 1, 12, sia="ZX")


@pytest.mark.parametrize("body", ["", "N", "Nri1/", "Nri100/BA1", "NBA1000", "N12/BA", "nba1"])
def test_unreadable_sia_bodies(body: str) -> None:
    with pytest.raises(Unreadable):
        sia_dcs(body)


@pytest.mark.parametrize(("body", "expected"), [
    ("1130 01 015", Signal(1, 130, 1, 15)), ("3401 02 007", Signal(3, 401, 2, 7)), ("6301 00 000", Signal(6, 301, 0, 0)),
    ("113001015", Signal(1, 130, 1, 15)),
])
def test_adm_cid(body: str, expected: Signal) -> None:
    assert adm_cid(body) == expected


@pytest.mark.parametrize("body", ["2130 01 015", "1130 1 015", "1099 01 015", "113O 01 015", ""])
def test_unreadable_adm_cid(body: str) -> None:
    with pytest.raises(Unreadable):
        adm_cid(body)


# -- the handler ---------------------------------------------------------------------------------


def test_adm_cid_frame_is_acked_with_a_signal_for_its_panel() -> None:
    outcome = handle(handler(), f'"ADM-CID"0042R1L1#1234[#1234|1130 01 015]{stamp()}')
    assert outcome.answer == dc09.frame('"ACK"0042R1L1#1234[]')
    event = outcome.event
    assert event is not None
    assert (event.panel_id, event.qualifier, event.code, event.group, event.zone, event.ts) == (
        "acct-1234", 1, 130, 1, 15, NOW)
    assert event.sig is None


def test_a_frame_without_timestamp_gets_the_receivers_time() -> None:
    outcome = handle(handler(), '"SIA-DCS"0001R0L0#9876[#9876|NBA3]')
    assert outcome.event is not None and outcome.event.ts == NOW and outcome.event.panel_id == "9876"


def test_the_account_may_come_from_the_data_block_alone() -> None:
    outcome = handle(handler(), '"SIA-DCS"0001L0[#1234|NBA3]')
    assert outcome.kind == "ACK" and outcome.event is not None and outcome.event.panel_id == "acct-1234"


def test_accounts_match_without_case_and_need_not_be_hex() -> None:
    outcome = handle(handler(), '"SIA-DCS"0003#FOC7688[#FOC7688|NBA3]')
    assert outcome.answer == dc09.frame('"ACK"0003L0#FOC7688[]')
    assert outcome.event is not None and outcome.event.panel_id == "acct-foc"


def test_events_are_signed_with_the_panels_key() -> None:
    event = handle(handler(), f'"SIA-DCS"0003R0L0#foc7688[#foc7688|Nri1/PA]{stamp()}').event
    assert event is not None and event.sig is not None
    assert signature_matches(HMAC, event.sig, "acct-foc", event.event_id, format_timestamp(event.ts), "1120")


def test_a_retransmission_is_one_event_and_another_sequence_another() -> None:
    h = handler()
    first = handle(h, f'"SIA-DCS"0007R0L0#1234[#1234|Nri1/BA5]{stamp()}').event
    again = handle(h, f'"SIA-DCS"0007R0L0#1234[#1234|Nri1/BA5]{stamp(NOW + timedelta(seconds=9))}',
                   NOW + timedelta(seconds=10)).event
    other = handle(h, f'"SIA-DCS"0008R0L0#1234[#1234|Nri1/BA5]{stamp()}').event
    assert first is not None and again is not None and other is not None
    assert first.event_id == again.event_id != other.event_id


def test_an_encrypted_retransmission_with_another_pad_is_one_event() -> None:
    events = []
    for pad in ("A", "B"):
        cipher = dc09.encrypt(AES, f"#ABCD|Nri1/FA2]{stamp()}", lambda size, p=pad: p * size)  # type: ignore[misc]
        outcome = handle(handler(), f'"*SIA-DCS"0011R0L0#ABCD[{cipher}')
        assert outcome.kind == "ACK"
        events.append(outcome.event)
    assert events[0] is not None and events[1] is not None and events[0].event_id == events[1].event_id


def test_an_encrypted_frame_gets_an_encrypted_ack() -> None:
    cipher = dc09.encrypt(AES, f"#ABCD|Nri1/FA2]{stamp()}").lower()
    outcome = handle(handler(), f'"*SIA-DCS"0011R0L0#ABCD[{cipher}')
    assert outcome.event is not None and (outcome.event.code, outcome.event.zone) == (110, 2)
    reply = dc09.parse_message(Framer().feed(outcome.answer or b"")[0])
    assert (reply.id, reply.encrypted, reply.sequence, reply.account) == ("ACK", True, "0011", "ABCD")
    assert dc09.read_content(reply, AES).timestamp == NOW.replace(microsecond=0)


@pytest.mark.parametrize(("body", "why"), [
    ('"SIA-DCS"0001R0L0#5555[#5555|NBA1]', "unknown account"),
    ('"SIA-DCS"0001R0L0[]', "unknown account"),
    ('"SIA-DCS"0001R0L0#1234[#1234|NXX]junk', "unreadable"),
    ('"SIA-DCS"0001R0L0#1234[#1234|Nri1/]', "no SIA event code"),
    ('"ADM-CID"0001R0L0#1234[#1234|9999]', "not a Contact ID body"),
    ('"SIA-DCS"0001R0L0#ABCD[#ABCD|NBA1]', "encrypted frames only"),
    ('"*SIA-DCS"0001R0L0#1234[00112233445566778899AABBCCDDEEFF]', "clear frames only"),
    ('"*SIA-DCS"0001R0L0#ABCD[0011', "whole AES blocks"),
    ('"*SIA-DCS"0001R0L0#ABCD[zz112233445566778899AABBCCDDEEFF]', "not hex"),
    ('"HELLO"0001R0L0#1234[]', "unknown message id"),
    ('garbage', "header"),
])
def test_duh(body: str, why: str) -> None:
    outcome = handle(handler(), body)
    assert (outcome.kind, outcome.event) == ("DUH", None)
    assert why in outcome.detail


def test_a_wrong_key_gets_duh() -> None:
    cipher = dc09.encrypt("FF" * 16, f"Nri1/FA2]{stamp()}")
    outcome = handle(handler(), f'"*SIA-DCS"0011R0L0#ABCD[{cipher}')
    assert (outcome.kind, outcome.event) == ("DUH", None)
    assert b"None" not in (outcome.answer or b"")


@pytest.mark.parametrize(("offset_s", "kind"), [(-41, "NAK"), (-39, "ACK"), (19, "ACK"), (21, "NAK")])
def test_the_time_window(offset_s: int, kind: str) -> None:
    outcome = handle(handler(), f'"SIA-DCS"0001R0L0#1234[#1234|NBA1]{stamp(NOW + timedelta(seconds=offset_s))}')
    assert outcome.kind == kind
    if kind == "NAK":
        assert outcome.answer == dc09.nak(NOW) and outcome.event is None


def test_null_polls_go_on_at_most_once_a_minute_each_with_its_own_id() -> None:
    h = handler()
    first = handle(h, '"NULL"0000R0L0#1234[]')
    soon = handle(h, '"NULL"0000R0L0#1234[]', NOW + timedelta(seconds=30))
    later = handle(h, '"NULL"0000R0L0#1234[]', NOW + timedelta(seconds=61))
    assert [o.kind for o in (first, soon, later)] == ["ACK", "ACK", "ACK"]
    assert first.event is not None and later.event is not None and soon.event is None
    assert (first.event.code, first.event.qualifier, first.poll) == (602, 1, "acct-1234")
    assert first.event.event_id != later.event.event_id


def test_an_unpublished_poll_is_forwarded_again() -> None:
    h = handler()
    first = handle(h, '"NULL"0000R0L0#1234[]')
    h.poll_unpublished("acct-1234", NOW)
    assert handle(h, '"NULL"0000R0L0#1234[]', NOW + timedelta(seconds=5)).event is not None
    assert first.event is not None


def test_the_alert_title_names_an_unmapped_sia_code() -> None:
    city = City(zones=[Zone(id="z", polygon=[[0, 0], [1, 0], [1, 1]])], panels=PANELS)
    event = handle(handler(), f'"SIA-DCS"0001R0L0#1234[#1234|Nri1/ZX12]{stamp()}').event
    assert event is not None
    engine = RuleEngine(city, Rules())
    admitted = zone_event(city, event, NOW)
    assert admitted is not None
    outcome = engine.evaluate(engine.new_state("z", NOW), admitted, NOW)
    assert [a.title for a in outcome.alerts] == ["System trouble (300, SIA ZX): panel acct-1234, zone 12"]


def test_an_encrypted_frame_speaks_only_for_the_account_inside_its_encryption() -> None:
    shared = [*PANELS, Panel(id="acct-twin", zone="z", account="ABCE", dc09_key=AES)]  # the same key
    cipher = dc09.encrypt(AES, f"#ABCD|Nri1/PA]{stamp()}")
    assert handle(FrameHandler(shared), f'"*SIA-DCS"0011R0L0#ABCD[{cipher}').kind == "ACK"
    relabelled = handle(FrameHandler(shared), f'"*SIA-DCS"0011R0L0#ABCE[{cipher}')
    assert (relabelled.kind, relabelled.event) == ("DUH", None), "ABCD's frame cannot speak for ABCE"
    unnamed = dc09.encrypt(AES, f"Nri1/PA]{stamp()}")
    assert handle(FrameHandler(shared), f'"*SIA-DCS"0011R0L0#ABCD[{unnamed}').kind == "DUH", "nothing to bind"
    poll = dc09.encrypt(AES, f"#ABCD|]{stamp()}")
    assert handle(FrameHandler(shared), f'"*NULL"0011R0L0#ABCE[{poll}').kind == "DUH"
    assert handle(handler(), '"SIA-DCS"0003R0L0#1234[#9876|NBA3]').kind == "DUH", "clear frames too"


def test_an_encrypted_frame_replayed_with_a_new_clear_sequence_is_the_same_event() -> None:
    cipher = dc09.encrypt(AES, f"#ABCD|Nri1/PA]{stamp()}")
    h = handler()
    events = [handle(h, f'"*SIA-DCS"{sequence}R0L0#ABCD[{cipher}', NOW + timedelta(seconds=n * 10)).event
              for n, sequence in enumerate(("0011", "0012", "0999"))]
    assert all(e is not None for e in events) and len({e.event_id for e in events if e}) == 1
    later = dc09.encrypt(AES, f"#ABCD|Nri1/PA]{stamp(NOW + timedelta(seconds=30))}")
    again = handle(h, f'"*SIA-DCS"0013R0L0#ABCD[{later}', NOW + timedelta(seconds=30)).event
    assert again is not None and again.event_id != events[0].event_id, "the panel's next panic is another event"


def test_clear_frames_are_refused_from_panels_that_have_a_dc09_key_or_a_key_without_dc09_clear() -> None:
    for body in ('"SIA-DCS"0003R0L0#ABCD[#ABCD|NPA]', '"NULL"0003R0L0#ABCD[]',
                 '"SIA-DCS"0003R0L0#5151[#5151|NPA]', '"NULL"0003R0L0#5151[]'):
        outcome = handle(handler(), body)
        assert (outcome.kind, outcome.event) == ("DUH", None), body
    assert handle(handler(), '"SIA-DCS"0003R0L0#1234[#1234|NPA]').kind == "ACK", "a panel without a key"


def test_a_non_ascii_account_gets_duh_not_an_exception() -> None:
    for body in ('"SIA-DCS"0003R0L0#Ñ12[#Ñ12|NPA]'.encode("latin-1"), '"SIA-DCS"0003R0L0[#Ñ12|NPA]'.encode("latin-1"),
                 b'"SIA-DCS"0003R0L0#\x01[]'):
        assert dc09.answer_kind(handler().handle(body, NOW).answer or b"") == "DUH", body


# -- fuzz ----------------------------------------------------------------------------------------

SEEDS = [
    dc09.frame(f'"SIA-DCS"0007R1L1#1234[#1234|Nri1/BA5]{stamp()}'),
    dc09.frame('"ADM-CID"0008L0#1234[#1234|1130 01 015]'),
    dc09.frame('"NULL"0000R0L0#1234[]'),
    dc09.frame(f'"*SIA-DCS"0011R0L0#ABCD[{dc09.encrypt(AES, "#ABCD|Nri1/FA2]" + stamp())}'),
    dc09.frame(f'"*NULL"0011R0L0#ABCD[{dc09.encrypt(AES, "]" + stamp())}'),
]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        action = draw(st.sampled_from(["flip", "drop", "insert"]))
        if action == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif action == "drop" and data:
            del data[at]
        else:
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
    return bytes(data)


def _answers(h: FrameHandler, stream: bytes, cuts: list[int]) -> list[str]:
    framer = Framer(max_buffer=4096)
    kinds = []
    last = 0
    for cut in [*sorted(c % (len(stream) + 1) for c in cuts), len(stream)]:
        try:
            bodies = framer.feed(stream[last:cut])
        except dc09.FrameOverflow:
            return kinds
        last = cut
        for body in bodies:
            outcome = h.handle(body, NOW)
            assert outcome.kind in ("ACK", "NAK", "DUH")
            if outcome.answer is not None:
                assert Framer().feed(outcome.answer), "every answer is a well-formed frame"
                assert b"None" not in outcome.answer
            kinds.append(outcome.kind)
    return kinds


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(mutated(), min_size=1, max_size=4), st.lists(st.integers(0, 10_000), max_size=5))
def test_mutated_frames_never_raise(frames: list[bytes], cuts: list[int]) -> None:
    _answers(handler(), b"".join(frames), cuts)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600), st.lists(st.integers(0, 10_000), max_size=5))
def test_random_bytes_never_raise(stream: bytes, cuts: list[int]) -> None:
    _answers(handler(), b"\n" + stream, cuts)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from('"*SIADCMNUL-0123456789ABCDEFRL#[]|_:,/ abcdefnri'), max_size=80))
def test_random_well_framed_bodies_never_raise(body: str) -> None:
    assert _answers(handler(), dc09.frame(body), []) in ([], ["ACK"], ["NAK"], ["DUH"])


def test_the_unmutated_seeds_are_acked() -> None:
    assert _answers(handler(), b"".join(SEEDS), []) == ["ACK"] * len(SEEDS)
