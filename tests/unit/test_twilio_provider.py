"""The Twilio provider through the real SDK, against the local carrier
simulator (which speaks Twilio's REST dialect) and against dead endpoints."""
import socket
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.providers.base import (CannotCancel, DialRequest, InvalidNumber, OutcomeUnknown,
                                       ProviderUnavailable)
from chalicelib.providers.twilio import SimulatedProvider
from scripts.devstack.simulator import CarrierSimulator

SID, TOKEN = "AC" + "1" * 32, "sim-token"


@pytest.fixture(scope="module")
def simulator():
    sim = CarrierSimulator(SID, TOKEN, time_scale=0.02).start()
    yield sim
    sim.stop()


@pytest.fixture
def provider(simulator):
    return SimulatedProvider(SID, TOKEN, simulator_url=simulator.base_url)


def request(to):
    # Callbacks go nowhere: these tests look at the REST side only.
    return DialRequest(call_id="call_x", to=to, from_="+14155550100", answer_url="http://127.0.0.1:9/twiml",
                       status_callback_url="http://127.0.0.1:9/status", time_limit_seconds=120)


def test_place_call_sends_what_the_dialer_decided(provider, simulator):
    sid = provider.place_call(request("+14155552671")).provider_call_sid
    assert sid.startswith("CA")
    params = simulator.call(sid)["params"]
    assert params["To"] == "+14155552671" and params["From"] == "+14155550100"
    assert params["MachineDetection"] == "DetectMessageEnd"
    assert params["TimeLimit"] == "120" and params["StatusCallbackMethod"] == "POST"
    assert set(params["StatusCallbackEvent"]) == {"initiated", "ringing", "answered", "completed"}


def test_errors_are_classified(provider):
    with pytest.raises(InvalidNumber) as invalid:
        provider.place_call(request("+14155550001"))
    assert invalid.value.code == 21211
    with pytest.raises(ProviderUnavailable):
        provider.place_call(request("+14155550009"))


def test_find_calls_by_number_and_caller_id_since(provider):
    since = datetime.now(timezone.utc) - timedelta(seconds=1)
    first = provider.place_call(request("+14155552688")).provider_call_sid
    second = provider.place_call(request("+14155552688")).provider_call_sid
    assert provider.find_calls(to="+14155552688", from_="+14155550100", since=since) == [first, second]
    assert provider.find_calls(to="+14155552688", from_="+14155550111", since=since) == []
    assert provider.find_calls(to="+14155552689", from_="+14155550100", since=since) == []


def test_cancel_after_answer_hangs_up(provider, simulator):
    sid = provider.place_call(request("+14155550006")).provider_call_sid
    deadline = time.monotonic() + 10
    while simulator.call(sid)["status"] != "in-progress" and time.monotonic() < deadline:
        time.sleep(0.01)
    provider.cancel_call(sid)
    simulator.wait_for_call(sid, timeout=10)
    assert simulator.call(sid)["status"] == "completed"


def test_cancel_while_ringing_and_too_late(provider, simulator):
    sid = provider.place_call(request("+14155550006")).provider_call_sid
    provider.cancel_call(sid)
    simulator.wait_for_call(sid, timeout=10)
    assert simulator.call(sid)["status"] == "canceled"
    with pytest.raises(CannotCancel):
        provider.cancel_call(sid)


def test_connection_refused_means_the_call_was_never_placed():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    provider = SimulatedProvider(SID, TOKEN, simulator_url=f"http://127.0.0.1:{port}")
    with pytest.raises(ProviderUnavailable):
        provider.place_call(request("+14155552671"))


def test_no_answer_from_the_carrier_is_an_unknown_outcome():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted = []
    threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True).start()
    try:
        provider = SimulatedProvider(SID, TOKEN, simulator_url=f"http://127.0.0.1:{listener.getsockname()[1]}",
                                     timeout=0.5)
        with pytest.raises(OutcomeUnknown):
            provider.place_call(request("+14155552671"))
    finally:
        listener.close()
