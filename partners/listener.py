"""`centinela partners listen`: a partner agency's end for demos and rehearsals.

It takes the CAP messages Centinela POSTs, checks each signature exactly as docs/partners.md tells
an agency to, logs one line per message (never the area: it may hold an address or a location)
and, with `--save DIR`, keeps each document as `DIR/<identifier>.xml`. A bad or old signature is
answered 401 and logged; anything else that is not CAP, 400.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from pathlib import Path

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from lxml import etree

from alert_rules.partners import Partner
from partners.cap import MEDIA_TYPE, NAMESPACE
from vocabulary.listening import bind
from vocabulary.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, delivery_signature

log = logging.getLogger("centinela.partners.listen")
MAX_AGE_S = 300  # a delivery signed longer ago than this is refused: it may be a replay
MAX_BODY = 64 * 1024


def signed(key_hex: str, timestamp: str, body: bytes, signature: str, now: float) -> bool:
    fresh = timestamp.isdigit() and abs(now - int(timestamp)) <= MAX_AGE_S
    return fresh and hmac.compare_digest(delivery_signature(key_hex, timestamp, body), signature)


def summary(document: etree._Element) -> str:
    def text(path: str) -> str:
        return document.findtext("/".join(f"{{{NAMESPACE}}}{part}" for part in path.split("/"))) or "-"

    references = text("references")
    return (f"{text('msgType')} {text('identifier')} ({text('status')}): {text('info/event')!r}, "
            f"{text('info/category')} {text('info/urgency')}/{text('info/severity')}/{text('info/certainty')}"
            + ("" if references == "-" else f", after {references.split(',')[1]}"))


def create_app(partner: Partner, save: Path | None = None) -> FastAPI:
    app = FastAPI(title=f"CAP receiver of {partner.name}", openapi_url=None)

    @app.post("/{path:path}")
    async def receive(request: Request) -> JSONResponse:
        body = await request.body()
        if len(body) > MAX_BODY:
            return JSONResponse({"error": "too large"}, status_code=413)
        timestamp = request.headers.get(TIMESTAMP_HEADER, "")
        if not signed(partner.key, timestamp, body, request.headers.get(SIGNATURE_HEADER, ""), time.time()):
            log.warning("refused a POST: missing, wrong or old signature")
            return JSONResponse({"error": "bad signature"}, status_code=401)
        if not request.headers.get("content-type", "").startswith(MEDIA_TYPE):
            return JSONResponse({"error": f"expected {MEDIA_TYPE}"}, status_code=415)
        try:
            document = etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True))
        except etree.XMLSyntaxError:
            return JSONResponse({"error": "not XML"}, status_code=400)
        if document.tag != f"{{{NAMESPACE}}}alert":
            return JSONResponse({"error": "not a CAP 1.2 alert"}, status_code=400)
        log.info("%s: signature ok: %s", partner.id, summary(document))
        if save is not None:
            identifier = document.findtext(f"{{{NAMESPACE}}}identifier") or "unknown"
            (save / f"{identifier.replace('/', '_')}.xml").write_bytes(body)
        return JSONResponse({"ok": True})

    return app


async def listen(partner: Partner, host: str, port: int, save: Path | None = None) -> None:
    """Serve until cancelled; raises Unavailable first if the port is taken."""
    sock = bind(host, port, "the CAP receiver")
    if save is not None:
        save.mkdir(parents=True, exist_ok=True)
    server = uvicorn.Server(uvicorn.Config(create_app(partner, save), log_level="warning", access_log=False,
                                           lifespan="off"))
    server.install_signal_handlers = lambda: None  # type: ignore[attr-defined]  # the caller owns signals
    log.info("receiving CAP 1.2 for partner %s on http://%s:%d/", partner.id, host, port)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await asyncio.shield(serving)
    except asyncio.CancelledError:
        server.should_exit = True
        await serving
        raise
    finally:
        sock.close()
