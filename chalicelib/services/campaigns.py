"""Campaigns as API clients see them: create, change while draft or paused,
and move through the lifecycle table (start, pause, resume, cancel)."""
from __future__ import annotations

import secrets
from typing import Any
from zoneinfo import ZoneInfo

from .. import clock
from ..clock import EPOCH
from ..errors import Conflict, NotFound, ValidationFailed
from ..ids import new_id
from ..models.campaign import (CAMPAIGN_TRANSITIONS, EDITABLE, Campaign, CampaignContact, CampaignCreate,
                               CampaignStatus, CampaignUpdate, sources_of)
from ..repositories.agents import AgentRepository
from ..repositories.base import Page
from ..repositories.campaign_contacts import CampaignContactRepository
from ..repositories.call_stats import StatsFilter
from ..repositories.campaigns import CampaignRepository
from .idempotency import Idempotency

S = CampaignStatus


class CampaignService:
    def __init__(self, *, campaigns: CampaignRepository, contacts: CampaignContactRepository,
                 agents: AgentRepository, idempotency: Idempotency, runner, call_stats):
        self._campaigns = campaigns
        self._contacts = contacts
        self._agents = agents
        self._idempotency = idempotency
        self._runner = runner
        self._call_stats = call_stats      # the aggregation layer of GET /calls/stats

    def create(self, data: CampaignCreate, *, idempotency_key: str | None = None) -> tuple[Campaign, bool]:
        self._require_agent(data.agent_id)
        campaign_id, seen = self._idempotency.claim("campaigns", idempotency_key,
                                                    data.model_dump(mode="json", by_alias=True), new_id("cmp"))
        if seen and (existing := self._campaigns.get(campaign_id)):
            return existing, True
        now = clock.now()
        fields = data.model_dump(exclude_unset=True, exclude_none=True)
        campaign = Campaign(id=campaign_id, created_at=now, updated_at=now, runner_lease_until=EPOCH,
                            callback_secret="whsec_" + secrets.token_urlsafe(32), **fields)
        self._campaigns.insert(campaign)
        return campaign, False

    def get(self, campaign_id: str) -> Campaign:
        campaign = self._campaigns.get(campaign_id)
        if campaign is None:
            raise NotFound(f"no campaign {campaign_id}", field="campaignId")
        return campaign

    def list(self, *, status: str | None, limit: int, cursor: str | None) -> Page[Campaign]:
        if status is not None and status not in {s.value for s in S}:
            raise ValidationFailed(f"status must be one of {', '.join(s.value for s in S)}", field="status")
        return self._campaigns.list(status=status, limit=limit, cursor=cursor)

    def contacts(self, campaign_id: str, *, status: str | None, limit: int, cursor: str | None) -> Page[CampaignContact]:
        self.get(campaign_id)
        return self._contacts.list(campaign_id, status=status, limit=limit, cursor=cursor)

    def stats(self, campaign_id: str) -> dict[str, Any]:
        """The live counters, the contacts by status, and the campaign's calls
        through the same aggregation as GET /calls/stats."""
        campaign = self.get(campaign_id)
        zone = ZoneInfo(campaign.config.schedule_config.time_zone)
        return {"campaignId": campaign.id, "status": campaign.status,
                "stats": campaign.stats.model_dump(mode="json", by_alias=True),
                "contactsByStatus": self._contacts.counts_by_status(campaign.id),
                "calls": self._call_stats.compute(StatsFilter(campaign_id=campaign.id), hours_in=zone)}

    def update(self, campaign_id: str, data: CampaignUpdate) -> Campaign:
        current = self.get(campaign_id)
        if current.status not in EDITABLE:
            raise Conflict(f"a campaign that is {current.status} cannot be changed; pause it first", field="status")
        if data.agent_id:
            self._require_agent(data.agent_id)
        fields = {CampaignUpdate.model_fields[name].alias: _stored(getattr(data, name))
                  for name in data.model_fields_set}
        start, end = fields.get("startDate", current.start_date), fields.get("endDate", current.end_date)
        if start and end and end <= start:
            raise ValidationFailed("endDate must be after startDate", field="endDate")
        updated = self._campaigns.update_while(campaign_id, EDITABLE, fields, now=clock.now())
        if updated is None:
            raise Conflict("the campaign changed status meanwhile; read it again", field="status")
        return updated

    # -- lifecycle

    def start(self, campaign_id: str) -> Campaign:
        campaign = self.get(campaign_id)
        if campaign.status == S.DRAFT and campaign.stats.total_contacts == 0:
            raise Conflict("the campaign has no contacts yet; import some first", field="contacts")
        now = clock.now()
        target = S.SCHEDULED if campaign.start_date and campaign.start_date > now else S.ACTIVE
        started = self._move(campaign, target, {"startedAt": now}, allowed_from=[S.DRAFT])
        if target == S.ACTIVE:
            self._runner.fill(started.id)
        return self.get(started.id)

    def pause(self, campaign_id: str) -> Campaign:
        """No new dials from now on: calls not yet placed go back to their
        contacts' queue; calls in progress finish."""
        paused = self._move(self.get(campaign_id), S.PAUSED)
        self._runner.take_back_undialed(paused.id, cancel_contacts=False)
        return self.get(paused.id)

    def resume(self, campaign_id: str) -> Campaign:
        campaign = self.get(campaign_id)
        target = S.SCHEDULED if campaign.start_date and campaign.start_date > clock.now() else S.ACTIVE
        resumed = self._move(campaign, target, allowed_from=[S.PAUSED])
        if target == S.ACTIVE:
            self._runner.fill(resumed.id)
        return self.get(resumed.id)

    def cancel(self, campaign_id: str) -> Campaign:
        """Final: calls not yet placed are cancelled with every pending contact
        (and so every pending retry); calls in progress finish."""
        campaign = self.get(campaign_id)
        if campaign.status == S.CANCELLED:
            return campaign
        cancelled = self._move(campaign, S.CANCELLED, {"endedAt": clock.now()})
        self._runner.take_back_undialed(cancelled.id, cancel_contacts=True)
        return self.get(cancelled.id)

    def _move(self, campaign: Campaign, target: CampaignStatus, fields: dict[str, Any] | None = None, *,
              allowed_from=None) -> Campaign:
        allowed = frozenset(allowed_from) if allowed_from is not None else sources_of(target)
        if campaign.status not in allowed or target not in CAMPAIGN_TRANSITIONS[S(campaign.status)]:
            raise Conflict(f"a campaign that is {campaign.status} cannot become {target}", field="status")
        moved = self._campaigns.transition(campaign.id, to=target, allowed_from=allowed, fields=fields,
                                           now=clock.now())
        if moved is None:
            current = self.get(campaign.id)
            raise Conflict(f"a campaign that is {current.status} cannot become {target}", field="status")
        return moved

    def _require_agent(self, agent_id: str) -> None:
        if self._agents.get(agent_id) is None:
            raise ValidationFailed(f"no agent {agent_id}", field="agentId")


def _stored(value: Any) -> Any:
    return value.model_dump(by_alias=True, exclude_none=True) if hasattr(value, "model_dump") else value
