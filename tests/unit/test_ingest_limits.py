"""Ingestion's limits alone: the body limit middleware and the per-device rate."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from receivers.limits import RateLimit
from vocabulary.http_limits import BodyLimit


def app(limit: int) -> TestClient:
    made = FastAPI()
    made.add_middleware(BodyLimit, limit=limit)
    reached: list[int] = []

    @made.post("/")
    async def echo(request: Request) -> dict[str, int]:
        reached.append(1)
        return {"size": len(await request.body())}

    client = TestClient(made)
    client.reached = reached  # type: ignore[attr-defined]
    return client


def test_bodies_up_to_the_limit_pass_and_larger_ones_get_413_before_the_handler() -> None:
    client = app(100)
    assert client.post("/", content=b"x" * 100).json() == {"size": 100}
    refused = client.post("/", content=b"x" * 101)
    assert (refused.status_code, list(refused.json())) == (413, ["error"])
    assert client.reached == [1]  # type: ignore[attr-defined]


def test_a_streamed_body_without_length_is_counted() -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(5):
            yield b"x" * 30

    refused = app(100).post("/", content=chunks())
    assert refused.status_code == 413


def test_a_lying_content_length_is_refused() -> None:
    assert app(100).post("/", content=b"x", headers={"content-length": "nope"}).status_code == 413


def test_rate_per_device_in_a_sliding_minute() -> None:
    now = [0.0]
    rate = RateLimit(2, clock=lambda: now[0])
    assert [rate.allow("a"), rate.allow("a"), rate.allow("a"), rate.allow("b")] == [True, True, False, True]
    now[0] = 59.9
    assert not rate.allow("a")
    now[0] = 60.1
    assert rate.allow("a")
