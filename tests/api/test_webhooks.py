from chalicelib.container import get_container
from tests.api.test_calls import create_call
from tests.helpers import body, signed_form, twilio_callback


def dialed_call(client, agent, to="+14155552671"):
    call = create_call(client, agent, to=to)
    get_container().dial_service.dial(call["id"])
    call = body(client.http.get(f"/calls/{call['id']}"))
    assert call["providerCallSid"]
    return call


def statuses(client, call_id):
    call = body(client.http.get(f"/calls/{call_id}"))
    return call, [(e["eventType"], e["applied"]) for e in call["events"] if e["source"] != "internal"
                  and e["source"] != "api"]


def test_a_call_that_is_answered_and_completes(client, agent, provider):
    call = dialed_call(client, agent)
    sid = call["providerCallSid"]
    for status, extra in [("initiated", {}), ("ringing", {}), ("in-progress", {"AnsweredBy": "human"}),
                          ("completed", {"CallDuration": "37", "Timestamp": "Sat, 21 Nov 2026 10:00:37 +0000"})]:
        response = twilio_callback(client, call["id"], status, sid, **extra)
        assert response.status_code == 200, response.body

    final, events = statuses(client, call["id"])
    assert (final["status"], final["outboundStatus"], final["duration"]) == ("completed", "connected", 37)
    assert final["answeredBy"] == "human"
    assert final["startedAt"] and final["endedAt"] == "2026-11-21T10:00:37Z"
    assert events == [("initiated", False), ("ringing", True), ("in-progress", True), ("completed", True)]
    assert final["events"][-1]["data"]["CallDuration"] == "37"     # the raw payload is kept


def test_busy_fails_the_call(client, agent, provider):
    call = dialed_call(client, agent)
    twilio_callback(client, call["id"], "ringing", call["providerCallSid"])
    twilio_callback(client, call["id"], "busy", call["providerCallSid"], CallDuration="0")
    final, _ = statuses(client, call["id"])
    assert (final["status"], final["outboundStatus"], final["failureReason"]) == ("failed", "busy", "busy")
    assert final["canRetry"] is True


def test_duplicates_and_late_callbacks_never_move_a_call_backwards(client, agent, provider):
    call = dialed_call(client, agent)
    sid = call["providerCallSid"]
    twilio_callback(client, call["id"], "in-progress", sid)
    twilio_callback(client, call["id"], "ringing", sid)            # late
    twilio_callback(client, call["id"], "completed", sid, CallDuration="5")
    twilio_callback(client, call["id"], "completed", sid, CallDuration="5")   # duplicate
    twilio_callback(client, call["id"], "in-progress", sid)        # very late
    final, events = statuses(client, call["id"])
    assert final["status"] == "completed"
    assert events == [("in-progress", True), ("ringing", False), ("completed", True), ("completed", False),
                      ("in-progress", False)]
    reasons = [e.get("reason") for e in final["events"] if not e["applied"]]
    assert reasons == ["in-progress -> ringing is not allowed", "already completed",
                       "completed -> in-progress is not allowed"]


def test_completed_by_an_answering_machine_is_voicemail(client, agent, provider):
    call = dialed_call(client, agent)
    twilio_callback(client, call["id"], "in-progress", call["providerCallSid"], AnsweredBy="machine_end_beep")
    twilio_callback(client, call["id"], "completed", call["providerCallSid"], CallDuration="12")
    final, _ = statuses(client, call["id"])
    assert (final["status"], final["outboundStatus"], final["failureReason"]) == ("failed", "voicemail", "voicemail")


def test_forged_or_misaddressed_callbacks_are_rejected(client, agent, provider):
    call = dialed_call(client, agent)
    path = f"webhooks/twilio/status/{call['id']}"
    params = {"CallSid": call["providerCallSid"], "CallStatus": "completed"}
    for headers, form in [
        signed_form(path, params, token="wrong-token"),
        signed_form(path, params, url=f"https://evil.test/api/{path}"),
        ({"content-type": "application/x-www-form-urlencoded"}, "CallSid=x&CallStatus=completed"),
    ]:
        response = client.http.post(f"/{path}", headers=headers, body=form)
        assert response.status_code == 403
        assert body(response)["error"]["code"] == "invalid_signature"
    assert body(client.http.get(f"/calls/{call['id']}"))["status"] == "initiated"


