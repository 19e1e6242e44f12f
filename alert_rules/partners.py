"""Partner agencies that take alerts in CAP 1.2 (contract section 16): the `cap:` and `partners:` sections.

Pure models: loading them from YAML is `centinela.config`'s job, sending is `partners/`'.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from vocabulary.events import Category, Id

HexKey = Annotated[str, StringConstraints(pattern=r"^([0-9a-fA-F]{2})+$")]
# CAP 1.2 (3.2.1): sender and identifier carry no spaces, commas, "<" or "&".
CapWord = Annotated[str, StringConstraints(pattern=r"^[^\s,<&]{1,200}$")]
LOOPBACK_NAMES = ("localhost",)


def _loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class CapSettings(BaseModel):
    """The `cap:` section: how the center signs its CAP messages and how hard it tries to deliver them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sender: CapWord = Field("centinela@localhost", description="CAP `sender`: the center's address, e.g. cot@tigre.gob.ar")
    language: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$")] = Field(
        "es", description="CAP `language` of the info block (RFC 3066), e.g. es or es-AR")
    restriction: Annotated[str, StringConstraints(min_length=1, max_length=500)] = Field(
        "For the receiving agency's dispatch only; do not forward.", description="CAP `restriction` (scope Restricted)")
    queue_max: int = Field(10_000, ge=10, le=1_000_000, description="undelivered messages kept per partner; "
                                                                    "beyond it a new message is dropped and counted")
    feed_max: int = Field(5_000, ge=10, le=1_000_000, description="messages kept per partner for its Atom feed (24 h)")
    give_up_s: float = Field(86_400.0, gt=0, description="a message still undelivered this long after it was queued "
                                                         "is dropped and counted")
    retry_first_s: float = Field(1.0, gt=0, le=3600, description="wait before the first retry; doubled at each failure")
    retry_max_s: float = Field(300.0, gt=0, le=3600, description="the longest wait between two attempts")
    timeout_s: float = Field(10.0, gt=0, le=120, description="one POST's limit (connect, send, answer)")


class Partner(BaseModel):
    """One agency (police, firefighters, ambulances) of the `partners:` section."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Id
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    url: str = Field(description="where its CAP messages are POSTed: https, or http to this machine only")
    key: HexKey = Field(repr=False, description="hex HMAC key that signs every POST")
    token: Annotated[str, StringConstraints(min_length=16)] = Field(repr=False, description="its bearer token for "
                                                                                          "GET /cap/{id}/feed")
    categories: Annotated[list[Category], Field(min_length=1)] = Field(description="the categories it takes")
    max_priority: int = Field(5, ge=1, le=5, description="it takes alerts of this priority and more urgent (1)")
    include_address: bool = Field(False, description="the account's address goes into the area's description")

    @field_validator("url")
    @classmethod
    def _https_or_loopback(cls, url: str) -> str:
        parts = urlsplit(url)
        if (parts.scheme not in ("http", "https") or not parts.hostname or url != url.strip()
                or any(c.isspace() or ord(c) < 32 for c in url)):
            raise ValueError(f"{url!r} is not an https:// URL with a host")
        try:
            parts.port  # noqa: B018  # raises on a port that is not a number in range
        except ValueError as error:
            raise ValueError(f"{url!r}: {error}") from None
        if parts.scheme == "http" and not _loopback(parts.hostname):
            raise ValueError(f"{url!r}: must be https (plain http only to a loopback address such as 127.0.0.1)")
        return url

    def takes(self, category: str, priority: int) -> bool:
        return category in self.categories and priority <= self.max_priority
