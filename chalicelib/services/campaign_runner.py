"""Runs active campaigns: places the next eligible contacts' calls, and
settles each contact when its call ends.

A contact is eligible when it is pending, its next attempt is due, the
campaign's allowed hours hold, and so does the contact's own local window.
Calls in flight never exceed `maxConcurrentCalls`: contacts being called are
counted while one runner at a time (a lease on the campaign) fills the free
slots. The dial itself goes through the dial queue like every other call, so
the account's pacing and the do-not-call check apply there too.
"""
from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from typing import Any

from .. import clock, timing
from ..clock import EPOCH
from ..models.agent import Agent
from ..models.call import Call
from ..models.call_status import TERMINAL, CallStatus, FailureReason
from ..models.campaign import (FINAL_CONTACT_STATUSES, Campaign, CampaignContact, CampaignStatus,
                               ContactStatus)
from ..models.contact import Contact
from ..models.policy import BusinessHours
from ..repositories.agents import AgentRepository
from ..repositories.calls import CallRepository
from ..repositories.campaign_contacts import CampaignContactRepository
from ..repositories.campaigns import CampaignRepository
from ..repositories.contacts import ContactRepository
from . import calling_hours
from .dialing import RunState
from .events import EventLog

log = logging.getLogger(__name__)
S = CampaignStatus
P = ContactStatus

RUNNER_LEASE = timedelta(seconds=50)
# A call with no final status this long after its maxCallDuration has lost
# its callback: its slot is given back and the contact is not called again.
LOST_CALL_MARGIN = timedelta(minutes=10)
LEGAL_HOURS = BusinessHours(start="08:00", end="21:00")


def contact_call_id(row: CampaignContact, n: int) -> str:
    # Deterministic per contact and call number: a runner that dies between
    # the claim and the insert is finished by the next one with the same id,
    # never a second call.
    return f"call_{row.id.removeprefix('cc_')}_{n}"


