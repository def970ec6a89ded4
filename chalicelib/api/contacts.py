from __future__ import annotations

from chalice import Blueprint

from ..container import get_container
from ..models.contact import ContactCreate, ContactUpdate
from ..repositories.contacts import ContactFilter
from .http import api_errors, json_response, page_body, page_params, parse_body, query

bp = Blueprint(__name__)


@bp.route("/contacts", methods=["POST"])
@api_errors
def create_contact():
    contact = get_container().contact_service.create(parse_body(bp.current_request, ContactCreate))
    return json_response(contact.to_api(), status=201)


@bp.route("/contacts", methods=["GET"])
@api_errors
def list_contacts():
    params = query(bp.current_request)
    limit, cursor = page_params(params)
    filters = ContactFilter(tag=params.get("tag") or None, group=params.get("group") or None,
                            phone=params.get("phone") or None)
    page = get_container().contact_service.list(filters, limit=limit, cursor=cursor)
    return json_response(page_body(page, lambda contact: contact.to_api()))


@bp.route("/contacts/{contact_id}", methods=["GET"])
@api_errors
def get_contact(contact_id):
    return json_response(get_container().contact_service.get(contact_id).to_api())


@bp.route("/contacts/{contact_id}", methods=["PATCH"])
@api_errors
def update_contact(contact_id):
    data = parse_body(bp.current_request, ContactUpdate)
    return json_response(get_container().contact_service.update(contact_id, data).to_api())


@bp.route("/contacts/{contact_id}", methods=["DELETE"])
@api_errors
def delete_contact(contact_id):
    get_container().contact_service.delete(contact_id)
    return json_response({"deleted": True})


@bp.route("/contacts/{contact_id}/calls", methods=["GET"])
@api_errors
def contact_calls(contact_id):
    limit, cursor = page_params(query(bp.current_request))
    page = get_container().contact_service.calls(contact_id, limit=limit, cursor=cursor)
    return json_response(page_body(page, lambda call: call.to_api()))
