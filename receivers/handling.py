"""What the receiver does with one DC-09 frame: the answer, and the event to publish first.

Pure: no sockets, no broker, the time is given. The servers (`receivers.dc09_server`)
publish `Outcome.event` and send `Outcome.answer` only once the broker acknowledged it.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from alert_rules.city import Panel
from receivers import dc09
from receivers.dc09 import Message, Unreadable
from receivers.signals import Signal, adm_cid, sia_dcs
from vocabulary.events import AlarmSignal, format_timestamp
from vocabulary.signing import signature

PAST_S, FUTURE_S = 40, 20  # a frame's timestamp outside this window gets NAK
POLL_EVERY_S = 60  # at most one NULL poll a minute per panel goes on as an event
PERIODIC_TEST = Signal(qualifier=1, code=602, group=0, zone=0)


@dataclass(frozen=True)
class Outcome:
    """`answer` goes back to the panel (None: nothing); when there is an `event`, only after the
    broker acknowledged it. `poll` names the panel whose NULL poll the event is."""

    answer: bytes | None
    event: AlarmSignal | None = None
    poll: str | None = None
    detail: str = ""  # why, for the logs; never a key or a body
    limited: bool = False  # NAKed for the panel's rate

    @property
    def kind(self) -> str:
        """ACK, NAK or DUH (an encrypted *ACK is an ACK): what the answer is, for counting."""
        return dc09.answer_kind(self.answer) if self.answer else "none"


class FrameHandler:
    """Turns frames into outcomes for the configured panels, found by their account."""

    def __init__(self, panels: Iterable[Panel], pad: dc09.Pad = dc09.random_pad, per_panel_per_min: int = 120) -> None:
        self._by_account = {(panel.account or panel.id).upper(): panel for panel in panels}
        self._pad = pad
        self._rate = PanelRate(per_panel_per_min)
        self._last_poll: dict[str, datetime] = {}

    def handle(self, body: bytes, now: datetime) -> Outcome:
        """`body` is a frame whose CRC and length matched (`dc09.Framer`)."""
        try:
            message = dc09.parse_message(body)
        except Unreadable as error:
            return Outcome(dc09.duh(None), detail=str(error))
        if message.id not in dc09.IDS:
            return Outcome(dc09.duh(message), detail=f"unknown message id {message.id!r}")
        try:
            return self._handle(message, now)
        except Unreadable as error:
            return Outcome(dc09.duh(message), detail=str(error))

    def poll_unpublished(self, panel_id: str, at: datetime) -> None:
        """The broker did not take the poll forwarded at `at`: the panel's next poll goes on."""
        if self._last_poll.get(panel_id) == at:
            del self._last_poll[panel_id]

    def _handle(self, message: Message, now: datetime) -> Outcome:
        account = message.account
        content = None
        if not message.encrypted:
            content = dc09.read_content(message, None)
            account = account or content.account
        panel = self._by_account.get(account.upper()) if account else None
        if panel is None:
            return Outcome(dc09.duh(message, account), detail=f"unknown account {account!r}")
        refused = _refused(panel, message.encrypted)
        if refused:
            return Outcome(dc09.duh(message, account), detail=f"account {account!r}: {refused}")
        if content is None:
            content = dc09.read_content(message, panel.dc09_key)
        if content.account.upper() != account.upper() and (content.account or _names_inside(message)):
            # The account inside the encryption is the one the key vouches for: a panel sharing
            # another's key must not speak for it.
            return Outcome(dc09.duh(message, account), detail=f"account {account!r} names {content.account!r} inside")
        if content.timestamp is not None and not (
            now - timedelta(seconds=PAST_S) <= content.timestamp <= now + timedelta(seconds=FUTURE_S)
        ):
            return Outcome(dc09.nak(now), detail=f"timestamp {content.timestamp.isoformat()} out of the window")
        if not self._rate.allow(panel.id, now):  # the panel retransmits later; nothing is lost
            return Outcome(dc09.nak(now), detail=f"panel {panel.id} is over its rate", limited=True)
        ack = dc09.ack(message, account, now, panel.dc09_key, self._pad)
        if message.id == "NULL":
            last = self._last_poll.get(panel.id)
            if last is not None and now - last < timedelta(seconds=POLL_EVERY_S):
                return Outcome(ack, detail="poll within a minute of the last forwarded one")
            self._last_poll[panel.id] = now
            event_id = f"dc09-poll-{_digest(panel.id)[:16]}-{int(now.timestamp() * 1000)}"
            return Outcome(ack, alarm_signal(panel, event_id, now, PERIODIC_TEST), poll=panel.id)
        signal = adm_cid(content.body) if message.id == "ADM-CID" else sia_dcs(content.body)
        return Outcome(ack, alarm_signal(panel, event_id_of(panel, message, content), content.timestamp or now, signal))


def _refused(panel: Panel, encrypted: bool) -> str:
    """Why a panel's frame is refused for how it was sent, or ""."""
    if encrypted and not panel.dc09_key:
        return "sends clear frames only"
    if not encrypted and panel.dc09_key:
        return "sends encrypted frames only"
    if not encrypted and panel.key and not panel.dc09_clear:
        return "has a key: its clear frames would be signed as its own (set dc09_clear: true to accept them)"
    return ""


def _names_inside(message: Message) -> bool:
    """Whether the message's data must name its account: every encrypted one but a link test."""
    return message.encrypted and message.id != "NULL"


def event_id_of(panel: Panel, message: Message, content: dc09.Content) -> str:
    """One event_id per signal, however often its frame comes.

    A retransmission repeats account, sequence and content (not always the timestamp or the
    pad), so admission drops the repeat as a duplicate. An encrypted frame's id comes only from
    what the encryption covers (its content and timestamp): the clear sequence is anyone's to
    change, and a frame replayed within the timestamp window with a new one stays the same event.
    """
    if message.encrypted:
        assert content.timestamp is not None  # an encrypted frame must carry one (dc09.read_content)
        inside = f"{panel.id}|{message.id}|{content.body}|{content.timestamp.isoformat()}"
        return "dc09-" + _digest(inside)[:40]
    return "dc09-" + _digest(f"{panel.id}|{message.sequence}|{message.id}|{content.body}")[:40]


class PanelRate:
    """At most `per_minute` frames answered per panel in any sliding minute, by the frames' receipt time."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._seen: dict[str, deque[datetime]] = {}

    def allow(self, panel_id: str, now: datetime) -> bool:
        seen = self._seen.setdefault(panel_id, deque())
        while seen and seen[0] <= now - timedelta(minutes=1):
            seen.popleft()
        if len(seen) >= self.per_minute:
            return False
        seen.append(now)
        return True


def alarm_signal(panel: Panel, event_id: str, ts: datetime, signal: Signal) -> AlarmSignal:
    """The contract's AlarmSignal, signed with the panel's key where it has one (section 6)."""
    ts_text = format_timestamp(ts)
    sig = None
    if panel.key:
        sig = signature(panel.key, panel.id, event_id, ts_text, f"{signal.qualifier}{signal.code}")
    return AlarmSignal.model_validate({
        "event_id": event_id, "panel_id": panel.id, "ts": ts_text, "qualifier": signal.qualifier,
        "code": signal.code, "group": signal.group, "zone": signal.zone, "sig": sig, "sia": signal.sia,
    })


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