class CampaignRunner:
    def __init__(self, *, campaigns: CampaignRepository, rows: CampaignContactRepository,
                 contacts: ContactRepository, calls: CallRepository, agents: AgentRepository, event_log: EventLog,
                 dispatch, is_blocked, default_from_number: str | None, on_contact_final=lambda campaign, row: None):
        self._campaigns = campaigns
        self._rows = rows
        self._contacts = contacts
        self._calls = calls
        self._agents = agents
        self._event_log = event_log
        self._dispatch = dispatch            # (call_id, now) -> sends the dial message when due
        self._is_blocked = is_blocked
        self._default_from = default_from_number
        self._on_contact_final = on_contact_final

    # -- the scheduled run

    def tick(self, now: datetime | None = None) -> dict[str, int]:
        now = now or clock.now()
        started = 0
        for campaign_id in self._campaigns.ids_with_status(S.SCHEDULED):
            campaign = self._campaigns.get(campaign_id)
            if campaign and (campaign.start_date is None or campaign.start_date <= now):
                started += bool(self._campaigns.transition(campaign_id, to=S.ACTIVE, allowed_from=[S.SCHEDULED],
                                                           now=now))
        placed = 0
        for campaign_id in self._campaigns.ids_with_status(S.ACTIVE):
            try:
                placed += self.fill(campaign_id, now, recover=True)
            except Exception:
                log.exception("campaign %s: run failed; the next run tries again", campaign_id)
        return {"started": started, "placed": placed}

    def fill(self, campaign_id: str, now: datetime | None = None, *, recover: bool = False) -> int:
        """Place calls for the campaign's free slots; returns how many. With
        `recover` (the scheduled run), first repair contacts stuck in `calling`."""
        now = now or clock.now()
        if not self._campaigns.take_runner_lease(campaign_id, now=now, until=now + RUNNER_LEASE):
            return 0
        try:
            campaign = self._campaigns.get(campaign_id)
            agent = self._agents.get(campaign.agent_id)
            if recover:
                self._recover(campaign, agent, now)
            if self._finish_if_done(campaign, now):
                return 0
            free = campaign.config.max_concurrent_calls - self._rows.count(campaign_id, [P.CALLING])
            if free <= 0 or agent is None or not timing.is_allowed(now, campaign_window(campaign)):
                return 0
            placed = 0
            # Some due contacts may be outside their own window right now;
            # look a little further than the free slots so they don't block others.
            for row in self._rows.due(campaign_id, now=now, limit=free * 4):
                if placed == free:
                    break
                placed += self._try_contact(campaign, agent, row, now)
            return placed
        finally:
            self._campaigns.release_runner_lease(campaign_id, now=now)

    def _try_contact(self, campaign: Campaign, agent: Agent, row: CampaignContact, now: datetime) -> int:
        if self._is_blocked(row.phone):
            self._end_unreached(campaign, row.id, P.SKIPPED, FailureReason.DO_NOT_CALL.value,
                                allowed_from=P.PENDING, now=now)
            return 0
        contact = self._contacts.get(row.contact_id)
        call = self._new_call(campaign, agent, row, contact, row.calls_created + 1, row.attempts + 1, now)
        allowed = calling_hours.next_allowed(call, agent, now)
        if allowed is None:
            self._rows.defer(row.id, until=now + timedelta(days=1), now=now)
            return 0
        if allowed > now + timedelta(seconds=1):
            self._rows.defer(row.id, until=allowed, now=now)
            return 0
        claimed = self._rows.claim_attempt(row, call_id=call.id, now=now)
        if claimed is None:
            return 0
        if claimed.attempts == 1:
            self._campaigns.add_to_stats(campaign.id, {"contactsAttempted": 1}, now=now)
        self._place(call, now)
        return 1

    def _new_call(self, campaign: Campaign, agent: Agent, row: CampaignContact, contact: Contact | None,
                  n: int, attempt: int, now: datetime) -> Call:
        return Call(id=contact_call_id(row, n), created_at=now, updated_at=now, to=row.phone,
                    agent_id=agent.id, campaign_id=campaign.id, contact_id=row.contact_id,
                    business_hours=contact_window(contact),
                    campaign_hours=campaign_hours(campaign),
                    metadata={"campaignContactId": row.id, "attempt": attempt},
                    dynamic_variables=dynamic_variables(row.custom_data),
                    # The dialer holds one of these slots per call in flight: the
                    # hard limit, whatever the runner counted.
                    concurrency_key=f"campaign:{campaign.id}",
                    concurrency_limit=campaign.config.max_concurrent_calls,
                    scheduled_for=now, dispatch_pending=True, enqueued_at=now, dial_lease_until=EPOCH,
                    **{"from": agent.from_number or self._default_from})

    def _place(self, call: Call, now: datetime) -> None:
        if self._calls.insert(call):
            self._event_log.record(call.id, "created", source="internal", to_status=CallStatus.INITIATED,
                                   data={"campaignId": call.campaign_id, "attempt": call.metadata["attempt"]})
        self._dispatch(call.id, now)

    def run_state(self, call: Call) -> RunState:
        """What the call's campaign allows the dialer right now."""
        campaign = self._campaigns.get(call.campaign_id)
        if campaign is None or campaign.status in (S.CANCELLED, S.COMPLETED):
            return RunState.CANCELLED
        return RunState.GO if campaign.status == S.ACTIVE else RunState.PAUSED

    # -- when a call ends

    def after_call_ended(self, call: Call) -> None:
        """Settle the contact of a campaign call that reached a final status.
        Safe to repeat: only the contact's current attempt is settled, once."""
        if not call.campaign_id or not call.contact_id:
            return
        row = self._rows.find(call.campaign_id, call.contact_id)
        campaign = self._campaigns.get(call.campaign_id)
        if row is None or campaign is None or row.current_call_id != call.id:
            return
        now = clock.now()
        target, fields = self._next_for(campaign, row, call, now)
        result = {"callId": call.id, "timestamp": now, "status": call.status,
                  "failureReason": call.failure_reason, "duration": call.duration}
        moved = self._rows.move(row.id, to=target, allowed_from=[P.CALLING], fields=fields,
                                push_result={k: v for k, v in result.items() if v is not None},
                                extra_filter={"currentCallId": call.id}, now=now)
        if moved is None:
            return
        counts = {"callsPlaced": int(bool(call.provider_call_sid)),
                  "callsConnected": int(bool(call.duration)), "totalCallTime": call.duration or 0,
                  "contactsCompleted": int(target == P.COMPLETED),
                  "contactsFailed": int(target in (P.FAILED, P.SKIPPED))}
        self._campaigns.add_to_stats(campaign.id, counts, now=now)
        if target in FINAL_CONTACT_STATUSES:
            self._contact_final(campaign, moved)
        if campaign.status == S.ACTIVE:
            self.fill(campaign.id)

    def _next_for(self, campaign: Campaign, row: CampaignContact, call: Call,
                  now: datetime) -> tuple[ContactStatus, dict]:
        if call.status == CallStatus.COMPLETED:
            return P.COMPLETED, {}
        reason = call.failure_reason
        if call.status == CallStatus.CANCELLED and not call.provider_call_sid:
            if campaign.status == S.CANCELLED:
                return P.CANCELLED, {}
            # Taken back before it was dialed (a pause): the attempt never happened.
            return P.PENDING, {"nextAttempt": now, "attempts": row.attempts - 1}
        if reason == FailureReason.DO_NOT_CALL:
            return P.SKIPPED, {"skipReason": reason}
        retry = campaign.config.retry_config
        if (campaign.status not in (S.CANCELLED, S.COMPLETED) and reason in retry.retry_statuses
                and row.attempts < retry.max_attempts):
            return P.PENDING, {"nextAttempt": now + timedelta(minutes=retry.delay_between_attempts)}
        return P.FAILED, {}

    def take_back_undialed(self, campaign_id: str, *, cancel_contacts: bool) -> int:
        """Cancel the campaign's calls not dialed yet (the same bulk cancel as
        a batch's); calls in progress finish. Returns how many were taken back."""
        now = clock.now()
        if cancel_contacts:
            self._rows.cancel_pending(campaign_id, now=now)
        call_ids = [call_id for _, call_id in self._rows.calling_ids(campaign_id) if call_id]
        taken = self._calls.cancel_undialed(call_ids, now=now) if call_ids else []
        self._event_log.record_many([self._event_log.build(
            call_id, "cancelled", reason="campaign paused or cancelled", from_status=CallStatus.INITIATED,
            to_status=CallStatus.CANCELLED) for call_id in taken])
        for call_id in taken:
            self.after_call_ended(self._calls.get(call_id))
        return len(taken)

    # -- housekeeping

    def _recover(self, campaign: Campaign, agent: Agent | None, now: datetime) -> None:
        """Contacts stuck in `calling`: a runner died before creating the call
        (create it), a final status was missed (settle it), or the carrier
        never reported back (give the slot back; never call again)."""
        max_duration = timedelta(seconds=agent.config.max_call_duration if agent else 3600)
        for row in self._rows.calling_since_before(campaign.id, now - timedelta(seconds=30)):
            call = self._calls.get(row.current_call_id)
            if call is None and agent is not None:
                contact = self._contacts.get(row.contact_id)
                self._place(self._new_call(campaign, agent, row, contact, row.calls_created, row.attempts, now), now)
            elif call is not None and call.status in TERMINAL:
                self.after_call_ended(call)
            elif call is not None and row.last_attempt < now - max_duration - LOST_CALL_MARGIN:
                self._end_unreached(campaign, row.id, P.FAILED, "no final status from the carrier",
                                    allowed_from=P.CALLING, now=now, call_id=call.id)

    def _finish_if_done(self, campaign: Campaign, now: datetime) -> bool:
        """Complete the campaign when no contact is left to call (or its
        endDate has passed); calls in progress finish first."""
        if campaign.end_date is not None and campaign.end_date <= now:
            self._rows.cancel_pending(campaign.id, now=now)
        if self._rows.count_open(campaign.id):
            return False
        return self._campaigns.transition(campaign.id, to=S.COMPLETED, allowed_from=[S.ACTIVE],
                                          fields={"endedAt": now}, now=now) is not None

    def _end_unreached(self, campaign: Campaign, row_id: str, to: ContactStatus, reason: str, *,
                       allowed_from: ContactStatus, now: datetime, call_id: str | None = None) -> None:
        """A contact finished without a call that settles it (do-not-call, a
        lost final status): counted as not reached, and followed up."""
        moved = self._rows.move(row_id, to=to, allowed_from=[allowed_from], fields={"skipReason": reason},
                                extra_filter={"currentCallId": call_id} if call_id else None, now=now)
        if moved:
            self._campaigns.add_to_stats(campaign.id, {"contactsFailed": 1}, now=now)
            self._contact_final(campaign, moved)

    def _contact_final(self, campaign: Campaign, row: CampaignContact) -> None:
        try:
            self._on_contact_final(campaign, row)
        except Exception:
            log.exception("campaign %s: follow-up of contact %s failed", campaign.id, row.id)


