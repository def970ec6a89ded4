"""Benchmarks. Figures are printed, not asserted: tests check behaviour.

    python scripts/bench.py dispatch [--calls 1000]
    python scripts/bench.py load [--clients 4] [--webhooks-per-second 20] [--seconds 30]
    python scripts/bench.py conversation [--calls 40] [--duplicates 200]
    python scripts/bench.py pacing [--cps 5] [--consumers 4] [--calls 150]
    python scripts/bench.py import [--contacts 100000] [--profile]
    python scripts/bench.py rollup [--calls 1000000] [--days 30]

rollup: N generated calls spread over D days in the embedded database (the
insert time is reported too); then one count_documents pass over the
collection, the roll-up of every day (and its weeks and months) from scratch,
a second roll-up of the same range (idempotent: same documents), the
scheduled run's re-roll of one day, and GET /calls/stats's aggregation over
the whole range.

conversation: N calls to an ElevenLabs agent through the simulated Twilio and
the ElevenLabs fake; how long after the call ended its transcript and both
recordings (ours in S3, Twilio's) were readable; then duplicated signed
post_call_transcription deliveries: their latency, and that they changed nothing.

import: a generated CSV of N contacts (phone in national format, name, email,
two customData columns) through ImportService against the embedded MongoDB:
contacts/s end to end, and in the same run the time phonenumbers alone takes
to parse and validate the same numbers; the ratio is our overhead over the
unavoidable parse.

load: N concurrent clients create calls while M signed webhook callbacks per
second (duplicates of real ones, which must change nothing) hit the webhook
route, for a bounded time; then checks every created call reached a final
state, and that the carrier was asked exactly once per call.

dispatch: dispatch lag (from a call's scheduledFor to the carrier being asked
to dial it) for N calls due within the same minute, through the whole local
stack (scheduler run every 60 s as on EventBridge, SQS, the dial worker, the
Twilio SDK against the carrier simulator). Run twice: with the scheduler's
120 s lookahead and per-message SQS delays (what we ship), and with plain
once-a-minute polling (SCHEDULER_LOOKAHEAD_SECONDS=0) for comparison.

pacing: the account's calls-per-second limit under concurrent dialers: N
calls due at once, C consumer threads (each wired like its own Lambda
container) running the real dial service against an embedded MongoDB, a
carrier fake recording when each dial was placed. Reports the achieved rate
against the target and the most dials in any 1-second window; then the same
with half the calls under a concurrency limit (`batch:` slots).
"""
from __future__ import annotations

import argparse
import logging
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
# dispatch and load measure our own overheads, not the carrier's calls-per-second
# limit (1 by default, which `pacing` measures): they run as an account with a high one.
UNPACED = {"ACCOUNT_CPS": "1000"}
http = requests.Session()   # carries the local stack's API key


