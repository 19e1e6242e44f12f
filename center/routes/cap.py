"""`GET /cap/{partner_id}/feed` (contract section 16): a partner agency's CAP messages of the last 24 h, as Atom.

Only the partner's own token opens its feed: 401 without a partner token, 404 for a feed that
is not the token's (whether or not that partner exists).
"""

from __future__ import annotations

import hmac
import time
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from alert_rules.partners import Partner
from center.errors import ApiError, documented
from center.running import Running
from partners import atom, outbox

router = APIRouter(prefix="/cap")
_bearer = HTTPBearer(auto_error=False, description="the partner's token from the configuration")


def partner_of(partners: list[Partner], secret: str) -> Partner | None:
    """The partner whose token this is, comparing with every one: the time says nothing of which matched."""
    offered = secret.encode()
    found = None
    for partner in partners:
        if hmac.compare_digest(partner.token.encode(), offered):
            found = partner
    return found


@router.get("/{partner_id}/feed", response_class=Response, responses={
    200: {"content": {atom.MEDIA_TYPE_ATOM: {}}, "description": "an Atom feed, each entry a CAP 1.2 alert"},
    **documented(401, 404)})
async def partner_feed(partner_id: str, request: Request, center: Running,
                       credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Response:
    partner = partner_of(center.city.partners, credentials.credentials) if credentials else None
    if partner is None:
        raise ApiError(401, "a valid partner token is required")
    if partner.id != partner_id:
        raise ApiError(404, "no such feed")
    now = time.time()
    envelopes = await outbox.feed(center.redis, partner.id, now)
    return Response(atom.feed(partner, envelopes, str(request.url), now), media_type=atom.MEDIA_TYPE_ATOM,
                    headers={"Cache-Control": "no-store"})
