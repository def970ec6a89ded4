from __future__ import annotations

from chalice import Blueprint

from ..container import get_container
from ..models.batch import BatchOptions
from ..services.idempotency import check_key
from .http import api_errors, json_response, read_json, validate

bp = Blueprint(__name__)

# Up to 10,000 recipients with their variables; Lambda's synchronous payload
# limit is 6 MB.
MAX_BATCH_BODY_BYTES = 5 * 1024 * 1024


@bp.route("/calls/batch", methods=["POST"])
@api_errors
def create_batch():
    request = bp.current_request
    key = check_key(request.headers.get("idempotency-key"))
    data = read_json(request, max_bytes=MAX_BATCH_BODY_BYTES)
    rows = data.pop("recipients", None)
    options = validate(BatchOptions, data)
    created = get_container().batch_service.create(options, rows, idempotency_key=key)
    headers = {"Idempotent-Replayed": "true"} if created.replayed else None
    return json_response({"batchId": created.batch.id, **created.batch.to_api()}, status=202, headers=headers)


@bp.route("/batches/{batch_id}", methods=["GET"])
@api_errors
def get_batch(batch_id):
    batch, progress = get_container().batch_service.get(batch_id)
    return json_response({**batch.to_api(), "progress": progress})


@bp.route("/batches/{batch_id}/pause", methods=["POST"])
@api_errors
def pause_batch(batch_id):
    return json_response(get_container().batch_service.pause(batch_id).to_api())


@bp.route("/batches/{batch_id}/resume", methods=["POST"])
@api_errors
def resume_batch(batch_id):
    return json_response(get_container().batch_service.resume(batch_id).to_api())


@bp.route("/batches/{batch_id}/cancel", methods=["POST"])
@api_errors
def cancel_batch(batch_id):
    batch, counts = get_container().batch_service.cancel(batch_id)
    return json_response({**batch.to_api(), **counts})
