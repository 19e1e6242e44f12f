"""Where a Centinela server listens: "host:port" settings, and sockets bound before serving."""

from __future__ import annotations

import socket

from vocabulary.errors import Unavailable, UsageError


def parse_address(address: str, name: str) -> tuple[str, int]:
    """"host:port" (IPv6 as "[::1]:8080"); `name` says which setting it came from."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"{name}: expected host:port, got {address!r}")
    return host.strip("[]"), int(port)


def bind(host: str, port: int, who: str) -> socket.socket:
    """A listening TCP socket, bound before serving so that a taken port is a clear error, not a log line."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise Unavailable(f"{who} cannot listen on {host}:{port}: {error.strerror}") from None
    sock.listen(128)
    sock.setblocking(False)
    return sock