def test_unknown_call_and_foreign_sid(client, agent, provider):
    response = twilio_callback(client, "call_nope", "completed", "CA123")
    assert response.status_code == 404
    call = dialed_call(client, agent)
    response = twilio_callback(client, call["id"], "completed", "CAsomeoneelse")
    assert response.status_code == 200
    final, events = statuses(client, call["id"])
    assert final["status"] == "initiated" and events == [("completed", False)]


def test_status_route_without_call_id_finds_the_call_by_sid(client, agent, provider):
    call = dialed_call(client, agent)
    headers, form = signed_form("webhooks/twilio/status", {"CallSid": call["providerCallSid"], "CallStatus": "ringing"})
    response = client.http.post("/webhooks/twilio/status", headers=headers, body=form)
    assert response.status_code == 200
    assert body(client.http.get(f"/calls/{call['id']}"))["status"] == "ringing"


def test_twiml_for_a_person_greets_with_placeholders_filled(client, agent, provider):
    call = dialed_call(client, agent)
    headers, form = signed_form(f"twiml/{call['id']}", {"CallSid": call["providerCallSid"], "AnsweredBy": "human"})
    response = client.http.post(f"/twiml/{call['id']}", headers=headers, body=form)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/xml"
    xml = response.body.decode()
    assert "<Say>Hello! This is Ava. How can I help you today?</Say>" in xml
    assert xml.rstrip().endswith("<Hangup /></Response>")


def test_twiml_for_voicemail_leaves_the_message(client, agent, provider):
    call = dialed_call(client, agent)
    headers, form = signed_form(f"twiml/{call['id']}", {"CallSid": call["providerCallSid"],
                                                        "AnsweredBy": "machine_end_beep"})
    xml = client.http.post(f"/twiml/{call['id']}", headers=headers, body=form).body.decode()
    assert "Hello, this is Ava from Acme Dental. Please call us back at +14155550123. Thank you!" in xml
    stored = body(client.http.get(f"/calls/{call['id']}"))
    assert stored["metadata"]["voicemailLeft"] is True
    assert stored["outboundStatus"] == "voicemail"


def test_twiml_is_signed_too(client, agent, provider):
    call = dialed_call(client, agent)
    response = client.http.post(f"/twiml/{call['id']}", headers={"content-type": "application/x-www-form-urlencoded"},
                                body="AnsweredBy=human")
    assert response.status_code == 403


def test_repeated_form_fields_are_signed_and_kept(client, agent, provider):
    from twilio.request_validator import RequestValidator
    from urllib.parse import urlencode

    from tests.conftest import AUTH_TOKEN, PUBLIC_BASE_URL

    call = dialed_call(client, agent)
    path = f"webhooks/twilio/status/{call['id']}"
    pairs = [("CallSid", call["providerCallSid"]), ("CallStatus", "ringing"), ("Tag", "a"), ("Tag", "b")]

    class Multi(dict):
        def getall(self, key):
            return [v for k, v in pairs if k == key]

    signature = RequestValidator(AUTH_TOKEN).compute_signature(f"{PUBLIC_BASE_URL}/{path}", Multi(pairs))
    response = client.http.post(f"/{path}", body=urlencode(pairs), headers={
        "content-type": "application/x-www-form-urlencoded", "x-twilio-signature": signature})
    assert response.status_code == 200
    stored = body(client.http.get(f"/calls/{call['id']}"))
    assert stored["status"] == "ringing" and stored["events"][-1]["data"]["Tag"] == ["a", "b"]


def test_a_callback_for_a_call_never_dialed_changes_nothing(client, agent, provider):
    from tests.api.test_calls import create_call as create

    call = create(client, agent)                    # dispatched, not yet dialed
    assert twilio_callback(client, call["id"], "in-progress", "CAforged").status_code == 200
    stored = body(client.http.get(f"/calls/{call['id']}"))
    assert stored["status"] == "initiated"
    assert stored["events"][-1]["reason"] == "the call was never dialed"
    assert get_container().dial_service.dial(call["id"]) == "dialed"
