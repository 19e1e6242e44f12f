"""For the machines that watch the center: /healthz and /metrics (no token); and the console page."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from center.errors import documented
from center.running import Running

router = APIRouter()
STATIC = Path(__file__).resolve().parent.parent / "static"


@router.get("/healthz", responses=documented(503))
async def healthz(center: Running) -> JSONResponse:
    problems = []
    try:
        await asyncio.wait_for(center.redis.ping(), 1.0)
    except Exception as error:  # any failure means unreachable
        problems.append(f"redis unreachable ({type(error).__name__})")
    if center.producer is None:
        problems.append("kafka unreachable")
    else:
        try:
            await asyncio.wait_for(center.producer.client.fetch_all_metadata(), 1.0)
        except Exception as error:  # any failure means unreachable
            problems.append(f"kafka unreachable ({type(error).__name__})")
    if problems:
        return JSONResponse({"error": "; ".join(problems)}, status_code=503)
    return JSONResponse({"status": "ok", "feed": "consuming" if center.feed.consuming.is_set() else "starting"})


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
async def metrics(center: Running) -> Response:
    return Response(await center.metrics.render(center.views), media_type=CONTENT_TYPE_LATEST)


@router.get("/", include_in_schema=False)
async def console() -> FileResponse:
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})
