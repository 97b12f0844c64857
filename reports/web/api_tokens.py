"""The API's tokens: list yours (with their expiry) and revoke one. Tokens are made
with ``manage.py create_api_token <username> [--days N]`` (shown once)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Router, Schema

from reports.models import ApiToken, revoke_api_token
from reports.streams.services import NotFound
from reports.web.api_common import ErrorOut, request_user

router = Router(tags=["tokens"])


class TokenOut(Schema):
    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None


@router.get("/tokens/", response=list[TokenOut])
def list_tokens(request: HttpRequest) -> Any:
    """Your API tokens, newest first: the first characters of each (the rest is never
    shown again), when it was last used and when it expires (null: never)."""
    return ApiToken.objects.of(request_user(request))


@router.delete("/tokens/{token_id}/", response={204: None, 404: ErrorOut})
def delete_token(request: HttpRequest, token_id: str) -> HttpResponse:
    """Revoke a token: refused from now on, and sockets and event streams it opened
    are closed (code 4401)."""
    if not revoke_api_token(user=request_user(request), token_id=token_id):
        raise NotFound(f"No token {token_id}.")
    return HttpResponse(status=204)
