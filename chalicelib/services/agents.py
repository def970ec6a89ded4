from __future__ import annotations

from typing import Any

from .. import clock
from ..errors import NotFound
from ..ids import new_id
from ..models.agent import Agent, AgentConfig, AgentCreate, AgentUpdate, ElevenLabsConfig
from ..phone import to_e164
from ..repositories.agents import AgentRepository
from ..repositories.base import Page
from .idempotency import Idempotency


class AgentService:
    def __init__(self, agents: AgentRepository, *, idempotency: Idempotency, default_region: str):
        self._agents = agents
        self._idempotency = idempotency
        self._region = default_region

    def create(self, data: AgentCreate, *, idempotency_key: str | None = None) -> tuple[Agent, bool]:
        """The agent, and whether an earlier request with the same key made it."""
        agent_id, seen = self._idempotency.claim("agents", idempotency_key, data.model_dump(mode="json"),
                                                 new_id("agt"))
        if seen and (existing := self._agents.get(agent_id)):
            return existing, True
        now = clock.now()
        agent = Agent(
            id=agent_id,
            created_at=now,
            updated_at=now,
            name=data.name,
            company=data.company,
            from_number=self._phone(data.from_number, "fromNumber"),
            elevenlabs=ElevenLabsConfig(**_given(data.elevenlabs)),
            carrier=data.carrier,
            config=AgentConfig(**self._config(data)),
            business_hours=data.business_hours,
            retry_policy=data.retry_policy,
        )
        self._agents.insert(agent)
        return agent, False

    def get(self, agent_id: str) -> Agent:
        agent = self._agents.get(agent_id)
        if agent is None:
            raise NotFound(f"no agent {agent_id}", field="agentId")
        return agent

    def list(self, *, limit: int, cursor: str | None) -> Page[Agent]:
        return self._agents.list(limit=limit, cursor=cursor)

    def update(self, agent_id: str, data: AgentUpdate) -> Agent:
        self.get(agent_id)
        fields: dict[str, Any] = {}
        if data.name is not None:
            fields["name"] = data.name
        if "company" in data.model_fields_set:
            fields["company"] = data.company
        if "from_number" in data.model_fields_set:
            fields["fromNumber"] = self._phone(data.from_number, "fromNumber")
        for key, value in _given(data.elevenlabs).items():
            fields[f"elevenlabs.{_camel(key)}"] = value
        for key, value in self._config(data).items():
            fields[f"config.{_camel(key)}"] = value
        if "carrier" in data.model_fields_set:
            fields["carrier"] = data.carrier
        for name in ("business_hours", "retry_policy"):
            if name in data.model_fields_set:
                value = getattr(data, name)
                fields[_camel(name)] = value.model_dump(mode="json", by_alias=True) if value else None
        fields["updatedAt"] = clock.now()
        agent = self._agents.update(agent_id, fields)
        if agent is None:
            raise NotFound(f"no agent {agent_id}", field="agentId")
        return agent

    def _phone(self, raw: str | None, field: str) -> str | None:
        return to_e164(raw, default_region=self._region, field=field) if raw else None

    def _config(self, data: AgentCreate | AgentUpdate) -> dict[str, Any]:
        config = _given(data.config)
        if config.get("callback_number"):
            config["callback_number"] = self._phone(config["callback_number"], "config.callbackNumber")
        return config


def _given(model) -> dict[str, Any]:
    """Only the fields the client actually sent."""
    return model.model_dump(exclude_unset=True) if model is not None else {}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)
