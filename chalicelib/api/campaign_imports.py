"""Adding contacts to a campaign in bulk: an uploaded CSV or JSON array, or
the campaign's Google Sheet."""
from __future__ import annotations

from chalice import Blueprint

from ..container import get_container
from ..errors import BadRequest, PayloadTooLarge
from ..services.idempotency import check_key
from ..services.imports import MAX_IMPORT_BYTES
from .http import api_errors, json_response, query

bp = Blueprint(__name__)


@bp.route("/campaigns/{campaign_id}/contacts/import", methods=["POST"],
          content_types=["text/csv", "application/json"])
@api_errors
def import_contacts(campaign_id):
    request = bp.current_request
    key = check_key(request.headers.get("idempotency-key"))
    report, replayed = get_container().import_service.import_upload(
        campaign_id, _body_text(request), region=query(request).get("region"), idempotency_key=key,
        csv_format=(request.headers.get("content-type") or "").lower().startswith("text/csv"))
    return json_response(report, headers={"Idempotent-Replayed": "true"} if replayed else None)


@bp.route("/campaigns/{campaign_id}/sheet/import", methods=["POST"])
@api_errors
def import_sheet(campaign_id):
    region = query(bp.current_request).get("region")
    return json_response(get_container().sheet_sync.import_sheet(campaign_id, region=region).to_api())


@bp.route("/campaigns/{campaign_id}/sheet/sync", methods=["POST"])
@api_errors
def sync_sheet(campaign_id):
    return json_response({"written": get_container().sheet_sync.sync_statuses(campaign_id)})


def _body_text(request) -> str:
    raw = request.raw_body or b""
    if len(raw) > MAX_IMPORT_BYTES:
        raise PayloadTooLarge(f"the upload is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MB: "
                              "split it into several imports, or import from a Google Sheet")
    if not raw.strip():
        raise BadRequest("the request body is empty")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("the body must be UTF-8 text") from None

