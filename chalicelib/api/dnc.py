from __future__ import annotations

from urllib.parse import unquote

from chalice import Blueprint

from ..container import get_container
from ..errors import BadRequest, PayloadTooLarge
from ..models.dnc import DncCreate
from .http import api_errors, json_response, page_body, page_params, parse_body, query

bp = Blueprint(__name__)
MAX_CSV_BYTES = 8 * 1024 * 1024


@bp.route("/dnc", methods=["POST"])
@api_errors
def add_number():
    entry, added = get_container().dnc_service.add(parse_body(bp.current_request, DncCreate))
    return json_response(entry.to_api(), status=201 if added else 200)


@bp.route("/dnc", methods=["GET"])
@api_errors
def list_numbers():
    limit, cursor = page_params(query(bp.current_request))
    page = get_container().dnc_service.list(limit=limit, cursor=cursor)
    return json_response(page_body(page, lambda entry: entry.to_api()))


@bp.route("/dnc/{phone}", methods=["DELETE"])
@api_errors
def remove_number(phone):
    get_container().dnc_service.remove(unquote(phone))
    return json_response({"removed": True})


@bp.route("/dnc/import", methods=["POST"], content_types=["text/csv"])
@api_errors
def import_numbers():
    raw = bp.current_request.raw_body or b""
    if len(raw) > MAX_CSV_BYTES:
        raise PayloadTooLarge(f"the CSV is larger than {MAX_CSV_BYTES // (1024 * 1024)} MB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("the CSV must be UTF-8") from None
    return json_response(get_container().dnc_service.import_csv(text).to_api())
