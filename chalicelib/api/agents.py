from __future__ import annotations

from chalice import Blueprint

from ..container import get_container
from ..models.agent import AgentCreate, AgentUpdate
from ..services.idempotency import check_key
from .http import api_errors, json_response, page_body, page_params, parse_body, query

bp = Blueprint(__name__)


@bp.route("/agents", methods=["POST"])
@api_errors
def create_agent():
    request = bp.current_request
    key = check_key(request.headers.get("idempotency-key"))
    data = parse_body(request, AgentCreate)
    agent, replayed = get_container().agent_service.create(data, idempotency_key=key)
    return json_response(agent.to_api(), status=201, headers={"Idempotent-Replayed": "true"} if replayed else None)


@bp.route("/agents", methods=["GET"])
@api_errors
def list_agents():
    limit, cursor = page_params(query(bp.current_request))
    page = get_container().agent_service.list(limit=limit, cursor=cursor)
    return json_response(page_body(page, lambda agent: agent.to_api()))


@bp.route("/agents/{agent_id}", methods=["GET"])
@api_errors
def get_agent(agent_id):
    return json_response(get_container().agent_service.get(agent_id).to_api())


@bp.route("/agents/{agent_id}", methods=["PATCH"])
@api_errors
def update_agent(agent_id):
    data = parse_body(bp.current_request, AgentUpdate)
    return json_response(get_container().agent_service.update(agent_id, data).to_api())
