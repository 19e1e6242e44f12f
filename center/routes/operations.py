"""For the machines that watch the center: /healthz and /metrics (no token); and the console page."""

from __future__ import annotations

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
    """The latest health sample (taken every `health.sample_s`): cheap to poll every second."""
    sample = await center.health.current()
    body = {"status": sample.status, "components": {name: c.body() for name, c in sample.components.items()}}
    return JSONResponse(body, status_code=503 if sample.status == "down" else 200)


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
async def metrics(center: Running) -> Response:
    return Response(await center.metrics.render(center.views, center.health.latest), media_type=CONTENT_TYPE_LATEST)


@router.get("/", include_in_schema=False)
async def console() -> FileResponse:
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})
