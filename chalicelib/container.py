"""Wires repositories, providers and services together, once per Lambda
container. Everything is built on first use, so importing the app stays cheap."""
from __future__ import annotations

from datetime import timedelta
from functools import cached_property

from .db import get_database
from .providers.base import TelephonyProvider
from .queues import DialQueue
from .repositories.agents import AgentRepository
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
from .repositories.dnc import DncRepository
from .repositories.retries import RetryRepository
from .repositories.schedules import ScheduleRepository
from .services.api_keys import ApiKeyService
from .services.contacts import ContactService
from .services.dialing import DialService
from .services.dnc import DncService
from .services.events import EventLog
from .services.idempotency import Idempotency
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
    def event_log(self) -> EventLog:
        return EventLog(self.call_events)

    # -- outside world
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

    def _build_provider(self, name: str) -> TelephonyProvider:
        from .providers.twilio import SimulatedProvider, TwilioProvider

        s = self.settings
        if name == "twilio":
            return TwilioProvider(s.twilio_account_sid, s.twilio_auth_token)
        if name == "simulated":
            return SimulatedProvider(s.twilio_account_sid, s.twilio_auth_token, simulator_url=s.simulator_url)
        raise ValueError(f"unknown telephony provider {name!r}")

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
                           provider=self.provider(), public_url=self.settings.public_url,
                           lease_seconds=self.settings.dial_lease_seconds,
                           on_call_ended=self.retry_service.after_call_ended,
                           is_blocked=self.dnc_service.blocks)

    @cached_property
    def call_progress(self) -> CallProgressService:
        return CallProgressService(calls=self.calls, events=self.call_events, agents=self.agents,
                                   on_call_ended=self.retry_service.after_call_ended)

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
