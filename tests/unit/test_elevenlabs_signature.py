"""ElevenLabs-Signature: t=<unix>,v0=<hex HMAC-SHA256 of "t.body">, checked
with a tolerance in both directions (replays, skewed clocks)."""
import hashlib
import hmac
from datetime import datetime, timezone

from chalicelib.providers.elevenlabs import sign, signature_is_valid

NOW = datetime(2026, 11, 21, 18, 0, tzinfo=timezone.utc)
T = int(NOW.timestamp())
BODY = b'{"type":"post_call_transcription","data":{}}'


def header(secret="s3cret", body=BODY, t=T):
    return f"t={t},v0=" + hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()


def valid(value, body=BODY):
    return signature_is_valid("s3cret", value, body, now=NOW, tolerance_seconds=1800)


def test_our_signer_matches_the_documented_scheme():
    assert sign("s3cret", BODY, T) == header()


def test_good_signature_and_tolerance_edges():
    assert valid(header())
    assert valid(header(t=T - 1800)) and valid(header(t=T + 1800))
    assert not valid(header(t=T - 1801)) and not valid(header(t=T + 1801))


def test_wrong_secret_tampered_body_and_malformed_headers():
    assert not valid(header(secret="other"))
    assert not valid(header(), body=BODY + b" ")
    for bad in (None, "", "v0=abc", f"t={T}", f"t={T},t={T},v0=00", "t=soon,v0=00", "garbage"):
        assert not valid(bad)


def test_any_of_several_v0_signatures_may_match():
    good = header().split("v0=")[1]
    assert valid(f"t={T},v0={'0' * 64},v0={good}")
