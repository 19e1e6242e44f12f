"""Credentials never reach a log: URLs are written without their user and password."""

from __future__ import annotations

import re

_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/@\s]*)@")


def redacted(text: object) -> str:
    """`text` with every URL's `user:password@` replaced by `***@` (rtsp://, redis://, http://...)."""
    return _USERINFO.sub(lambda m: f"{m['scheme']}***@", str(text))
