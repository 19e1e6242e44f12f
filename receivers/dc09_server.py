"""The SIA DC-09 receiver: TCP and UDP on one port (contract section 7).

Each TCP connection has its own `Framer`, so frames are found whatever the segments; its
frames are answered in order, each ACK only after the broker acknowledged the event. A
connection is closed when it buffers too much without a complete frame, stays silent too
long, or would exceed the connection limit. Nothing a client sends reaches further than
its own connection: every failure ends in a log line, never in the server.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

from receivers.dc09 import FrameOverflow, Framer
from receivers.handling import FrameHandler, Outcome
from receivers.publisher import Publish
from receivers.settings import IngestSettings
from vocabulary import topics
from vocabulary.errors import Unavailable

log = logging.getLogger("centinela.receivers")

READ_BYTES = 4096
MAX_DATAGRAM_TASKS = 1000  # UDP frames being answered at once; more are dropped (the panel retries)


def utc_now() -> datetime:
    return datetime.now(UTC)


class Dc09Server:
    def __init__(self, handler: FrameHandler, publish: Publish, settings: IngestSettings,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.handler = handler
        self.settings = settings
        self.counts: Counter[str] = Counter()  # answers by kind, dropped frames, closed connections
        self._publish = publish
        self._clock = clock
        self._connections = 0
        self._per_address: Counter[str] = Counter()
        self._tcp: asyncio.Server | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._datagram_tasks: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        assert self._tcp is not None
        return int(self._tcp.sockets[0].getsockname()[1])

    async def start(self, host: str, port: int) -> None:
        """Listen on TCP and UDP `host:port` (port 0: a free one, the same for both)."""
        loop = asyncio.get_running_loop()
        try:
            self._tcp = await asyncio.start_server(self._connection, host, port, reuse_address=True)
            self._udp, _ = await loop.create_datagram_endpoint(
                lambda: _Datagrams(self), local_addr=(host, self.port), family=_family(host))
        except OSError as error:
            await self.close()
            raise Unavailable(f"the DC-09 receiver cannot listen on {host}:{port}: {error.strerror}") from None

    async def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
            await self._tcp.wait_closed()
        for task in list(self._datagram_tasks):
            task.cancel()

    async def answer(self, body: bytes) -> bytes | None:
        """The answer to one frame, after publishing its event; None when there is none to send."""
        now = self._clock()
        try:
            outcome = self.handler.handle(body, now)
            if outcome.event is not None and not await self._published(outcome, now):
                self.counts["unpublished"] += 1
                return None
        except Exception:  # a bug must cost one frame (the panel retransmits), never the server
            log.exception("receivers: DC-09 frame not handled")
            self.counts["failed"] += 1
            return None
        self.counts[outcome.kind] += 1
        if outcome.limited:
            self.counts["rate_limited"] += 1
        if outcome.kind == "DUH":  # anyone can send these: counted, and logged only when asked for
            log.debug("receivers: DC-09 DUH: %s", outcome.detail)
        elif outcome.kind != "ACK":
            log.info("receivers: DC-09 %s: %s", outcome.kind, outcome.detail)
        return outcome.answer

    async def _published(self, outcome: Outcome, now: datetime) -> bool:
        event = outcome.event
        assert event is not None
        try:
            await self._publish(topics.ALARMS, event.panel_id, event.model_dump_json(exclude_none=True).encode())
            return True
        except Exception as error:  # no ACK: the panel sends the frame again
            log.warning("receivers: the broker did not take %s from panel %s: %r", event.event_id, event.panel_id, error)
            if outcome.poll is not None:
                self.handler.poll_unpublished(outcome.poll, now)
            return False

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        address = str(peer[0]) if isinstance(peer, tuple) and peer else "?"
        if (self._connections >= self.settings.dc09_max_connections
                or self._per_address[address] >= self.settings.dc09_max_per_address):
            self.counts["refused"] += 1
            writer.close()
            return
        self._connections += 1
        self._per_address[address] += 1
        framer = Framer(max_buffer=self.settings.dc09_max_buffer_bytes)
        loop = asyncio.get_running_loop()
        idle_until = loop.time() + self.settings.dc09_idle_s  # moved only by a complete frame, not by a byte
        try:
            while data := await asyncio.wait_for(reader.read(READ_BYTES), max(0.0, idle_until - loop.time())):
                dropped = framer.dropped
                bodies = framer.feed(data)
                if bodies or framer.dropped > dropped:
                    idle_until = loop.time() + self.settings.dc09_idle_s
                for body in bodies:
                    answer = await self.answer(body)
                    if answer is not None:
                        writer.write(answer)
                        await asyncio.wait_for(writer.drain(), self.settings.dc09_idle_s)  # a peer that never reads
        except TimeoutError:
            self.counts["idle"] += 1
        except FrameOverflow:
            self.counts["overflow"] += 1
        except (ConnectionError, OSError):
            pass
        except Exception:
            log.exception("receivers: DC-09 connection failed")
        finally:
            self._connections -= 1
            self._per_address[address] -= 1
            if not self._per_address[address]:
                del self._per_address[address]
            self.counts["dropped"] += framer.dropped
            writer.close()

    def _datagram(self, data: bytes, address: tuple[str, int]) -> None:
        if len(self._datagram_tasks) >= MAX_DATAGRAM_TASKS:
            self.counts["refused"] += 1
            return
        framer = Framer(max_buffer=len(data) + 1)
        bodies = framer.feed(data)
        self.counts["dropped"] += framer.dropped
        for body in bodies:
            task = asyncio.create_task(self._answer_datagram(body, address))
            self._datagram_tasks.add(task)
            task.add_done_callback(self._datagram_tasks.discard)

    async def _answer_datagram(self, body: bytes, address: tuple[str, int]) -> None:
        answer = await self.answer(body)
        if answer is not None and self._udp is not None and not self._udp.is_closing():
            self._udp.sendto(answer, address)


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, server: Dc09Server) -> None:
        self._server = server

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            self._server._datagram(data, addr)
        except Exception:
            log.exception("receivers: DC-09 datagram failed")

    def error_received(self, exc: Exception) -> None:
        log.debug("receivers: UDP error %r", exc)


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET
