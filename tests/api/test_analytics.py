"""Call statistics and roll-ups, checked against a straightforward Python
computation over a generated month of calls and transcripts."""
from __future__ import annotations

import random
from collections import Counter
from datetime import date, datetime, timedelta, timezone

import pytest

from chalicelib import clock
from chalicelib.container import get_container
from chalicelib.models.call import Call
from tests.helpers import body

MONTH = date(2026, 9, 1)
DAYS = 30
STATUSES = ["completed"] * 5 + ["failed"] * 3 + ["cancelled", "initiated", "in-progress", "ringing"]
FAILURES = ["no_answer", "busy", "voicemail", "network_error", "do_not_call"]
SENTIMENTS = ["positive", "neutral", "negative", "mixed"]
KEYWORDS = ["price", "renewal", "callback", "upgrade", "cancel", "support"]



@pytest.fixture(autouse=True)
def keep_everything(app_env, monkeypatch):
    """The generated data has fixed dates: keep them inside retention whenever the suite runs."""
    from chalicelib.settings import reset_settings

    monkeypatch.setenv("RETENTION_DAYS", "36500")
    reset_settings()


def generate_calls(n: int, seed: int = 7) -> list[Call]:
    rng = random.Random(seed)
    start = datetime.combine(MONTH, datetime.min.time(), tzinfo=timezone.utc)
    calls = []
    for i in range(n):
        created = start + timedelta(seconds=rng.randrange(DAYS * 86400), milliseconds=rng.randrange(1000))
        status = rng.choice(STATUSES)
        fields: dict = {}
        if status == "completed":
            fields = {"outbound_status": "connected", "duration": rng.randrange(5, 600)}
        elif status == "failed":
            reason = rng.choice(FAILURES)
            fields = {"failure_reason": reason,
                      "outbound_status": None if reason in ("network_error", "do_not_call") else reason}
        elif status == "cancelled":
            fields = {"failure_reason": "cancelled", "outbound_status": rng.choice(["queued", "ringing"])}
        elif status == "in-progress":
            fields = {"outbound_status": "connected"}
        elif status == "ringing":
            fields = {"outbound_status": "ringing"}
        if status in ("completed", "failed") and rng.random() < 0.5:
            fields.update(price=round(rng.uniform(0.01, 0.2), 4), price_currency=rng.choice(["USD", "EUR"]))
        if i > 10 and rng.random() < 0.15:
            fields.update(retry_of=f"call_{rng.randrange(10):05d}", retry_count=1)
        calls.append(Call(
            id=f"call_{i:05d}", created_at=created, updated_at=created, to="+14155552671",
            agent_id=rng.choice(["agt_a", "agt_b"]), direction=rng.choice(["outbound"] * 4 + ["inbound"]),
            status=status, campaign_id=rng.choice([None, "cmp_1", "cmp_2"]),
            batch_id=rng.choice([None, "bat_1"]), **fields))
    return calls


def generate_transcripts(calls: list[Call], seed: int = 11) -> list[dict]:
    rng = random.Random(seed)
    transcripts = []
    for call in calls:
        if call.status != "completed" or rng.random() < 0.3:
            continue
        sentiment = rng.choice(SENTIMENTS)
        transcripts.append({"_id": f"trn_{call.id}", "callId": call.id, "createdAt": call.created_at,
                            "analysis": {
                                "sentiment": {"overall": sentiment} if rng.random() < 0.5 else sentiment,
                                "keywords": rng.sample(KEYWORDS, rng.randrange(0, 4)),
                                "criteriaChecks": [{"name": name, "passed": rng.random() < 0.7}
                                                   for name in ("greeting", "consent") if rng.random() < 0.8]}})
    return transcripts


@pytest.fixture(scope="module")
def month():
    calls = generate_calls(1500)
    return calls, generate_transcripts(calls)


@pytest.fixture
def loaded(db, month):
    calls, transcripts = month
    db["calls"].insert_many([call.to_mongo() for call in calls])
    db["transcripts"].insert_many([dict(t) for t in transcripts])
    return calls, transcripts


