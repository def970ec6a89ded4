"""Wires repositories, providers and services together, once per Lambda
container. Everything is built on first use, so importing the app stays cheap."""
from __future__ import annotations

from datetime import timedelta
from functools import cached_property

from .db import get_database
from .providers.base import TelephonyProvider
from .queues import DialQueue
from .models.call import Call
from .repositories.agents import AgentRepository
from .repositories.callback_deliveries import CallbackDeliveryRepository
from .repositories.campaign_contacts import CampaignContactRepository
from .repositories.campaigns import CampaignRepository
from .repositories.batches import BatchRepository
from .repositories.pacing import ConcurrencySlotRepository, RateLimitRepository
from .repositories.call_events import CallEventRepository
from .repositories.calls import CallRepository
from .repositories.analytics import AnalyticsRepository
from .repositories.archive import ArchiveRepository
from .repositories.call_stats import CallStatsRepository
from .repositories.idempotency import IdempotencyRepository
from .services.agents import AgentService
from .services.call_progress import CallProgressService
from .services.calls import CallService
from .services.archive import ArchiveService
from .services.call_stats import CallStatsService
from .services.rollups import AnalyticsService, RollupService
from .repositories.api_keys import ApiKeyRepository
from .repositories.contacts import ContactRepository
from .repositories.conversations import RecordingRepository, TranscriptRepository
from .services.conversation import ConversationService
from .repositories.dnc import DncRepository
from .repositories.retries import RetryRepository
from .repositories.schedules import ScheduleRepository
from .services.api_keys import ApiKeyService
from .services.callbacks import CallbackService
from .services.campaign_runner import CampaignRunner
from .services.campaigns import CampaignService
from .services.batches import BatchService
from .services.pacing import Pacer
from .services.contacts import ContactService
from .services.dialing import DialService
from .services.dnc import DncService
from .services.events import EventLog
from .services.idempotency import Idempotency
from .services.imports import ImportService
from .services.sheet_sync import SheetSync
from .services.retries import RetryService
from .services.scheduling import Dispatcher, Scheduler, ScheduleService
from .settings import Settings, get_settings


