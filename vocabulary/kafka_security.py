"""Kafka security settings (contract section 9), read once from the environment and
turned into the keyword arguments of each client library we use.

CENTINELA_KAFKA_SECURITY: PLAINTEXT (default), SSL, SASL_PLAINTEXT or SASL_SSL;
CENTINELA_KAFKA_SASL_MECHANISM: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512;
CENTINELA_KAFKA_USERNAME, CENTINELA_KAFKA_PASSWORD; CENTINELA_KAFKA_CA: a CA file (PEM).
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vocabulary.errors import ConfigError

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


@dataclass(frozen=True)
class KafkaSecurity:
    protocol: str = "PLAINTEXT"
    mechanism: str | None = None
    username: str | None = None
    password: str | None = None
    ca: str | None = None

    def __repr__(self) -> str:  # never the password, wherever this is printed
        return f"KafkaSecurity(protocol={self.protocol!r}, mechanism={self.mechanism!r}, username={self.username!r})"

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> KafkaSecurity:
        env = os.environ if environ is None else environ
        protocol = env.get("CENTINELA_KAFKA_SECURITY", "PLAINTEXT").strip().upper() or "PLAINTEXT"
        mechanism = env.get("CENTINELA_KAFKA_SASL_MECHANISM", "").strip().upper() or None
        settings = cls(protocol, mechanism, env.get("CENTINELA_KAFKA_USERNAME") or None,
                       env.get("CENTINELA_KAFKA_PASSWORD") or None, env.get("CENTINELA_KAFKA_CA") or None)
        problems = settings.problems()
        if problems:
            raise ConfigError(problems)
        return settings

    def problems(self) -> list[str]:
        found = []
        if self.protocol not in PROTOCOLS:
            found.append(f"CENTINELA_KAFKA_SECURITY: {self.protocol!r} is not one of {', '.join(PROTOCOLS)}")
        if self.sasl:
            if self.mechanism not in MECHANISMS:
                found.append(f"CENTINELA_KAFKA_SASL_MECHANISM: {self.mechanism!r} is not one of {', '.join(MECHANISMS)}")
            if not self.username or not self.password:
                found.append("CENTINELA_KAFKA_USERNAME and CENTINELA_KAFKA_PASSWORD are needed with SASL")
        if self.ca and not os.path.isfile(self.ca):
            found.append(f"CENTINELA_KAFKA_CA: {self.ca}: no such file")
        return found

    @property
    def sasl(self) -> bool:
        return self.protocol.startswith("SASL")

    @property
    def tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    def ssl_context(self) -> ssl.SSLContext | None:
        return ssl.create_default_context(cafile=self.ca) if self.tls else None

    def client(self) -> dict[str, Any]:
        """For aiokafka's and kafka-python's producers, consumers and admin clients (same names in both)."""
        kwargs: dict[str, Any] = {"security_protocol": self.protocol}
        if self.tls:
            kwargs["ssl_context"] = self.ssl_context()
        if self.sasl:
            kwargs.update(sasl_mechanism=self.mechanism, sasl_plain_username=self.username,
                          sasl_plain_password=self.password)
        return kwargs

    def producer(self) -> dict[str, Any]:
        """For every producer (aiokafka and kafka-python): acks=all with idempotence (contract section 11),
        so a send retried after a lost acknowledgement is written once."""
        return {**self.client(), "acks": "all", "enable_idempotence": True}

    def environment(self) -> dict[str, str]:
        """These settings as the environment variables `from_environment` reads."""
        found = {"CENTINELA_KAFKA_SECURITY": self.protocol, "CENTINELA_KAFKA_SASL_MECHANISM": self.mechanism,
                 "CENTINELA_KAFKA_USERNAME": self.username, "CENTINELA_KAFKA_PASSWORD": self.password,
                 "CENTINELA_KAFKA_CA": self.ca}
        return {name: value for name, value in found.items() if value}

    def faust(self) -> dict[str, Any]:
        """For faust.App: `broker_credentials` (imported here: only the stream workers have Faust)."""
        if self.protocol == "PLAINTEXT":
            return {}
        from faust.auth import SASLCredentials, SSLCredentials

        if self.sasl:
            return {"broker_credentials": SASLCredentials(
                username=self.username, password=self.password, mechanism=self.mechanism,
                ssl_context=self.ssl_context())}
        context = self.ssl_context()
        assert context is not None
        return {"broker_credentials": SSLCredentials(context)}
