"""Bearer tokens from the city's configuration, and what each role may do."""

from __future__ import annotations

import hmac

from alert_rules.city import City, Token
from center.errors import ApiError
from vocabulary.events import Alert


class Tokens:
    """Finds a token by its secret without leaking, by timing, how much of a guess was right."""

    def __init__(self, city: City) -> None:
        self._tokens = [(t.token.encode(), t) for t in city.tokens]

    def find(self, secret: str) -> Token | None:
        offered = secret.encode()
        found: Token | None = None
        for known, token in self._tokens:  # compare with every token: the time does not depend on which matched
            if hmac.compare_digest(known, offered):
                found = token
        return found

    @property
    def with_webhooks(self) -> list[Token]:
        return [t for _, t in self._tokens if t.webhook]


def sees(token: Token, alert: Alert) -> bool:
    return token.sees(alert.zone_id, alert.category)


def require_actor(token: Token) -> None:
    if not token.may_act:
        raise ApiError(403, f"the {token.role} role may not act on alerts")