def expected(calls: list[Call], transcripts: list[dict] = ()) -> dict:
    """The same statistics, computed the obvious way."""
    dialed = [c for c in calls if c.failure_reason not in ("do_not_call", "configuration_error")
              and (c.outbound_status in ("ringing", "connected", "no_answer", "busy", "voicemail")
                   or c.status not in ("initiated", "cancelled"))]
    answered = [c for c in calls if c.status in ("completed", "in-progress")]
    voicemail = [c for c in calls if c.outbound_status == "voicemail" or c.failure_reason == "voicemail"]
    chains: dict[str, bool] = {}
    for c in calls:
        if c.retry_of:
            chains[c.retry_of] = chains.get(c.retry_of, False) or c.status == "completed"
    durations = [c.duration for c in calls if c.duration is not None]
    cost = Counter()
    for c in calls:
        if c.price:
            cost[c.price_currency] += c.price
    ids = {c.id for c in calls}
    analyses = [t["analysis"] for t in transcripts if t["callId"] in ids]
    sentiments = Counter()
    for a in analyses:
        s = a["sentiment"]["overall"] if isinstance(a["sentiment"], dict) else a["sentiment"]
        if s in ("positive", "neutral", "negative"):
            sentiments[s] += 1
    checks = [check for a in analyses for check in a["criteriaChecks"]]
    return {
        "total": len(calls),
        "byStatus": dict(Counter(c.status for c in calls)),
        "byOutcome": dict(Counter(c.outbound_status for c in calls if c.outbound_status)),
        "byDirection": dict(Counter(c.direction for c in calls)),
        "byHour": [sum(1 for c in calls if c.created_at.hour == h) for h in range(24)],
        "dialed": len(dialed), "answered": len(answered), "voicemail": len(voicemail),
        "answerRate": round(len(answered) / len(dialed), 4) if dialed else None,
        "durationTotal": sum(durations), "durationCount": len(durations),
        "retryChains": len(chains), "retrySucceeded": sum(chains.values()),
        "cost": {k: round(v, 4) for k, v in sorted(cost.items())},
        "campaignCalls": dict(Counter(c.campaign_id for c in calls if c.campaign_id)),
        "sentiment": {s: sentiments.get(s, 0) for s in ("positive", "neutral", "negative")},
        "keywords": dict(Counter(k for a in analyses for k in a["keywords"])),
        "criteria": (sum(c["passed"] for c in checks), len(checks)),
    }


def assert_stats_match(stats: dict, want: dict) -> None:
    volume = stats["callVolume"]
    assert volume["total"] == want["total"]
    assert volume["byStatus"] == want["byStatus"]
    assert volume["byOutcome"] == want["byOutcome"]
    assert volume["byDirection"] == want["byDirection"]
    assert stats["outcomes"]["dialed"] == want["dialed"]
    assert stats["outcomes"]["answered"] == want["answered"]
    assert stats["outcomes"]["voicemail"] == want["voicemail"]
    assert stats["outcomes"]["answerRate"] == want["answerRate"]
    assert (stats["duration"]["total"], stats["duration"]["count"]) == (want["durationTotal"], want["durationCount"])
    assert stats["cost"] == pytest.approx(want["cost"])


def test_call_stats_for_any_filter_match_a_python_computation(client, loaded):
    calls, _ = loaded
    day = datetime(2026, 9, 10, tzinfo=timezone.utc)
    cases = [
        ("?from=2026-09-01T00:00:00Z", lambda c: True),
        ("?agentId=agt_a&direction=outbound&from=2026-08-01T00:00:00Z", lambda c: c.agent_id == "agt_a" and c.direction == "outbound"),
        ("?campaignId=cmp_1", lambda c: c.campaign_id == "cmp_1"),
        ("?batchId=bat_1&from=2026-09-10T00:00:00Z&to=2026-09-17T00:00:00Z",
         lambda c: c.batch_id == "bat_1" and day <= c.created_at < day + timedelta(days=7)),
    ]
    for params, keep in cases:
        response = client.http.get(f"/calls/stats{params}")
        assert response.status_code == 200, response.body
        stats = body(response)
        subset = [c for c in calls if keep(c)]
        want = expected(subset)
        assert_stats_match(stats, want)
        assert stats["retries"]["chains"] == want["retryChains"]
        assert stats["retries"]["succeeded"] == want["retrySucceeded"]
        assert stats["callVolume"]["byHour"] == want["byHour"]


def test_the_month_rolled_up_matches_a_python_computation(client, loaded):
    calls, transcripts = loaded
    rollups = get_container().rollups
    rollups.rebuild(MONTH, MONTH + timedelta(days=DAYS - 1))

    day = MONTH + timedelta(days=4)
    response = client.http.get("/analytics?type=daily&from=2026-09-05T00:00:00Z&to=2026-09-06T00:00:00Z")
    [daily] = body(response)["items"]
    day_calls = [c for c in calls if c.created_at.date() == day]
    want = expected(day_calls, transcripts)
    assert_stats_match(daily, want)
    assert daily["callVolume"]["byHour"] == want["byHour"]
    assert sum(daily["callVolume"]["byQuarterHour"]) == len(day_calls)

    [monthly] = body(client.http.get("/analytics?type=monthly&from=2026-09-01T00:00:00Z&to=2026-09-02T00:00:00Z"))[
        "items"]
    want = expected(calls, transcripts)
    assert_stats_match(monthly, want)
    assert monthly["callVolume"]["byHour"] == want["byHour"]
    assert {c["campaignId"]: c["calls"] for c in monthly["campaigns"]["byId"]} == want["campaignCalls"]
    assert monthly["campaigns"]["active"] == 2
    conversation = monthly["conversationAnalysis"]
    assert conversation["sentiment"] == want["sentiment"]
    assert {k["keyword"]: k["count"] for k in conversation["topKeywords"]} == want["keywords"]
    passed, total = want["criteria"]
    assert (conversation["criteriaSuccess"]["passed"], conversation["criteriaSuccess"]["total"]) == (passed, total)
    assert conversation["criteriaSuccess"]["overall"] == round(passed / total, 4)

    weeks = body(client.http.get("/analytics?type=weekly&from=2026-08-31T00:00:00Z&to=2026-10-01T00:00:00Z"))["items"]
    assert [w["date"][:10] for w in weeks] == ["2026-08-31", "2026-09-07", "2026-09-14", "2026-09-21", "2026-09-28"]
    assert sum(w["callVolume"]["total"] for w in weeks) == len(calls)


def test_rolling_again_gives_the_same_document_and_late_events_are_picked_up(db, loaded):
    calls, _ = loaded
    rollups = get_container().rollups
    day = MONTH + timedelta(days=2)

    def stored(doc_id):
        doc = db["analytics"].find_one({"_id": doc_id})
        return {k: v for k, v in doc.items() if k != "updatedAt"}

    with clock.use(clock.FrozenClock(datetime(2026, 9, 3, 23, 50, tzinfo=timezone.utc))) as frozen:
        rollups.run_scheduled()
        first = stored("daily:2026-09-03")
        frozen.advance(minutes=15)
        rollups.rebuild(day, day)
        assert stored("daily:2026-09-03") == first
        assert db["analytics"].count_documents({"type": "daily", "date": datetime(2026, 9, 3, tzinfo=timezone.utc)}) == 1

        # After midnight, a callback completes a call created on the 3rd.
        late = next(c for c in calls if c.created_at.date() == day and c.status == "ringing")
        frozen.advance(minutes=10)
        db["calls"].update_one({"_id": late.id}, {"$set": {"status": "completed", "duration": 30,
                                                            "updatedAt": frozen.now()}})
        frozen.advance(minutes=10)
        assert "2026-09-03" in rollups.run_scheduled()["days"]
    after = db["analytics"].find_one({"_id": "daily:2026-09-03"})
    assert after["callVolume"]["byStatus"]["completed"] == first["callVolume"]["byStatus"]["completed"] + 1
    assert after["callVolume"]["byStatus"].get("ringing", 0) == first["callVolume"]["byStatus"]["ringing"] - 1
    assert after["createdAt"] == first["createdAt"]
    monthly = db["analytics"].find_one({"_id": "monthly:2026-09-01"})
    assert monthly["callVolume"]["byStatus"]["completed"] >= after["callVolume"]["byStatus"]["completed"]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


