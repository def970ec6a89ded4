"""Wires repositories, providers and services together, once per Lambda
container. Everything is built on first use, so importing the app stays cheap."""
from __future__ import annotations

from functools import cached_property

from .db import get_database
from .providers.base import TelephonyProvider
from .queues import DialQueue
from .repositories.agents import AgentRepository
from .repositories.call_events import CallEventRepository
from .repositories.calls import CallRepository
from .repositories.idempotency import IdempotencyRepository
from .services.agents import AgentService
from .services.call_progress import CallProgressService
from .services.calls import CallService
from .services.dialing import DialService
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
        return AgentService(self.agents, default_region=self.settings.default_region)

    @cached_property
    def call_service(self) -> CallService:
        return CallService(calls=self.calls, events=self.call_events, agents=self.agents,
                           idempotency=self.idempotency, queue=self.dial_queue, provider_factory=self.provider,
                           default_region=self.settings.default_region,
                           default_from_number=self.settings.twilio_from_number)

    @cached_property
    def dial_service(self) -> DialService:
        return DialService(calls=self.calls, events=self.call_events, agents=self.agents,
                           provider=self.provider(), public_url=self.settings.public_url,
                           lease_seconds=self.settings.dial_lease_seconds)

    @cached_property
    def call_progress(self) -> CallProgressService:
        return CallProgressService(calls=self.calls, events=self.call_events, agents=self.agents)


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
