"""Bearer tokens on WebSocket handshakes: ``Sec-WebSocket-Protocol: bearer, <token>``.

A browser cannot set ``Authorization`` on a WebSocket, but it can offer subprotocols
(``new WebSocket(url, ["bearer", token])``). When the first one offered is ``bearer``,
the second is the API token and it alone decides who connects (a wrong token is
refused, whatever cookie came along); the consumer then accepts with ``bearer`` as
the chosen subprotocol, as the browser requires. The token stays out of URLs and logs.
"""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from django.contrib.auth.models import AnonymousUser

from reports.models import ApiToken

BEARER = "bearer"
# The scope key of the token a socket was opened with (absent: the session's user).
API_TOKEN_ID = "api_token_id"


def offered_token(scope: dict[str, Any]) -> str | None:
    """The token offered as ``bearer, <token>``, or None when the client did not."""
    offered = list(scope.get("subprotocols") or ())
    if len(offered) >= 2 and offered[0] == BEARER and offered[1].strip():
        return str(offered[1].strip())
    return None


def chosen_subprotocol(scope: dict[str, Any]) -> str | None:
    """What the handshake must answer with: ``bearer`` when it was offered first."""
    offered = list(scope.get("subprotocols") or ())
    return BEARER if offered[:1] == [BEARER] else None


@database_sync_to_async
def _token_scope(token: str) -> dict[str, Any]:
    found = ApiToken.objects.token_for(token)
    if found is None:
        return {"user": AnonymousUser()}
    return {"user": found.user, API_TOKEN_ID: found.pk}


class BearerTokenMiddleware(BaseMiddleware):
    """Inside ``AuthMiddlewareStack``: replaces the session user with the token's owner
    (and names the token in ``scope["api_token_id"]``, for reports/live/guards.py)."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope.get("type") == "websocket" and chosen_subprotocol(scope):
            token = offered_token(scope)
            found = await _token_scope(token) if token else {"user": AnonymousUser()}
            scope = {**scope, **found}
        return await super().__call__(scope, receive, send)