@pytest.mark.parametrize("zone, instants, hours", [
    # +05:30: 00:15Z is 05:45, 18:20Z is 23:50, 18:30Z is midnight (hour 0)
    ("Asia/Kolkata", ["2026-09-10T00:15", "2026-09-10T18:20", "2026-09-10T18:30"], {5: 1, 23: 1, 0: 1}),
    # +05:45: 00:10Z is 05:55, 00:15Z is 06:00
    ("Asia/Kathmandu", ["2026-09-10T00:10", "2026-09-10T00:15"], {5: 1, 6: 1}),
    # New York springs forward at 07:00Z on 8 March: 06:30Z is 01:30 EST, 07:30Z is 03:30 EDT
    ("America/New_York", ["2026-03-08T06:30", "2026-03-08T07:30", "2026-03-08T12:00"], {1: 1, 3: 1, 8: 1}),
])
def test_calls_by_hour_in_the_requested_zone(client, db, zone, instants, hours):
    for n, instant in enumerate(instants):
        created = at(instant)
        db["calls"].insert_one(Call(id=f"call_tz{n}", created_at=created, updated_at=created, to="+14155552671",
                                    agent_id="agt_a").to_mongo())
    first = min(at(i) for i in instants).date()
    get_container().rollups.rebuild(first, first)
    response = client.http.get(f"/analytics?type=daily&from={first}T00:00:00Z&to={first + timedelta(days=1)}"
                               f"T00:00:00Z&timezone={zone}")
    assert response.status_code == 200, response.body
    [daily] = body(response)["items"]
    assert daily["timezone"] == zone
    assert {h: n for h, n in enumerate(daily["callVolume"]["byHour"]) if n} == hours
    live = body(client.http.get(f"/calls/stats?from={first}T00:00:00Z&timezone={zone}"))
    assert {h: n for h, n in enumerate(live["callVolume"]["byHour"]) if n} == hours


@pytest.mark.parametrize("query, field", [
    ("/analytics?type=yearly", "type"), ("/analytics?timezone=Mars/Olympus", "timezone"),
    ("/analytics?from=2026-09-02T00:00:00Z&to=2026-09-01T00:00:00Z", "to"),
    ("/calls/stats?direction=sideways", "direction"), ("/calls/stats?from=yesterday", "from"),
])
def test_bad_analytics_queries_are_422(client, query, field):
    response = client.http.get(query)
    assert response.status_code == 422, response.body
    assert body(response)["error"]["field"] == field


def test_empty_periods_and_missing_collections(client, db):
    old = clock.now() - timedelta(days=31)
    db["calls"].insert_one(Call(id="call_old", created_at=old, updated_at=old, to="+14155552671",
                                agent_id="agt_a").to_mongo())
    stats = body(client.http.get("/calls/stats"))          # the last 30 days by default
    assert stats["callVolume"]["total"] == 0 and stats["outcomes"]["answerRate"] is None
    assert body(client.http.get("/calls/stats?from=2000-01-01T00:00:00Z"))["callVolume"]["total"] == 1
    doc = get_container().rollups.roll_day(date(2026, 9, 1))
    assert doc.conversation_analysis["transcripts"] == 0 and doc.campaigns["byId"] == []


def test_days_past_retention_are_never_rolled_again(db, monkeypatch):
    from chalicelib.settings import reset_settings
    from chalicelib.container import set_container

    rollups = get_container().rollups
    old = (clock.now() - timedelta(days=200)).date()
    rollups.rebuild(old, old)
    before = db["analytics"].find_one({"_id": f"daily:{old}"})
    monkeypatch.setenv("RETENTION_DAYS", "180")
    reset_settings()
    set_container(None)
    assert get_container().rollups.rebuild(old, old) == []          # its calls may be archived by now
    assert db["analytics"].find_one({"_id": f"daily:{old}"}) == before
