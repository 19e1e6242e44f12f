"""How the simulator's devices reach Centinela the way real ones do (contract section 7):
alarm panels speak SIA DC-09 to the receiver, over TCP or UDP, some encrypted, those with a
short supervision polling with NULL; beepers with a key, and panels with a key that may not send
clear DC-09 frames (no `dc09_key`, no `dc09_clear`), POST to ingestion. Camera motion
and beepers without a key publish to Kafka, as detectors and beeper gateways do.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from collections import Counter
from typing import TYPE_CHECKING

from alert_rules.city import City, Panel
from deploy.simulate import KEEPALIVE_BELOW_S, TEST_CODE
from receivers import dc09
from receivers.signals import SIA_TO_CONTACT_ID
from vocabulary import topics
from vocabulary.events import parse_timestamp

if TYPE_CHECKING:
    from centinela.demo_commands import KafkaSink
    from deploy.simulate import Outgoing

ANSWER_TIMEOUT_S = 10.0  # a real panel waits about this long before it retransmits
TCP_LINKS = 4  # communicators sharing the receiver; panels are spread over them
CONTACT_ID_TO_SIA = {cid: sia for sia, cid in SIA_TO_CONTACT_ID.items()}


class Dc09Link:
    """One TCP connection to the receiver, or UDP datagrams: a frame out, its answer back."""

    def __init__(self, address: tuple[str, int], udp: bool = False) -> None:
        self.address = address
        self.udp = udp
        self._sock: socket.socket | None = None
        self._framer = dc09.Framer()
        self._answers: list[bytes] = []

    def exchange(self, frame: bytes) -> bytes | None:
        """The answer's body, or None when none came: the frame is retransmitted once, as panels do."""
        for _ in range(2):
            try:
                return self._exchange_once(frame)
            except OSError:
                self.close()
        return None

    def _exchange_once(self, frame: bytes) -> bytes:
        if self._sock is None:
            if self.udp:
                self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                self._sock.connect(self.address)
            else:
                self._sock = socket.create_connection(self.address, timeout=ANSWER_TIMEOUT_S)
            self._framer = dc09.Framer()
        self._sock.settimeout(ANSWER_TIMEOUT_S)
        self._sock.sendall(frame)
        deadline = time.monotonic() + ANSWER_TIMEOUT_S
        while not self._answers:
            self._sock.settimeout(max(deadline - time.monotonic(), 0.01))
            data = self._sock.recv(4096)
            if not data:
                raise ConnectionResetError("the receiver closed the connection")
            self._answers += self._framer.feed(data)
        return self._answers.pop(0)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._answers.clear()


def dc09_frame(panel: Panel, value: dict[str, object], sequence: int, now_text: str, sia_style: bool,
               poll: bool) -> bytes:
    """The DC-09 frame a panel sends for a simulated AlarmSignal (or a NULL poll)."""
    account = panel.account or panel.id
    qualifier, code, group, zone = (int(str(value[k])) for k in ("qualifier", "code", "group", "zone"))
    sia = CONTACT_ID_TO_SIA.get((code, qualifier))
    if poll:
        kind, data = "NULL", ""
    elif sia_style and sia is not None:
        kind, data = "SIA-DCS", f"Nri{group}/{sia}{zone:03d}"
    else:
        kind, data = "ADM-CID", f"{qualifier}{code:03d} {group:02d} {zone:03d}"
    header = f"{sequence:04d}R1L1#{account}"
    body = f"#{account}|{data}" if data else ""
    if panel.dc09_key:  # the account inside the encryption too: it is the one the key vouches for
        return dc09.frame(f'"*{kind}"{header}[{dc09.encrypt(panel.dc09_key, body + "]" + now_text)}')
    return dc09.frame(f'"{kind}"{header}[{body}]{now_text}')


class ReceiverSink:
    """Sends each simulated message by the device's own path; `counts` says how many went each way."""

    def __init__(self, city: City, kafka: KafkaSink, dc09_address: tuple[str, int], ingest_url: str,
                 first_sequence: int = 1) -> None:
        self._kafka = kafka
        self._panels = {panel.id: (index, panel) for index, panel in enumerate(city.panels)}
        self._beeper_keys = {beeper.id: beeper.key for beeper in city.beepers}
        self._tcp = [Dc09Link(dc09_address) for _ in range(TCP_LINKS)]
        self._udp = Dc09Link(dc09_address, udp=True)
        self._ingest_url = ingest_url
        self._sequence = first_sequence
        self.counts: Counter[str] = Counter()
        self.refused = 0

    @property
    def failed(self) -> int:
        return self._kafka.failed + self.refused

    def send(self, message: Outgoing) -> None:
        if message.topic == topics.ALARMS and message.key in self._panels:
            panel = self._panels[message.key][1]
            if panel.key and not panel.dc09_key and not panel.dc09_clear:  # its clear DC-09 frames would get DUH
                self._post(message, "alarms")
            else:
                self._send_dc09(message)
        elif message.topic == topics.BEEPS and self._beeper_keys.get(message.key):
            self._post(message, "beeps")
        else:
            self._kafka.send(message)
            self.counts["kafka"] += 1

    def close(self) -> None:
        for link in (*self._tcp, self._udp):
            link.close()
        self._kafka.close()

    def _send_dc09(self, message: Outgoing) -> None:
        index, panel = self._panels[message.key]
        poll = (message.value["code"] == TEST_CODE and panel.supervision_s is not None
                and panel.supervision_s < KEEPALIVE_BELOW_S)
        self._sequence = self._sequence % 9999 + 1
        sent_at = parse_timestamp(str(message.value["ts"]))
        frame = dc09_frame(panel, message.value, self._sequence, dc09.format_timestamp(sent_at),
                           sia_style=index % 2 == 1, poll=poll)
        udp = index % 5 == 2
        link = self._udp if udp else self._tcp[index % TCP_LINKS]
        answer = link.exchange(frame)
        kind = dc09.answer_kind(answer) if answer else "none"
        self.counts[f"dc09 {'udp' if udp else 'tcp'}{' encrypted' if panel.dc09_key else ''} {kind}"] += 1
        if kind != "ACK":
            self.refused += 1

    def _post(self, message: Outgoing, path: str) -> None:
        status = post_json(f"{self._ingest_url}/v1/{path}", message.value)
        self.counts[f"http {status or 'unreachable'}"] += 1
        if status != 202:
            self.refused += 1


def post_json(url: str, value: object) -> int:
    """The HTTP status of a JSON POST; 0 when nothing answered."""
    request = urllib.request.Request(url, data=json.dumps(value).encode(), method="POST",
                                     headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=ANSWER_TIMEOUT_S) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
    except (urllib.error.URLError, OSError):
        return 0


def wait_for_ingestion(url: str, timeout_s: float) -> bool:
    """True once ingestion answers (the receiver binds DC-09 before it serves HTTP)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url + "/", timeout=2).close()
            return True
        except urllib.error.HTTPError:
            return True  # its JSON 404: it is serving
        except (urllib.error.URLError, OSError):
            time.sleep(0.3)
    return False