class Container:
    def __init__(self, settings: Settings | None = None):
        self._settings = settings

    @cached_property
    def settings(self) -> Settings:
        return (self._settings or get_settings()).check_app()

    @cached_property
    def db(self):
        return get_database()

    # -- repositories
    @cached_property
    def agents(self) -> AgentRepository:
        return AgentRepository(self.db)

    @cached_property
    def calls(self) -> CallRepository:
        return CallRepository(self.db)

    @cached_property
    def call_events(self) -> CallEventRepository:
        return CallEventRepository(self.db)

    @cached_property
    def idempotency(self) -> IdempotencyRepository:
        return IdempotencyRepository(self.db)

    @cached_property
    def api_keys(self) -> ApiKeyRepository:
        return ApiKeyRepository(self.db)

    @cached_property
    def api_key_service(self) -> ApiKeyService:
        return ApiKeyService(self.api_keys)

    @cached_property
    def contacts(self) -> ContactRepository:
        return ContactRepository(self.db)

    @cached_property
    def contact_service(self) -> ContactService:
        return ContactService(self.contacts, self.calls, default_region=self.settings.default_region)

    @cached_property
    def dnc(self) -> DncRepository:
        return DncRepository(self.db)

    @cached_property
    def dnc_service(self) -> DncService:
        return DncService(self.dnc, default_region=self.settings.default_region)

    @cached_property
    def schedules(self) -> ScheduleRepository:
        return ScheduleRepository(self.db)

    @cached_property
    def retries(self) -> RetryRepository:
        return RetryRepository(self.db)

    @cached_property
    def campaigns(self) -> CampaignRepository:
        return CampaignRepository(self.db)

    @cached_property
    def campaign_contacts(self) -> CampaignContactRepository:
        return CampaignContactRepository(self.db)

    @cached_property
    def callback_deliveries(self) -> CallbackDeliveryRepository:
        return CallbackDeliveryRepository(self.db)

    @cached_property
    def batches(self) -> BatchRepository:
        return BatchRepository(self.db)

    @cached_property
    def rate_limits(self) -> RateLimitRepository:
        return RateLimitRepository(self.db)

    @cached_property
    def concurrency_slots(self) -> ConcurrencySlotRepository:
        return ConcurrencySlotRepository(self.db)

    @cached_property
    def event_log(self) -> EventLog:
        return EventLog(self.call_events)

    @cached_property
    def import_service(self) -> ImportService:
        return ImportService(campaigns=self.campaigns, campaign_contacts=self.campaign_contacts,
                             contacts=self.contacts, dnc=self.dnc, default_region=self.settings.default_region,
                             idempotency=self.idempotency_service)

    @cached_property
    def sheet_sync(self) -> SheetSync:
        return SheetSync(campaigns=self.campaigns, campaign_contacts=self.campaign_contacts,
                         imports=self.import_service, client=lambda: self.sheets_client)

    # -- outside world
    @cached_property
    def sheets_client(self):
        from .providers.sheets import GoogleSheetsClient

        return GoogleSheetsClient(self.settings.google_service_account(), api_url=self.settings.sheets_api_url)

    @cached_property
    def dial_queue(self) -> DialQueue:
        return DialQueue(queue_url=self.settings.dial_queue_url)

    def provider(self, name: str | None = None) -> TelephonyProvider:
        """The carrier named `name` (a call's stored provider), else the configured one."""
        name = name or self.settings.telephony_provider
        if name not in self._providers:
            self._providers[name] = self._build_provider(name)
        return self._providers[name]

    @cached_property
    def _providers(self) -> dict[str, TelephonyProvider]:
        return {}

    def carrier(self, name: str | None) -> TelephonyProvider:
        """The provider that dials for a carrier named by an agent or a call
        (None: the default). `twilio` is the simulated carrier while the
        default is the simulator, so local agents never reach api.twilio.com."""
        default = self.settings.telephony_provider
        if name is None or (name == "twilio" and default == "simulated"):
            return self.provider(default)
        return self.provider(name)

    def _build_provider(self, name: str) -> TelephonyProvider:
        from .providers.twilio import SimulatedProvider, TwilioProvider

        s = self.settings
        if name in ("twilio", "simulated", "exotel"):
            s.require_for(name)
        if name == "twilio":
            return TwilioProvider(s.twilio_account_sid, s.twilio_auth_token)
        if name == "simulated":
            return SimulatedProvider(s.twilio_account_sid, s.twilio_auth_token, simulator_url=s.simulator_url)
        if name == "exotel":
            from .providers.exotel import ExotelProvider

            return ExotelProvider(account_sid=s.exotel_account_sid, api_key=s.exotel_api_key,
                                  api_token=s.exotel_api_token, base_url=s.exotel_base_url, flow_url=s.exotel_flow_url)
        if name == "elevenlabs":
            from .providers.elevenlabs import ElevenLabsProvider

            s.require_for("elevenlabs dialing")
            return ElevenLabsProvider(self.elevenlabs, default_phone_number_id=s.elevenlabs_phone_number_id)
        raise ValueError(f"unknown telephony provider {name!r}")

    @cached_property
    def elevenlabs(self):
        from .providers.elevenlabs import ElevenLabsClient

        s = self.settings.require_for("elevenlabs")
        return ElevenLabsClient(s.elevenlabs_api_key, base_url=s.elevenlabs_base_url)

    def _signed_url(self, agent_id: str) -> str:
        return self.elevenlabs.signed_url(agent_id)

    @cached_property
    def recording_store(self):
        from .storage import RecordingStore

        return RecordingStore(self.settings.require_for("recordings storage").recordings_bucket)

    @cached_property
    def transcripts(self) -> TranscriptRepository:
        return TranscriptRepository(self.db)

    @cached_property
    def recordings(self) -> RecordingRepository:
        return RecordingRepository(self.db)

    @cached_property
    def conversation(self) -> ConversationService:
        return ConversationService(calls=self.calls, event_log=self.event_log, transcripts=self.transcripts,
                                   recordings=self.recordings, store=lambda: self.recording_store,
                                   on_call_ended=self.retry_service.after_call_ended)

    # -- services
    @cached_property
    def agent_service(self) -> AgentService:
        return AgentService(self.agents, idempotency=self.idempotency_service,
                            default_region=self.settings.default_region)

    @cached_property
    def idempotency_service(self) -> Idempotency:
        return Idempotency(self.idempotency)

    @cached_property
    def call_service(self) -> CallService:
        return CallService(calls=self.calls, events=self.call_events, agents=self.agents,
                           idempotency=self.idempotency_service, schedules=self.schedules, dispatcher=self.dispatcher,
                           retries=self.retry_service, provider_factory=self.provider,
                           default_region=self.settings.default_region,
                           default_from_number=self.settings.twilio_from_number,
                           is_blocked=self.dnc_service.blocks)

    @cached_property
    def dial_service(self) -> DialService:
        return DialService(calls=self.calls, events=self.call_events, agents=self.agents,
                           providers=self.carrier, public_url=self.settings.public_url,
                           lease_seconds=self.settings.dial_lease_seconds,
                           record_calls=self.settings.record_calls,
                           exotel_webhook_token=self.settings.exotel_webhook_token,
                           on_call_ended=self.call_ended,
                           is_blocked=self.dnc_service.blocks,
                           pacer=self.pacer, run_state=self.run_state,
                           redispatch=self.dispatcher.dispatch_if_due,
                           on_batch_chunk=self.batch_service.fan_out)

    @cached_property
    def call_progress(self) -> CallProgressService:
        return CallProgressService(calls=self.calls, events=self.call_events, agents=self.agents,
                                   on_call_ended=self.call_ended,
                                   signed_url=self._signed_url if self.settings.elevenlabs_api_key else None,
                                   on_recording=self.conversation.apply_recording)

    def call_ended(self, call: Call) -> None:
        """Everything that follows a call's final status (idempotent: a
        repeated final callback may run it again): its concurrency slot is
        freed; campaign calls are settled by their campaign's rules, other
        calls by their retry policy."""
        self.pacer.on_call_ended(call)
        if call.campaign_id:
            self.campaign_runner.after_call_ended(call)
        else:
            self.retry_service.after_call_ended(call)

    @cached_property
    def campaign_runner(self) -> CampaignRunner:
        return CampaignRunner(campaigns=self.campaigns, rows=self.campaign_contacts, contacts=self.contacts,
                              calls=self.calls, agents=self.agents, event_log=self.event_log,
                              dispatch=self.dispatcher.dispatch_if_due, is_blocked=self.dnc_service.blocks,
                              default_from_number=self.settings.twilio_from_number,
                              on_contact_final=self.callback_service.contact_finished)

    @cached_property
    def campaign_service(self) -> CampaignService:
        return CampaignService(campaigns=self.campaigns, contacts=self.campaign_contacts, agents=self.agents,
                               idempotency=self.idempotency_service, runner=self.campaign_runner,
                               call_stats=self.call_stats)

    @cached_property
    def callback_service(self) -> CallbackService:
        def secret_for(campaign_id: str) -> str | None:
            campaign = self.campaigns.get(campaign_id)
            return campaign.callback_secret if campaign else None
        return CallbackService(self.callback_deliveries, secret_for=secret_for)

    def run_state(self, call: Call):
        """Whether the batch or campaign a call belongs to lets it be dialed now."""
        if call.campaign_id:
            return self.campaign_runner.run_state(call)
        return self.batch_service.run_state(call)

    @cached_property
    def pacer(self) -> Pacer:
        return Pacer(limits=self.rate_limits, slots=self.concurrency_slots, calls=self.calls,
                     cps=self.settings.account_cps, wake=self.dispatcher.dispatch_if_due)

    @cached_property
    def batch_service(self) -> BatchService:
        return BatchService(batches=self.batches, calls=self.calls, agents=self.agents, retries=self.retries,
                            event_log=self.event_log, idempotency=self.idempotency_service, queue=self.dial_queue,
                            dispatcher=self.dispatcher, blocked_among=self.dnc_service.blocked_among,
                            cps=self.settings.account_cps, default_region=self.settings.default_region,
                            default_from_number=self.settings.twilio_from_number, stats=self.call_stats_repository)

    @cached_property
    def retry_service(self) -> RetryService:
        return RetryService(calls=self.calls, retries=self.retries, agents=self.agents, event_log=self.event_log)

    @cached_property
    def dispatcher(self) -> Dispatcher:
        return Dispatcher(calls=self.calls, agents=self.agents, event_log=self.event_log, queue=self.dial_queue,
                          lookahead=self._lookahead)

    @cached_property
    def scheduler(self) -> Scheduler:
        return Scheduler(schedules=self.schedules, retries=self.retries, calls=self.calls, event_log=self.event_log,
                         retry_service=self.retry_service, dispatcher=self.dispatcher, lookahead=self._lookahead)

    @property
    def _lookahead(self) -> timedelta:
        return timedelta(seconds=self.settings.scheduler_lookahead_seconds)

    # -- analytics and retention
    @cached_property
    def call_stats_repository(self) -> CallStatsRepository:
        return CallStatsRepository(self.db)

    @cached_property
    def call_stats(self) -> CallStatsService:
        return CallStatsService(self.call_stats_repository)

    @cached_property
    def analytics(self) -> AnalyticsRepository:
        return AnalyticsRepository(self.db)

    @cached_property
    def rollups(self) -> RollupService:
        return RollupService(self.call_stats_repository, self.analytics, retention_days=self.settings.retention_days)

    @cached_property
    def analytics_service(self) -> AnalyticsService:
        return AnalyticsService(self.analytics)

    @cached_property
    def archive_service(self) -> ArchiveService:
        from .archive_store import ArchiveStore

        s = self.settings
        return ArchiveService(ArchiveRepository(self.db), ArchiveStore(s.archive_bucket), chunk_size=s.archive_chunk_size,
                              retention_days=s.retention_days, events_retention_days=s.call_events_retention_days,
                              time_budget_seconds=s.archive_time_budget_seconds)

    @cached_property
    def schedule_service(self) -> ScheduleService:
        return ScheduleService(schedules=self.schedules, calls=self.calls, event_log=self.event_log,
                               cancel_call=self.call_service.cancel, dispatcher=self.dispatcher)


_container: Container | None = None


def get_container() -> Container:
    global _container
    if _container is None:
        _container = Container()
    return _container


def set_container(container: Container | None) -> None:
    """Replace the wiring (tests), or drop it so the next use rebuilds it."""
    global _container
    _container = container
