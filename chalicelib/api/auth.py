"""Who may call the API: every route needs an API key with the route's scope,
except the carriers' webhooks (they carry the carriers' signatures) and the
health check. New routes are protected by default (admin scope)."""
from __future__ import annotations

import logging

from chalice import Response
from pymongo.errors import ConnectionFailure

from ..container import get_container
from ..errors import AppError, ServiceUnavailable
from ..models.api_key import Scope
from ..services.api_keys import Forbidden, Unauthenticated
from .http import error_response

log = logging.getLogger(__name__)

OPEN_PATHS = ("/health", "/openapi.json")
OPEN_PREFIXES = ("/webhooks/", "/twiml/")
# The first path segment decides which family of scopes a route belongs to.
FAMILIES = {"calls": "calls", "scheduled-calls": "calls", "batches": "calls", "analytics": "calls",
            "agents": "agents", "campaigns": "campaigns", "contacts": "campaigns", "dnc": "campaigns"}
READ_METHODS = ("GET", "HEAD", "OPTIONS")


class _Unauthorized(AppError):
    status, code = 401, "unauthorized"


class _Forbidden(AppError):
    status, code = 403, "forbidden"


def required_scope(method: str, path: str) -> Scope | None:
    """None for open routes."""
    if path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
        return None
    family = FAMILIES.get(path.strip("/").split("/")[0])
    if family is None:
        return Scope.ADMIN
    return Scope(f"{family}:{'read' if method.upper() in READ_METHODS else 'write'}")


def presented_key(headers) -> str | None:
    authorization = headers.get("authorization") or ""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return headers.get("x-api-key") or None


def require_api_key(request, get_response) -> Response:
    scope = required_scope(request.method, request.path)
    if scope is None:
        return get_response(request)
    try:
        get_container().api_key_service.authenticate(presented_key(request.headers), scope)
    except Unauthenticated as exc:
        error = _Unauthorized(str(exc))
        error.headers["WWW-Authenticate"] = 'Bearer realm="outdial"'
        return error_response(error)
    except Forbidden as exc:
        return error_response(_Forbidden(str(exc), field="Authorization"))
    except ConnectionFailure:
        log.exception("database unavailable while checking an API key")
        return error_response(ServiceUnavailable("the database is unavailable, try again shortly"))
    return get_response(request)
