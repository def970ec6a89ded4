from __future__ import annotations

from chalice import Blueprint

from ..container import get_container
from ..models.campaign import CampaignCreate, CampaignUpdate
from ..services.idempotency import check_key
from .http import api_errors, json_response, page_body, page_params, parse_body, query

bp = Blueprint(__name__)


@bp.route("/campaigns", methods=["POST"])
@api_errors
def create_campaign():
    request = bp.current_request
    key = check_key(request.headers.get("idempotency-key"))
    campaign, replayed = get_container().campaign_service.create(parse_body(request, CampaignCreate),
                                                                 idempotency_key=key)
    return json_response(campaign.to_api(), status=201,
                         headers={"Idempotent-Replayed": "true"} if replayed else None)


@bp.route("/campaigns", methods=["GET"])
@api_errors
def list_campaigns():
    params = query(bp.current_request)
    limit, cursor = page_params(params)
    page = get_container().campaign_service.list(status=params.get("status") or None, limit=limit, cursor=cursor)
    return json_response(page_body(page, lambda campaign: campaign.to_api()))


@bp.route("/campaigns/{campaign_id}", methods=["GET"])
@api_errors
def get_campaign(campaign_id):
    return json_response(get_container().campaign_service.get(campaign_id).to_api())


@bp.route("/campaigns/{campaign_id}", methods=["PATCH"])
@api_errors
def update_campaign(campaign_id):
    data = parse_body(bp.current_request, CampaignUpdate)
    return json_response(get_container().campaign_service.update(campaign_id, data).to_api())


@bp.route("/campaigns/{campaign_id}/stats", methods=["GET"])
@api_errors
def campaign_stats(campaign_id):
    return json_response(get_container().campaign_service.stats(campaign_id))


@bp.route("/campaigns/{campaign_id}/contacts", methods=["GET"])
@api_errors
def campaign_contacts(campaign_id):
    params = query(bp.current_request)
    limit, cursor = page_params(params)
    page = get_container().campaign_service.contacts(campaign_id, status=params.get("status") or None,
                                                     limit=limit, cursor=cursor)
    return json_response(page_body(page, lambda row: row.to_api()))


def _lifecycle(action: str):
    def view(campaign_id):
        campaign = getattr(get_container().campaign_service, action)(campaign_id)
        return json_response(campaign.to_api())
    view.__name__ = f"{action}_campaign"
    return view


for _action in ("start", "pause", "resume", "cancel"):
    bp.route(f"/campaigns/{{campaign_id}}/{_action}", methods=["POST"])(api_errors(_lifecycle(_action)))
