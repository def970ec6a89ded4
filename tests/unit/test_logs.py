import io
import json
import logging

import pytest

from chalicelib import logs


@pytest.fixture
def lines():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    previous, root.level = root.level, logging.INFO
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)
    root.setLevel(previous)


def test_one_json_object_per_line_with_context(lines):
    log = logging.getLogger("tests.logs")
    with logs.log_context(requestId="req-1"):
        with logs.log_context(callId="call_1"):
            log.info("dialed", extra={"attempt": 2})
        log.info("after")
    first, second = lines()
    assert (first["message"], first["requestId"], first["callId"], first["attempt"]) == ("dialed", "req-1", "call_1", 2)
    assert second["requestId"] == "req-1" and "callId" not in second
    assert first["level"] == "INFO" and first["ts"].endswith("+00:00")


def test_numbers_keys_and_tokens_never_reach_the_log(lines):
    log = logging.getLogger("tests.logs")
    secret_token = "0123456789abcdef0123456789abcdef"
    log.warning("to +14155552671 from +442079460958 key odk_AbCdEf123456 header Bearer abc.def token %s",
                secret_token, extra={"headers": {"Authorization": "Bearer odk_xyz", "x-api-key": "odk_q"},
                                     "transcript": "my card number is 4111", "to": "+919876543210"})
    try:
        raise RuntimeError("failed calling +14155550002")
    except RuntimeError:
        log.exception("boom")
    text = json.dumps(lines())
    for leaked in ("+14155552671", "+442079460958", "+919876543210", "+14155550002", "odk_AbCdEf123456",
                   "odk_xyz", "abc.def", secret_token, "4111"):
        assert leaked not in text
    assert "+1415555****" in text and "+44207946****" in text
