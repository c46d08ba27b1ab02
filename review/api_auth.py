"""How gateways prove who they are: an API key in a header, checked for the scope an endpoint
needs, and throttled per key."""

import logging
from typing import Any

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from redis.exceptions import RedisError
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from review.models import ApiKey, Gateway

# Names under which clients put credentials in URLs; such URLs end up in proxy and server logs.
KEY_QUERY_PARAMETERS = ("api_key", "apikey", "key", "token", "access_token")
logger = logging.getLogger(__name__)


class KeyInQueryString(exceptions.AuthenticationFailed):
    default_code = "key_in_query_string"


class GatewayKeyAuthentication(BaseAuthentication):
    """``Authorization: Bearer rr_…`` or ``X-API-Key: rr_…``. Never the query string."""

    def authenticate(self, request: Request) -> tuple[Gateway, ApiKey] | None:
        for name in request.query_params:
            value = str(request.query_params.get(name, ""))
            if name.lower() in KEY_QUERY_PARAMETERS or value.startswith("rr_"):
                raise KeyInQueryString(
                    "API keys are refused in the query string (it ends up in logs); send "
                    "Authorization: Bearer <key> or X-API-Key: <key>. Revoke the exposed key."
                )
        presented = _presented_key(request)
        if presented is None:
            return None
        key = ApiKey.authenticate(presented)
        if key is None:
            raise exceptions.AuthenticationFailed("the API key is unknown or revoked")
        key.note_use()
        return key.gateway, key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="routing-review"'


def bearer_token(request: Request) -> str:
    """What ``Authorization: Bearer …`` carries; empty without one."""
    scheme, _, credentials = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" else ""


def carries_gateway_key(request: Request) -> bool:
    """A gateway key (``rr_…``) as the bearer token, or any ``X-API-Key`` header."""
    return bearer_token(request).startswith(f"{ApiKey.MARK}_") or bool(
        request.META.get("HTTP_X_API_KEY", "").strip()
    )


def _presented_key(request: Request) -> str | None:
    return bearer_token(request) or request.META.get("HTTP_X_API_KEY", "").strip() or None


def has_scope(scope: str) -> type[BasePermission]:
    """A permission class: the request's key carries ``scope``."""
    scope = str(scope)

    class HasScope(BasePermission):
        message = f"this API key lacks the {scope!r} scope"

        def has_permission(self, request: Request, view: Any) -> bool:
            return isinstance(request.auth, ApiKey) and request.auth.has_scope(scope)

    return HasScope


class GatewayKeyThrottle(SimpleRateThrottle):
    """Requests per API key, counted in the shared cache (Redis in production)."""

    scope = "gateway_key"

    def get_rate(self) -> str:
        return str(settings.INGEST_RATE)

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if not isinstance(request.auth, ApiKey):
            return None
        return f"throttle:key:{request.auth.prefix}"

    def allow_request(self, request: Request, view: Any) -> bool:
        try:
            return super().allow_request(request, view)
        except RedisError:
            # The throttle is a courtesy; the database is the source of truth. With the cache
            # down, requests go through rather than fail.
            logger.warning("throttle skipped: the cache is unreachable")
            return True


class GatewayKeyScheme(OpenApiAuthenticationExtension):
    """How the OpenAPI schema describes the gateway key."""

    target_class = GatewayKeyAuthentication
    name = "gatewayKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A gateway API key `rr_…`, also accepted as the X-API-Key header.",
        }
