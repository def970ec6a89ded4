from __future__ import annotations

from chalice import Blueprint

from ..container import get_container
from .http import api_errors, json_response

bp = Blueprint(__name__)


@bp.route("/health", methods=["GET"])
@api_errors
def health():
    get_container().db.command("ping")
    return json_response({"status": "ok"})
