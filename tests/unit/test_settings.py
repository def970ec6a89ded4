import pytest

from chalicelib.settings import ConfigurationError, get_settings, reset_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ("MONGODB_URI", "PUBLIC_BASE_URL", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "SIMULATOR_URL",
                 "TELEPHONY_PROVIDER"):
        monkeypatch.delenv(name, raising=False)
    reset_settings()
    yield
    reset_settings()


def test_missing_mongodb_uri_is_named():
    with pytest.raises(ConfigurationError, match="MONGODB_URI is required"):
        get_settings()


def test_app_settings_name_what_is_missing(monkeypatch):
    monkeypatch.setenv("MONGODB_URI", "mongodb://127.0.0.1:1")
    monkeypatch.setenv("TELEPHONY_PROVIDER", "twilio")
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC1")
    with pytest.raises(ConfigurationError) as excinfo:
        get_settings().check_app()
    assert "PUBLIC_BASE_URL" in str(excinfo.value) and "TWILIO_AUTH_TOKEN" in str(excinfo.value)
    assert "TWILIO_ACCOUNT_SID" not in str(excinfo.value)


def test_simulated_provider_needs_the_simulator(monkeypatch):
    monkeypatch.setenv("MONGODB_URI", "mongodb://127.0.0.1:1")
    monkeypatch.setenv("PUBLIC_BASE_URL", "http://127.0.0.1:8000/")
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC1")
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "t")
    with pytest.raises(ConfigurationError, match="SIMULATOR_URL"):
        get_settings().check_app()
    monkeypatch.setenv("SIMULATOR_URL", "http://127.0.0.1:8021")
    reset_settings()
    settings = get_settings().check_app()
    assert settings.public_url("/twiml/call_1") == "http://127.0.0.1:8000/twiml/call_1"


def test_invalid_value_is_named(monkeypatch):
    monkeypatch.setenv("MONGODB_URI", "mongodb://127.0.0.1:1")
    monkeypatch.setenv("TELEPHONY_PROVIDER", "carrier-pigeon")
    with pytest.raises(ConfigurationError, match="TELEPHONY_PROVIDER"):
        get_settings()


def test_carrier_settings_are_named_only_when_that_carrier_is_used(monkeypatch):
    monkeypatch.setenv("MONGODB_URI", "mongodb://127.0.0.1:1")
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://api.example.test/api")
    monkeypatch.setenv("TELEPHONY_PROVIDER", "exotel")
    for name in ("EXOTEL_ACCOUNT_SID", "EXOTEL_API_KEY", "EXOTEL_API_TOKEN", "EXOTEL_WEBHOOK_TOKEN",
                 "ELEVENLABS_API_KEY", "ELEVENLABS_WEBHOOK_SECRET", "RECORDINGS_BUCKET"):
        monkeypatch.delenv(name, raising=False)
    settings = get_settings().check_app()          # no Twilio settings needed without Twilio
    with pytest.raises(ConfigurationError) as excinfo:
        settings.require_for("exotel")
    assert str(excinfo.value) == ("missing required setting(s) EXOTEL_ACCOUNT_SID, EXOTEL_API_KEY, "
                                  "EXOTEL_API_TOKEN, EXOTEL_WEBHOOK_TOKEN (exotel)")
    with pytest.raises(ConfigurationError, match=r"ELEVENLABS_WEBHOOK_SECRET \(elevenlabs webhook\)"):
        settings.require_for("elevenlabs webhook")
    with pytest.raises(ConfigurationError, match="RECORDINGS_BUCKET"):
        settings.require_for("recordings storage")


def test_the_exotel_webhook_token_must_be_unguessable(monkeypatch):
    monkeypatch.setenv("MONGODB_URI", "mongodb://127.0.0.1:1")
    monkeypatch.setenv("EXOTEL_WEBHOOK_TOKEN", "short")
    with pytest.raises(ConfigurationError, match="EXOTEL_WEBHOOK_TOKEN"):
        get_settings()
