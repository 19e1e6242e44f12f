"""A partner agency's HTTP endpoint for tests: a real socket server that checks every signature
(independently of the code that signs) and answers as told."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    body: bytes
    content_type: str
    timestamp: str
    signature: str
    answered: int
    signed: bool  # the signature verified under the partner's key


@dataclass
class PartnerEndpoint:
    key_hex: str
    answers: list[int] = field(default_factory=list)  # the next answers, in order; then 200
    only: bytes = b""  # the answers go only to bodies that hold these bytes (others get 200)
    delay_s: float = 0.0
    received: list[Received] = field(default_factory=list)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, timestamp: str, body: bytes, signature: str) -> bool:
        expected = hmac.new(bytes.fromhex(self.key_hex), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
        fresh = timestamp.isdigit() and abs(time.time() - int(timestamp)) < 300
        return fresh and hmac.compare_digest(f"sha256={expected}", signature)

    def delivered(self) -> list[Received]:
        """What it accepted (answered 2xx), in order."""
        with self.lock:
            return [r for r in self.received if 200 <= r.answered < 300]


@contextmanager
def partner_endpoint(key_hex: str, answers: list[int] | None = None, delay_s: float = 0.0,
                     only: bytes = b"") -> Iterator[PartnerEndpoint]:
    endpoint = PartnerEndpoint(key_hex, list(answers or []), only, delay_s)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            time.sleep(endpoint.delay_s)
            with endpoint.lock:
                status = endpoint.answers.pop(0) if endpoint.answers and endpoint.only in body else 200
                timestamp = self.headers.get("X-Centinela-Timestamp", "")
                signature = self.headers.get("X-Centinela-Signature", "")
                endpoint.received.append(Received(body, self.headers.get("Content-Type", ""), timestamp, signature,
                                                  status, endpoint.check(timestamp, body, signature)))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    endpoint.url = f"http://127.0.0.1:{server.server_address[1]}/cap"
    thread = threading.Thread(target=server.serve_forever, name="partner-endpoint", daemon=True)
    thread.start()
    try:
        yield endpoint
    finally:
        server.shutdown()
        server.server_close()
