from __future__ import annotations

from typing import Any

from pymongo.database import Database

from ..models.agent import Agent
from .base import Page, newest_first_page


class AgentRepository:
    def __init__(self, db: Database):
        self._agents = db["agents"]

    def insert(self, agent: Agent) -> None:
        self._agents.insert_one(agent.to_mongo())

    def get(self, agent_id: str) -> Agent | None:
        doc = self._agents.find_one({"_id": agent_id})
        return Agent.from_mongo(doc) if doc else None

    def list(self, *, limit: int, cursor: str | None) -> Page[Agent]:
        docs, next_cursor = newest_first_page(self._agents, {}, limit=limit, cursor=cursor)
        return Page([Agent.from_mongo(d) for d in docs], next_cursor)

    def update(self, agent_id: str, fields: dict[str, Any]) -> Agent | None:
        doc = self._agents.find_one_and_update({"_id": agent_id}, {"$set": fields}, return_document=True)
        return Agent.from_mongo(doc) if doc else None