@contextmanager
def local_stack(*, env_extra: dict[str, str] | None = None, schedule_interval: float = 60, consumers: int = 32,
                time_scale: float = 0.01):
    """The README's `make run`, on free ports, in a temporary folder."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("MONGODB_URI", "AWS_ENDPOINT_URL_SQS", "TELEPHONY_PROVIDER", "PUBLIC_BASE_URL")}
    env.update(env_extra or {})
    with tempfile.TemporaryDirectory() as data_dir:
        process = subprocess.Popen(
            [sys.executable, "-m", "scripts.devstack", "--ephemeral-ports", "--data-dir", data_dir,
             "--time-scale", str(time_scale), "--schedule-interval", str(schedule_interval),
             "--consumers", str(consumers)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        api = simulator = None
        for line in process.stdout:
            if "carrier simulator" in line:
                simulator = line.split()[2]
            if line.startswith("READY "):
                api = line.split()[1]
                break
        if api is None:
            process.kill()
            raise SystemExit("the local stack did not start")
        http.headers["Authorization"] = f"Bearer {(Path(data_dir) / 'dev-api-key').read_text().strip()}"
        try:
            yield api, simulator
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=60)


def percentiles(values: list[float]) -> str:
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]   # noqa: E731
    return (f"p50 {pick(0.50):7.2f} s  p95 {pick(0.95):7.2f} s  p99 {pick(0.99):7.2f} s  "
            f"max {ordered[-1]:7.2f} s")


def dispatch_lag(calls: int, lookahead: int) -> dict[str, list[float]]:
    """Lags in seconds (positive = late) of: the dial message being sent, the
    dialer starting the call, and the carrier being asked to dial."""
    with local_stack(env_extra={"SCHEDULER_LOOKAHEAD_SECONDS": str(lookahead), **UNPACED}) as (api, simulator):
        agent = http.post(f"{api}/agents", json={"name": "Bench", "businessHours": {"start": "00:00",
                                                                                          "end": "00:00"}}).json()
        # All due within one minute that starts after the first scheduler run
        # has had time to come round; numbers are unique so carrier calls map back.
        minute = datetime.now(timezone.utc).replace(second=0, microsecond=0) + timedelta(minutes=2)
        rng = random.Random(7)
        wanted = {f"+1415{5550100 + i:07d}"[:12]: minute + timedelta(seconds=rng.uniform(0, 60))
                  for i in range(calls)}

        def create(item):
            number, at = item
            response = http.post(f"{api}/calls", json={"to": number, "agentId": agent["id"],
                                                            "scheduledFor": at.isoformat()}, timeout=30)
            response.raise_for_status()
            call = response.json()
            return number, (call["id"], datetime.fromisoformat(call["scheduledFor"]))

        started = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            due = dict(pool.map(create, wanted.items()))
        print(f"  created {calls} scheduled calls in {time.monotonic() - started:.1f} s; "
              f"due between {minute:%H:%M:%S} and {minute + timedelta(minutes=1):%H:%M:%S} UTC", flush=True)

        deadline = minute + timedelta(minutes=4)
        while datetime.now(timezone.utc) < deadline:
            placed = {c["to"]: c for c in requests.get(f"{simulator}/_sim/calls", timeout=30).json()}
            if len(placed) >= calls:
                break
            time.sleep(2)
        missing = calls - len(placed)
        if missing:
            print(f"  WARNING: {missing} calls were not dialed by {deadline:%H:%M:%S}")
        lags = {"carrier asked": [], "message sent": [], "dialer started": []}
        for number, placed_call in placed.items():
            if number in due:
                created = datetime.fromisoformat(placed_call["created_at"].replace("Z", "+00:00"))
                lags["carrier asked"].append((created - due[number][1]).total_seconds())
        for number in rng.sample(sorted(due), min(200, len(due))):
            call_id, at = due[number]
            events = http.get(f"{api}/calls/{call_id}", timeout=30).json()["events"]
            for name, event_type in (("message sent", "dispatched"), ("dialer started", "dialed")):
                stamps = [e["timestamp"] for e in events if e["eventType"] == event_type]
                if stamps:
                    lags[name].append((datetime.fromisoformat(stamps[-1]) - at).total_seconds())
        return lags


def cmd_dispatch(args) -> None:
    print(f"dispatch lag, {args.calls} calls due within the same minute (local stack, 32 dial consumers)\n")
    runs = {}
    for label, lookahead in (("lookahead 120 s + SQS delays (shipped)", 120),
                             ("plain once-a-minute polling", 0)):
        print(f"{label}:", flush=True)
        runs[label] = dispatch_lag(args.calls, lookahead)
    print("\nlag from scheduledFor (negative = ahead of time); 'carrier asked' is the figure that counts")
    for label, lags in runs.items():
        print(f"\n  {label}")
        for name in ("message sent", "dialer started", "carrier asked"):
            if lags[name]:
                print(f"    {name:15s} n={len(lags[name]):5d}  {percentiles(lags[name])}")
        print(f"    dialed early (carrier asked before scheduledFor): {sum(1 for x in lags['carrier asked'] if x < 0)}")


def latency(values: list[float]) -> str:
    ordered = sorted(values) or [0.0]
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]   # noqa: E731
    return f"p50 {pick(0.5) * 1000:6.1f} ms  p99 {pick(0.99) * 1000:6.1f} ms  max {ordered[-1] * 1000:6.1f} ms"


def cmd_load(args) -> None:
    import threading
    from urllib.parse import urlencode

    from twilio.request_validator import RequestValidator

    from scripts.devstack.__main__ import DEV_AUTH_TOKEN

    print(f"load: {args.clients} clients creating calls, {args.webhooks_per_second} webhook callbacks/s, "
          f"{args.seconds} s (local stack, 8 dial consumers)\n", flush=True)
    with local_stack(consumers=8, time_scale=0.05, schedule_interval=5, env_extra=UNPACED) as (api, simulator):
        agent = http.post(f"{api}/agents", json={"name": "Load", "businessHours": {"start": "00:00",
                                                                                     "end": "00:00"}}).json()
        created: list[dict] = []
        api_latency: list[float] = []
        hook_latency: list[float] = []
        hook_status: dict[int, int] = {}
        errors: list[str] = []
        lock = threading.Lock()
        stop = time.monotonic() + args.seconds
        numbers = iter(f"+1415{n:07d}" for n in range(5552000, 5559999) if not 1 <= n % 10000 <= 9)

        def client() -> None:
            session = requests.Session()
            session.headers.update(http.headers)
            while time.monotonic() < stop:
                with lock:
                    number = next(numbers)
                started = time.monotonic()
                response = session.post(f"{api}/calls", json={"to": number, "agentId": agent["id"]}, timeout=30)
                elapsed = time.monotonic() - started
                with lock:
                    api_latency.append(elapsed)
                    if response.status_code == 202:
                        created.append(response.json())
                    else:
                        errors.append(f"{response.status_code} {response.text[:200]}")

        def webhooks() -> None:
            validator, session = RequestValidator(DEV_AUTH_TOKEN), requests.Session()
            interval = 1 / max(1, args.webhooks_per_second)
            while time.monotonic() < stop:
                with lock:
                    target = rng.choice(created) if created else None
                if target is None:
                    time.sleep(interval)
                    continue
                path = f"webhooks/twilio/status/{target['id']}"
                params = {"CallSid": "CAduplicate", "CallStatus": "ringing", "To": target["to"]}
                signature = validator.compute_signature(f"{api}/{path}", params)
                started = time.monotonic()
                response = session.post(f"{api}/{path}", data=urlencode(params), timeout=30, headers={
                    "Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature})
                with lock:
                    hook_latency.append(time.monotonic() - started)
                    hook_status[response.status_code] = hook_status.get(response.status_code, 0) + 1
                time.sleep(max(0.0, interval - (time.monotonic() - started)))

        rng = random.Random(3)
        threads = [threading.Thread(target=client) for _ in range(args.clients)] + [threading.Thread(target=webhooks)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        print(f"  POST /calls          {len(api_latency) / args.seconds:6.1f} req/s   {latency(api_latency)}"
              f"   errors: {len(errors)}")
        print(f"  POST /webhooks/...   {len(hook_latency) / args.seconds:6.1f} req/s   {latency(hook_latency)}"
              f"   statuses: {hook_status}")

        deadline = time.monotonic() + 180
        final = {}
        while time.monotonic() < deadline:
            final = {}
            for call in created:
                state = http.get(f"{api}/calls/{call['id']}", timeout=30).json()
                if state["status"] in ("completed", "failed", "cancelled"):
                    final[call["id"]] = state
            if len(final) == len(created):
                break
            time.sleep(3)
        placed = requests.get(f"{simulator}/_sim/calls", timeout=30).json()
        per_number: dict[str, int] = {}
        for carrier_call in placed:
            per_number[carrier_call["to"]] = per_number.get(carrier_call["to"], 0) + 1
        statuses: dict[str, int] = {}
        for state in final.values():
            statuses[state["status"]] = statuses.get(state["status"], 0) + 1
        duplicates = sum(count - 1 for count in per_number.values() if count > 1)
        never_dialed = sum(1 for call in created if call["to"] not in per_number)
        print(f"\n  calls created: {len(created)}; final: {len(final)} {statuses}; "
              f"not final after 180 s: {len(created) - len(final)}")
        print(f"  carrier asked: {len(placed)} times for {len(per_number)} numbers; "
              f"duplicate dials: {duplicates}; created but never dialed: {never_dialed}")


def cmd_conversation(args) -> None:
    import json
    from concurrent.futures import ThreadPoolExecutor

    from chalicelib.providers.elevenlabs import sign
    from scripts.devstack.__main__ import DEV_ELEVENLABS

    print(f"conversation: {args.calls} calls to an ElevenLabs agent (simulated Twilio, fake ElevenLabs), "
          f"then {args.duplicates} duplicated transcription webhooks\n", flush=True)
    with local_stack(consumers=8, time_scale=0.05, schedule_interval=5) as (api, _):
        agent = http.post(f"{api}/agents", json={"name": "Bench", "elevenlabs": {"agentId": "agent_bench"},
                                                 "businessHours": {"start": "00:00", "end": "00:00"}}).json()
        calls = [http.post(f"{api}/calls", json={"to": f"+1415555{3000 + n:04d}", "agentId": agent["id"],
                                                 "dynamicVariables": {"n": n}}).json() for n in range(args.calls)]

        def follow(call: dict) -> tuple[float, float]:
            """Seconds from the carrier's completed callback (its event) to the
            transcript's and the last recording's creation (their createdAt)."""
            session = requests.Session()
            session.headers.update(http.headers)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                transcript = session.get(f"{api}/calls/{call['id']}/transcript")
                recording = session.get(f"{api}/calls/{call['id']}/recording")
                if transcript.status_code == 200 and recording.status_code == 200 \
                        and len(recording.json()["recordings"]) == 2:
                    break
                time.sleep(0.2)
            else:
                raise SystemExit(f"call {call['id']} incomplete after 120 s")
            events = session.get(f"{api}/calls/{call['id']}").json()["events"]
            ended = next(at(e["timestamp"]) for e in events if e["eventType"] == "completed" and e["applied"])
            last_recording = max(at(r["createdAt"]) for r in recording.json()["recordings"])
            return at(transcript.json()["createdAt"]) - ended, last_recording - ended

        def at(value: str) -> float:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(follow, calls))
        print(f"  transcript stored after the call ended:      {percentiles([r[0] for r in results])}")
        print(f"  both recordings stored after the call ended: {percentiles([r[1] for r in results])}")

        first = calls[0]
        transcript = http.get(f"{api}/calls/{first['id']}/transcript").json()
        events_before = len(http.get(f"{api}/calls/{first['id']}").json()["events"])
        payload = json.dumps({"type": "post_call_transcription", "event_timestamp": int(time.time()), "data": {
            "agent_id": "agent_bench", "conversation_id": transcript["conversationId"], "status": "done",
            "transcript": [{"role": "agent", "message": "Hello", "time_in_call_secs": 0}],
            "metadata": {"call_duration_secs": 1}, "analysis": {"call_successful": "success"}}}).encode()
        secret = DEV_ELEVENLABS["ELEVENLABS_WEBHOOK_SECRET"]
        timings, statuses = [], {}
        session = requests.Session()
        for _ in range(args.duplicates):
            signature = sign(secret, payload, int(time.time()))
            started = time.monotonic()
            response = session.post(f"{api}/webhooks/elevenlabs", data=payload, headers={
                "Content-Type": "application/json", "ElevenLabs-Signature": signature})
            timings.append(time.monotonic() - started)
            key = f"{response.status_code} {response.json().get('status')}"
            statuses[key] = statuses.get(key, 0) + 1
        events_after = len(http.get(f"{api}/calls/{first['id']}").json()["events"])
        after = http.get(f"{api}/calls/{first['id']}/transcript").json()
        print(f"  duplicated post_call_transcription: {latency(timings)}   answers: {statuses}")
        print(f"  transcript unchanged: {after == transcript}; call events added by duplicates: "
              f"{events_after - events_before}")


class LateWakeups(logging.Handler):
    def __init__(self):
        super().__init__()
        self.count = 0

    def emit(self, record):
        self.count += "after its dial instant" in record.getMessage()


def cmd_pacing(args) -> None:
    from scripts.devstack import mongo

    with tempfile.TemporaryDirectory() as data_dir:
        port = mongo.free_port()
        process = mongo.start(Path(data_dir), port)
        try:
            os.environ.update({
                "MONGODB_URI": f"mongodb://127.0.0.1:{port}", "MONGODB_DB": "bench_pacing",
                "PUBLIC_BASE_URL": "http://127.0.0.1:9/api", "TELEPHONY_PROVIDER": "simulated",
                "SIMULATOR_URL": "http://127.0.0.1:9", "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
                "TWILIO_AUTH_TOKEN": "bench", "ACCOUNT_CPS": str(args.cps)})
            from chalicelib import migrations
            from chalicelib.db import get_database
            from scripts.pacing_rig import PacingRig, max_in_any_second

            migrations.up(get_database())
            late = LateWakeups()
            logging.getLogger("chalicelib.services.dialing").addHandler(late)
            logging.getLogger("chalicelib.services.dialing").propagate = False
            print(f"pacing: ACCOUNT_CPS={args.cps}, {args.consumers} consumers, {args.calls} calls due at once")
            for title, limited in (("rate only", 0), ("rate + concurrency limit 3 on half the calls", 3)):
                late.count = 0
                rig = PacingRig(consumers=args.consumers, cps=args.cps, talk=(0.5, 1.0))
                ids = rig.add_calls(args.calls - (args.calls // 2 if limited else 0))
                if limited:
                    ids += rig.add_calls(args.calls // 2, concurrency_key=f"batch:bench{limited}", limit=limited)
                elapsed = rig.run(ids, timeout=args.calls / args.cps * 3 + 30)
                times = sorted(t for t, _ in rig.carrier.dials)
                dialed = [call_id for _, call_id in rig.carrier.dials]
                rate = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
                print(f"\n  {title}:")
                print(f"    dialed {len(set(dialed))}/{len(ids)} calls, {len(dialed) - len(set(dialed))} twice; "
                      f"all final after {elapsed:.1f} s")
                print(f"    achieved rate {rate:.2f} calls/s vs target {args.cps} ({rate / args.cps:.0%}); "
                      f"max dials in any 1-s window: {max_in_any_second(times)}")
                deferred = sum(1 for o in rig.outcomes if o == "deferred")
                print(f"    dial attempts {len(rig.outcomes)} (put back: {deferred}; "
                      f"dialer woke > 20 ms late and took a new instant: {late.count})"
                      + (f"; max in flight under the limit: {rig.carrier.max_in_flight.get(f'batch:bench{limited}')}"
                         if limited else ""))
        finally:
            process.terminate()
            process.wait(timeout=10)


def generated_csv(contacts: int) -> str:
    rng = random.Random(42)
    numbers = rng.sample(range(2_000_000, 9_999_999), contacts)
    areas = ["415", "212", "312", "617", "206"]
    lines = [f"({areas[i % 5]}) {n // 10000:03d}-{n % 10000:04d},Person {i},person{i}@example.com,"
             f"plan-{i % 3},2026-12-{1 + i % 28:02d}" for i, n in enumerate(numbers)]
    return "phone,name,email,plan,appointment\n" + "\n".join(lines) + "\n"


def cmd_import(args) -> None:
    import csv
    import io
    import uuid

    import phonenumbers

    from chalicelib import migrations
    from chalicelib.db import get_database, reset_client
    from chalicelib.ids import new_id
    from chalicelib.models.campaign import Campaign
    from chalicelib.clock import now
    from chalicelib.repositories.campaign_contacts import CampaignContactRepository
    from chalicelib.repositories.campaigns import CampaignRepository
    from chalicelib.repositories.contacts import ContactRepository
    from chalicelib.repositories.dnc import DncRepository
    from chalicelib.services.imports import ImportService
    from chalicelib.settings import reset_settings
    from scripts.devstack import mongo

    text = generated_csv(args.contacts)
    print(f"CSV: {args.contacts:,} rows, {len(text) / 1e6:.1f} MB")
    with tempfile.TemporaryDirectory() as data_dir:
        port = mongo.free_port()
        server = mongo.start(Path(data_dir), port)
        try:
            os.environ.update({"MONGODB_URI": f"mongodb://127.0.0.1:{port}",
                               "MONGODB_DB": f"bench_{uuid.uuid4().hex[:8]}", "DEFAULT_REGION": "US"})
            reset_settings()
            reset_client()
            migrations.up(get_database())
            db = get_database()
            campaigns = CampaignRepository(db)
            repositories = [Timed(CampaignContactRepository(db)), Timed(ContactRepository(db)), Timed(DncRepository(db))]
            imports = ImportService(campaigns=campaigns, campaign_contacts=repositories[0], contacts=repositories[1],
                                    dnc=repositories[2], default_region="US")
            at = now()
            campaign = Campaign(id=new_id("cmp"), created_at=at, updated_at=at, name="bench", agent_id="agt_bench",
                                callback_secret="x" * 32)
            campaigns.insert(campaign)

            started = time.perf_counter()
            if args.profile:
                import cProfile
                import pstats

                profiler = cProfile.Profile()
                report = profiler.runcall(imports.import_csv, campaign.id, text)
                pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
            else:
                report = imports.import_csv(campaign.id, text)
            total = time.perf_counter() - started
            in_database = sum(r.seconds for r in repositories)
            for r in repositories:
                r.seconds = 0.0
            assert report.added == args.contacts, report.to_api()

            rows = list(csv.reader(io.StringIO(text)))[1:]
            started = time.perf_counter()
            for row in rows:
                number = phonenumbers.parse(row[0], "US")
                phonenumbers.is_valid_number(number)
                phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
            parse_only = time.perf_counter() - started

            again_started = time.perf_counter()
            again = imports.import_csv(campaign.id, text)
            again_total = time.perf_counter() - again_started
            again_in_database = sum(r.seconds for r in repositories)
            assert again.added == 0
        finally:
            server.terminate()
            server.wait(timeout=10)
    print(f"import (embedded MongoDB): {total:6.1f} s  {args.contacts / total:8,.0f} contacts/s  "
          f"(added {report.added:,}, contacts created {report.contacts_created:,})")
    print(f"phonenumbers alone:        {parse_only:6.1f} s  {args.contacts / parse_only:8,.0f} numbers/s")
    print(f"ratio import / parse:      {total / parse_only:6.1f} x")
    print(f"  of which repository calls (database, and building new contacts): {in_database:.1f} s; "
          f"everything else (CSV, validation incl. parse, "
          f"email, campaign-contact models): {total - in_database:.1f} s = {(total - in_database) / parse_only:.1f} x parse")
    print(f"re-import of the same file: {again_total:5.1f} s  {args.contacts / again_total:8,.0f} rows/s  "
          f"(added {again.added}, merged {again.duplicates_merged:,}; database calls {again_in_database:.1f} s)")


class Timed:
    """A repository whose calls are timed (how much of an import is the database)."""

    def __init__(self, inner):
        self._inner = inner
        self.seconds = 0.0

    def __getattr__(self, name):
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr

        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return attr(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started

        return timed


def cmd_rollup(args) -> None:
    from pymongo import MongoClient

    from chalicelib import migrations
    from chalicelib.repositories.analytics import AnalyticsRepository
    from chalicelib.repositories.call_stats import CallStatsRepository, StatsFilter
    from chalicelib.services.call_stats import CallStatsService
    from chalicelib.services.rollups import RollupService
    from scripts.devstack import mongo

    rng = random.Random(1)
    first = datetime(2026, 9, 1, tzinfo=timezone.utc)
    statuses = [("completed", "connected", None)] * 5 + [("failed", "no_answer", "no_answer"),
                                                          ("failed", "busy", "busy"), ("failed", "voicemail", "voicemail"),
                                                          ("cancelled", "queued", "cancelled")]
    with tempfile.TemporaryDirectory() as data_dir:
        port = mongo.free_port()
        server = mongo.start(Path(data_dir), port)
        try:
            os.environ["MONGODB_URI"] = f"mongodb://127.0.0.1:{port}"     # migration 0009 reads the settings
            db = MongoClient(os.environ["MONGODB_URI"], tz_aware=True)["bench"]
            migrations.up(db)
            started = time.perf_counter()
            batch = []
            for n in range(args.calls):
                created = first + timedelta(seconds=rng.random() * args.days * 86400)
                status, outcome, reason = rng.choice(statuses)
                doc = {"_id": f"call_{n:08d}", "direction": "outbound", "to": "+14155552671",
                       "agentId": f"agt_{n % 5}", "status": status, "outboundStatus": outcome,
                       "createdAt": created, "updatedAt": created, "retryCount": 0, "metadata": {}}
                if reason:
                    doc["failureReason"] = reason
                if status == "completed":
                    doc["duration"] = rng.randrange(5, 600)
                if n % 3 == 0:
                    doc["campaignId"] = f"cmp_{n % 7}"
                if n % 10 == 0 and n:
                    doc.update(retryOf=f"call_{n - 10:08d}", retryCount=1)
                batch.append(doc)
                if len(batch) == 10_000:
                    db["calls"].insert_many(batch, ordered=False)
                    batch = []
                    if (n + 1) % 100_000 == 0:
                        print(f"  inserted {n + 1:,} ({(n + 1) / (time.perf_counter() - started):,.0f}/s)", flush=True)
            if batch:
                db["calls"].insert_many(batch, ordered=False)
            insert_s = time.perf_counter() - started
            print(f"insert {args.calls:,} calls: {insert_s:,.1f} s ({args.calls / insert_s:,.0f}/s)")

            def timed(label, work):
                t = time.perf_counter()
                result = work()
                print(f"{label}: {time.perf_counter() - t:,.1f} s", flush=True)
                return result

            count = timed("one count_documents({}) pass", lambda: db["calls"].count_documents({}))
            assert count == args.calls, count
            rollups = RollupService(CallStatsRepository(db), AnalyticsRepository(db))
            last = (first + timedelta(days=args.days - 1)).date()
            timed(f"roll-up of {args.days} days + weeks + months, from scratch",
                  lambda: rollups.rebuild(first.date(), last))
            before = {d["_id"]: {k: v for k, v in d.items() if k != "updatedAt"} for d in db["analytics"].find()}
            timed("the same roll-up again", lambda: rollups.rebuild(first.date(), last))
            after = {d["_id"]: {k: v for k, v in d.items() if k != "updatedAt"} for d in db["analytics"].find()}
            print(f"  {len(after)} analytics documents; identical after re-rolling: {before == after}")
            monthly = db["analytics"].find_one({"_id": f"monthly:{first.date().isoformat()}"})
            print(f"  monthly total {monthly['callVolume']['total']:,} (calls {args.calls:,})")
            timed("re-roll of one day (+ its week and month)", lambda: rollups.roll_days([first.date()]))
            stats = CallStatsService(CallStatsRepository(db))
            timed(f"GET /calls/stats aggregation over the {args.days} days",
                  lambda: stats.compute(StatsFilter(created_from=first, created_to=first + timedelta(days=args.days))))
        finally:
            server.terminate()
            server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    dispatch = commands.add_parser("dispatch", help="scheduled-call dispatch lag")
    dispatch.add_argument("--calls", type=int, default=1000)
    dispatch.set_defaults(run=cmd_dispatch)
    load = commands.add_parser("load", help="API and webhook load, then exactly-once checks")
    load.add_argument("--clients", type=int, default=4)
    load.add_argument("--webhooks-per-second", type=int, default=20)
    load.add_argument("--seconds", type=int, default=30)
    load.set_defaults(run=cmd_load)
    conversation = commands.add_parser("conversation", help="transcripts and recordings after the call; duplicates")
    conversation.add_argument("--calls", type=int, default=40)
    conversation.add_argument("--duplicates", type=int, default=200)
    conversation.set_defaults(run=cmd_conversation)
    pacing = commands.add_parser("pacing", help="calls-per-second limit and concurrency slots under concurrent dialers")
    pacing.add_argument("--cps", type=int, default=5)
    pacing.add_argument("--consumers", type=int, default=4)
    pacing.add_argument("--calls", type=int, default=150)
    pacing.set_defaults(run=cmd_pacing)
    imports = commands.add_parser("import", help="CSV contact import throughput vs. phonenumbers alone")
    imports.add_argument("--contacts", type=int, default=100_000)
    imports.add_argument("--profile", action="store_true", help="print a cProfile of the import")
    imports.set_defaults(run=cmd_import)
    rollup = commands.add_parser("rollup", help="analytics roll-up time next to one count_documents pass")
    rollup.add_argument("--calls", type=int, default=1_000_000)
    rollup.add_argument("--days", type=int, default=30)
    rollup.set_defaults(run=cmd_rollup)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
