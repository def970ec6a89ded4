from __future__ import annotations

from functools import lru_cache

from chalice import Blueprint

from ..container import get_container
from .http import api_errors, json_response

bp = Blueprint(__name__)


@bp.route("/health", methods=["GET"])
@api_errors
def health():
    get_container().db.command("ping")
    return json_response({"status": "ok"})


@bp.route("/openapi.json", methods=["GET"])
@api_errors
def openapi():
    return json_response(openapi_document())


@lru_cache(maxsize=1)
def openapi_document() -> dict:
    from .openapi import build   # built on first request, not at cold start

    return build()
