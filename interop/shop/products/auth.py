"""Bearer-token authentication: WebSocket middleware and DRF authentication class.

A token is an ApiToken row (seeded from SHOP_TOKEN by `manage.py seed_shop`).
WebSockets take it from the query string (`?token=KEY`) or from an
`Authorization: Bearer KEY` handshake header; HTTP takes the header only.
A missing or unknown token leaves the WebSocket user anonymous (the
handshake succeeds; DCRF's IsAuthenticated answers 403 to every action).
"""
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from django.contrib.auth.models import AnonymousUser
from rest_framework import authentication, exceptions

from .models import ApiToken


def user_for_token(key):
    """The active user of the token `key`, or None."""
    if not key:
        return None
    token = ApiToken.objects.select_related("user").filter(key=key).first()
    if token is None or not token.user.is_active:
        return None
    return token.user


def bearer_token(header_value):
    """The KEY of an `Authorization: Bearer KEY` value (str), or None."""
    if not header_value:
        return None
    scheme, _, key = header_value.strip().partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return None
    return key.strip()


def token_from_scope(scope):
    """The token of a WebSocket scope: `?token=` first, then the Authorization header."""
    query = parse_qs(scope.get("query_string", b"").decode("latin1"))
    if query.get("token"):
        return query["token"][0]
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            return bearer_token(value.decode("latin1"))
    return None


class TokenAuthMiddleware(BaseMiddleware):
    """Sets scope["user"] from the handshake's token (AnonymousUser without a valid one)."""

    async def __call__(self, scope, receive, send):
        scope = dict(scope)
        user = await database_sync_to_async(user_for_token)(token_from_scope(scope))
        scope["user"] = user if user is not None else AnonymousUser()
        return await self.inner(scope, receive, send)


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """DRF authentication by `Authorization: Bearer KEY` (the REST API of api.py)."""

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION")
        if not header:
            return None
        key = bearer_token(header)
        user = user_for_token(key)
        if user is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        return (user, key)

    def authenticate_header(self, request):
        return "Bearer"
