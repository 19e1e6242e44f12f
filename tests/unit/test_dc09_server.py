"""The DC-09 server's own rules over loopback sockets, with the broker replaced by a list:
ACK only after the event was taken, nothing when it was not, and the connection limits.
(tests/integration/test_receivers.py runs it against the real broker.)"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import Awaitable, Callable

import pytest

from alert_rules.city import Panel
from receivers import dc09
from receivers.dc09_server import Dc09Server
from receivers.handling import FrameHandler
from receivers.settings import IngestSettings

PANELS = [Panel(id="acct-1", zone="z", account="1234")]
FRAME = dc09.frame('"ADM-CID"0001R0L0#1234[#1234|1130 01 015]')
POLL = dc09.frame('"NULL"0002R0L0#1234[]')


class Broker:
    """Takes events into `taken`, or refuses them while `down`; `gate` holds them until set."""

    def __init__(self) -> None:
        self.taken: list[tuple[str, str, dict[str, object]]] = []
        self.down = False
        self.gate = asyncio.Event()
        self.gate.set()

    async def publish(self, topic: str, key: str, value: bytes) -> None:
        await self.gate.wait()
        if self.down:
            raise ConnectionError("broker down")
        self.taken.append((topic, key, json.loads(value)))


Scenario = Callable[[Dc09Server, Broker], Awaitable[None]]


def run(scenario: Scenario, **settings: object) -> None:
    async def main() -> None:
        broker = Broker()
        server = Dc09Server(FrameHandler(PANELS), broker.publish, IngestSettings.model_validate(settings))
        await server.start("127.0.0.1", 0)
        try:
            await asyncio.wait_for(scenario(server, broker), 20)
        finally:
            await server.close()

    asyncio.run(main())


async def exchange(port: int, data: bytes, answers: int = 1) -> list[bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    framer = dc09.Framer()
    found: list[bytes] = []
    while len(found) < answers:
        chunk = await reader.read(4096)
        if not chunk:
            break
        found += framer.feed(chunk)
    writer.close()
    return found


def test_the_ack_waits_for_the_broker() -> None:
    async def scenario(server: Dc09Server, broker: Broker) -> None:
        broker.gate.clear()
        answer = asyncio.create_task(exchange(server.port, FRAME))
        await asyncio.sleep(0.3)
        assert not answer.done() and broker.taken == []
        broker.gate.set()
        assert await answer == [b'"ACK"0001R0L0#1234[]']
        [(topic, key, event)] = broker.taken
        assert (topic, key, event["code"], event["zone"]) == ("devices.alarms", "acct-1", 130, 15)

    run(scenario)


def test_no_answer_when_the_broker_does_not_take_the_event_and_the_poll_is_forwarded_again() -> None:
    async def scenario(server: Dc09Server, broker: Broker) -> None:
        broker.down = True
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(FRAME + POLL)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(reader.read(4096), 0.5)
        writer.close()
        broker.down = False
        assert await exchange(server.port, POLL) == [b'"ACK"0002R0L0#1234[]']
        assert [event["code"] for _, _, event in broker.taken] == [602]
        assert server.counts["unpublished"] == 2

    run(scenario)


def test_udp_is_answered_on_the_same_port() -> None:
    async def scenario(server: Dc09Server, broker: Broker) -> None:
        loop = asyncio.get_running_loop()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            await loop.sock_connect(sock, ("127.0.0.1", server.port))
            await loop.sock_sendall(sock, FRAME)
            answer = await loop.sock_recv(sock, 4096)
        assert dc09.Framer().feed(answer) == [b'"ACK"0001R0L0#1234[]']

    run(scenario)


def test_connections_over_the_limit_are_closed() -> None:
    async def scenario(server: Dc09Server, broker: Broker) -> None:
        first = await asyncio.open_connection("127.0.0.1", server.port)
        second = await asyncio.open_connection("127.0.0.1", server.port)
        assert await asyncio.wait_for(second[0].read(), 5) == b""  # closed at once
        first[1].write(FRAME)
        assert dc09.Framer().feed(await first[0].read(4096)) == [b'"ACK"0001R0L0#1234[]']
        first[1].close()
        assert server.counts["refused"] == 1

    run(scenario, dc09_max_connections=1)


def test_idle_and_overflowing_connections_are_closed() -> None:
    async def scenario(server: Dc09Server, broker: Broker) -> None:
        idle = await asyncio.open_connection("127.0.0.1", server.port)
        assert await asyncio.wait_for(idle[0].read(), 5) == b""
        flood = await asyncio.open_connection("127.0.0.1", server.port)
        flood[1].write(b"\n0000" + b"0800" + b'"' + b"x" * 2000)  # a header promising more than the buffer holds
        assert await asyncio.wait_for(flood[0].read(), 5) == b""
        assert (server.counts["idle"], server.counts["overflow"]) == (1, 1)
        assert await exchange(server.port, FRAME) == [b'"ACK"0001R0L0#1234[]']

    run(scenario, dc09_idle_s=0.5, dc09_max_buffer_bytes=1024)


def test_connections_over_the_limit_of_one_address_are_closed() -> None:
    async def scenario(server: Dc09Server, broker: Broker) -> None:
        kept = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(2)]
        third = await asyncio.open_connection("127.0.0.1", server.port)
        assert await asyncio.wait_for(third[0].read(), 5) == b""  # closed at once: 127.0.0.1 holds two
        kept[1][1].write(FRAME)
        assert dc09.Framer().feed(await kept[1][0].read(4096)) == [b'"ACK"0001R0L0#1234[]']
        for _, writer in kept:
            writer.close()
        await asyncio.sleep(0.1)
        assert await exchange(server.port, FRAME) == [b'"ACK"0001R0L0#1234[]'], "a closed connection frees its place"
        assert server.counts["refused"] == 1

    run(scenario, dc09_max_per_address=2)


def test_a_connection_that_trickles_bytes_without_completing_a_frame_is_closed_when_idle() -> None:
    async def scenario(server: Dc09Server, broker: Broker) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        started = asyncio.get_running_loop().time()
        closed = asyncio.create_task(reader.read())
        for byte in FRAME[:-1]:  # one byte every 0.1 s: never a whole frame within dc09_idle_s
            if closed.done():
                break
            writer.write(bytes([byte]))
            await asyncio.sleep(0.1)
        assert await asyncio.wait_for(closed, 5) == b""
        assert asyncio.get_running_loop().time() - started < 2 and server.counts["idle"] == 1

    run(scenario, dc09_idle_s=0.8)


def test_frames_beyond_a_panels_rate_are_nakked_and_counted() -> None:
    async def scenario(server: Dc09Server, broker: Broker) -> None:
        frames = [dc09.frame(f'"ADM-CID"000{n}R0L0#1234[#1234|1130 01 015]') for n in range(1, 5)]
        answers = await exchange(server.port, b"".join(frames), answers=4)
        assert [dc09.answer_kind(b"\n" + a) for a in answers] == ["ACK", "ACK", "ACK", "NAK"]
        assert len(broker.taken) == 3 and server.counts["rate_limited"] == 1

    async def main() -> None:
        broker = Broker()
        settings = IngestSettings(dc09_per_panel_per_min=3)
        server = Dc09Server(FrameHandler(PANELS, per_panel_per_min=3), broker.publish, settings)
        await server.start("127.0.0.1", 0)
        try:
            await asyncio.wait_for(scenario(server, broker), 20)
        finally:
            await server.close()

    asyncio.run(main())


def test_duh_is_logged_at_debug_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario(server: Dc09Server, broker: Broker) -> None:
        unknown = dc09.frame('"ADM-CID"0001R0L0#9999[#9999|1130 01 015]')
        assert [dc09.answer_kind(b"\n" + a) for a in await exchange(server.port, unknown * 3, answers=3)] == ["DUH"] * 3
        assert server.counts["DUH"] == 3

    with caplog.at_level(logging.INFO, logger="centinela.receivers"):
        run(scenario)
    assert not [r for r in caplog.records if "DUH" in r.getMessage()], "nothing at INFO for what anyone can send"