def dynamic_variables(custom_data: dict[str, Any]) -> dict[str, Any]:
    """The contact's customData as the conversation's variables: scalar
    values under identifier names ("First name" → first_name), at most 50."""
    variables: dict[str, Any] = {}
    for key, value in custom_data.items():
        name = re.sub(r"\W+", "_", str(key)).strip("_").lower()[:64]
        if not name or not isinstance(value, (str, int, float, bool)) or len(variables) == 50:
            continue
        variables["_" + name if name[0].isdigit() else name] = value[:1000] if isinstance(value, str) else value
    return variables


def campaign_window(campaign: Campaign) -> timing.Window:
    return calling_hours.window_of(campaign_hours(campaign), None)


def campaign_hours(campaign: Campaign) -> BusinessHours:
    schedule = campaign.config.schedule_config
    return BusinessHours(start=schedule.allowed_hours.start, end=schedule.allowed_hours.end,
                         timezone=schedule.time_zone, days_of_week=schedule.allowed_days)


def contact_window(contact: Contact | None) -> BusinessHours:
    """The contact's own window: its preferred call time in its time zone,
    else the legal 08:00-21:00 in its zone (or its number's zones)."""
    zone = contact.details.timezone if contact else None
    preferred = contact.details.preferred_call_time if contact else None
    hours = preferred or LEGAL_HOURS
    return BusinessHours(start=hours.start, end=hours.end, timezone=zone)
