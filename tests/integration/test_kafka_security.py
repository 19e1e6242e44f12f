"""What the embedded broker (Tansu 0.6.0) can show of SASL/SCRAM, with the clients as Centinela configures them.

Tansu registers SCRAM users only through its own Kafka API (`tansu user create`), which a broker
started with `--authentication` refuses to an unauthenticated client; with memory storage a user
created before a restart is gone after it. So no SCRAM user can exist on an embedded broker with
authentication on, and a successful SCRAM login cannot be tested here (docs/security.md). What
is tested: authentication on refuses clients without credentials, and our settings make the
client negotiate SCRAM, a mechanism the broker knows only with authentication on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError

from deploy.stack import LOOPBACK, Service, free_port, tansu_binary
from vocabulary.kafka_security import KafkaSecurity

pytestmark = pytest.mark.integration

SCRAM = {"CENTINELA_KAFKA_SECURITY": "SASL_PLAINTEXT", "CENTINELA_KAFKA_SASL_MECHANISM": "SCRAM-SHA-256",
         "CENTINELA_KAFKA_USERNAME": "centinela-center", "CENTINELA_KAFKA_PASSWORD": "not-registered"}


def broker(log: Path, authentication: bool) -> Iterator[str]:
    port = free_port()
    url = f"tcp://{LOOPBACK}:{port}"
    service = Service("broker", [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url,
                                 "--storage-engine", "memory://tansu/", *(["--authentication"] if authentication else [])],
                      LOOPBACK, port, log)
    service.start()
    try:
        yield f"{LOOPBACK}:{port}"
    finally:
        service.stop()


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from broker(tmp_path_factory.mktemp("sasl") / "tansu.log", authentication=True)


@pytest.fixture(scope="module")
def open_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from broker(tmp_path_factory.mktemp("plain") / "tansu.log", authentication=False)


def connect(kafka: str, environment: dict[str, str]) -> None:
    async def attempt() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=kafka, request_timeout_ms=3000,
                                    **KafkaSecurity.from_environment(environment).client())
        try:
            await asyncio.wait_for(producer.start(), 20)
        finally:
            await producer.stop()

    asyncio.run(attempt())


def test_with_authentication_on_a_client_without_credentials_is_refused(guarded: str) -> None:
    with pytest.raises(KafkaConnectionError):
        connect(guarded, {})


def test_our_scram_settings_negotiate_scram_which_only_the_guarded_broker_offers(
        guarded: str, open_broker: str, caplog: pytest.LogCaptureFixture) -> None:
    connect(open_broker, {})  # the open broker answers a client without credentials
    with caplog.at_level(logging.ERROR, logger="aiokafka"), pytest.raises(Exception):  # noqa: B017
        connect(open_broker, SCRAM)
    assert "UnsupportedSaslMechanism" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="aiokafka"), pytest.raises(Exception) as refused:
        connect(guarded, SCRAM)  # the mechanism is accepted; the unknown user's proof is not
    assert "UnsupportedSaslMechanism" not in caplog.text
    assert not isinstance(refused.value, asyncio.TimeoutError)
