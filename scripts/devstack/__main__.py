"""Run the whole system locally: python -m scripts.devstack

Starts, with no account and no internet:
  - MongoDB: the embedded nx-27017 server, data kept in .local/mongo
    (skipped when MONGODB_URI is set);
  - SQS and S3: moto in server mode, with the dial queue and its dead-letter queue,
    and the archive bucket (ARCHIVE_BUCKET, default outdial-archive-local)
    (skipped when AWS_ENDPOINT_URL_SQS is set or OUTDIAL_REAL_AWS=1);
  - S3 for recordings: the same moto server, with the recordings bucket;
  - the carrier simulator (skipped when TELEPHONY_PROVIDER=twilio);
  - fakes of the ElevenLabs and Exotel APIs (skipped when ELEVENLABS_BASE_URL /
    EXOTEL_BASE_URL are set), which send signed webhooks like the real ones;
  - a fake of Google's token endpoint and Sheets API, with a generated
    service-account key in the data folder (skipped when
    GOOGLE_SERVICE_ACCOUNT_JSON or GOOGLE_SERVICE_ACCOUNT_FILE is set);
  - the API under `chalice local`;
  - the worker that feeds SQS messages and schedule ticks to the app's handlers.
Ctrl-C stops everything it started.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from chalicelib.queues import DIAL_QUEUE

from . import mongo

ROOT = Path(__file__).resolve().parents[2]
DEV_ACCOUNT_SID = "AC" + "0" * 32
DEV_AUTH_TOKEN = "local-simulator-token"   # shared by the simulator and the app; not a secret
DEV_CALLER_ID = "+14155550100"
# Shared by the local fakes and the app; none of these is a secret.
DEV_ELEVENLABS = {"ELEVENLABS_API_KEY": "local-elevenlabs-key",
                  "ELEVENLABS_WEBHOOK_SECRET": "local-elevenlabs-webhook-secret",
                  "ELEVENLABS_PHONE_NUMBER_ID": "phnum_local"}
DEV_EXOTEL = {"EXOTEL_ACCOUNT_SID": "outdial-local", "EXOTEL_API_KEY": "local-exotel-key",
              "EXOTEL_API_TOKEN": "local-exotel-token", "EXOTEL_WEBHOOK_TOKEN": "local-exotel-webhook-token",
              "EXOTEL_FLOW_URL": "http://my.exotel.com/outdial-local/exoml/start_voice/1"}
DEV_BUCKET = "outdial-recordings-local"


class Stack:
    def __init__(self, data_dir: Path, *, quiet: bool):
        self.data_dir = data_dir
        self.logs = data_dir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.quiet = quiet
        self.processes: list[tuple[str, subprocess.Popen]] = []

    def spawn(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "ab")
        process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        self.processes.append((name, process))
        return process

    def adopt(self, name: str, process: subprocess.Popen) -> None:
        self.processes.append((name, process))

    def say(self, message: str) -> None:
        if not self.quiet:
            print(message, flush=True)

    def dead(self) -> str | None:
        for name, process in self.processes:
            if process.poll() is not None:
                return name
        return None

    def stop(self) -> None:
        """Stop in reverse order of start, so nothing loses a service it still uses."""
        for _, process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=1).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


def create_queues(env: dict[str, str]) -> None:
    import boto3

    sqs = boto3.client("sqs", region_name=env["AWS_DEFAULT_REGION"], endpoint_url=env.get("AWS_ENDPOINT_URL_SQS"),
                       aws_access_key_id=env.get("AWS_ACCESS_KEY_ID"),
                       aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY"))
    dlq = sqs.create_queue(QueueName=f"{DIAL_QUEUE}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.create_queue(QueueName=DIAL_QUEUE, Attributes={
        "VisibilityTimeout": "60",
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"}),
    })


LOCAL_ARCHIVE_BUCKET = "outdial-archive-local"


def create_bucket(env: dict[str, str]) -> None:
    """The recordings and archive buckets in the local S3."""
    import boto3

    s3 = boto3.client("s3", region_name=env["AWS_DEFAULT_REGION"], endpoint_url=env.get("AWS_ENDPOINT_URL_S3"),
                      aws_access_key_id=env.get("AWS_ACCESS_KEY_ID"),
                      aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY"))
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    for bucket in (env.get("RECORDINGS_BUCKET"), env.get("ARCHIVE_BUCKET")):
        if bucket and bucket not in existing:
            s3.create_bucket(Bucket=bucket)


def migrate(env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "scripts/migrate.py", "up"], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL)


def start(args, stack: Stack) -> None:
    data_dir = stack.data_dir
    pick = (lambda default: mongo.free_port()) if args.ephemeral_ports else (lambda default: default)
    api_port = args.port or pick(8000)

    env = dict(os.environ)
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    env.setdefault("MONGODB_DB", "outdial")
    env.setdefault("DEFAULT_REGION", "US")
    env["PUBLIC_BASE_URL"] = env.get("PUBLIC_BASE_URL") or f"http://127.0.0.1:{api_port}"
    env["PYTHONUNBUFFERED"] = "1"

    if not env.get("MONGODB_URI"):
        port = pick(27117)
        stack.adopt("mongo", mongo.start(data_dir / "mongo", port, log=open(stack.logs / "mongo.log", "ab")))
        env["MONGODB_URI"] = f"mongodb://127.0.0.1:{port}"
        stack.say(f"  MongoDB (embedded nx-27017)  {env['MONGODB_URI']}  data in {data_dir / 'mongo'}")

    if not env.get("AWS_ENDPOINT_URL_SQS") and env.get("OUTDIAL_REAL_AWS") != "1":
        port = pick(9324)
        stack.spawn("sqs", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], env)
        env.update({"AWS_ENDPOINT_URL_SQS": f"http://127.0.0.1:{port}", "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{port}",
                    "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"})
        env.setdefault("RECORDINGS_BUCKET", DEV_BUCKET)
        env.setdefault("ARCHIVE_BUCKET", LOCAL_ARCHIVE_BUCKET)
        wait_http(f"http://127.0.0.1:{port}/moto-api/")
        stack.say(f"  SQS and S3 (moto server)     {env['AWS_ENDPOINT_URL_SQS']}")
    create_queues(env)
    if env.get("RECORDINGS_BUCKET") and env.get("AWS_ENDPOINT_URL_S3"):
        create_bucket(env)

    if not env.get("ELEVENLABS_BASE_URL"):
        port = pick(8022)
        env.update(DEV_ELEVENLABS)
        env["ELEVENLABS_BASE_URL"] = f"http://127.0.0.1:{port}"
        stack.spawn("elevenlabs", [sys.executable, "-m", "scripts.devstack.fake_elevenlabs", "--port", str(port),
                                   "--api-key", env["ELEVENLABS_API_KEY"],
                                   "--webhook-secret", env["ELEVENLABS_WEBHOOK_SECRET"],
                                   "--webhook-url", f"{env['PUBLIC_BASE_URL']}/webhooks/elevenlabs",
                                   "--talk-seconds", str(max(0.2, 2 * args.time_scale))], env)
        wait_http(f"{env['ELEVENLABS_BASE_URL']}/_fake/health")
        stack.say(f"  ElevenLabs (local fake)      {env['ELEVENLABS_BASE_URL']}  (GET /_fake/conversations)")
    if not env.get("EXOTEL_BASE_URL"):
        port = pick(8023)
        env.update(DEV_EXOTEL)
        env["EXOTEL_BASE_URL"] = f"http://127.0.0.1:{port}"
        stack.spawn("exotel", [sys.executable, "-m", "scripts.devstack.fake_exotel", "--port", str(port),
                               "--account-sid", env["EXOTEL_ACCOUNT_SID"], "--api-key", env["EXOTEL_API_KEY"],
                               "--api-token", env["EXOTEL_API_TOKEN"], "--time-scale", str(args.time_scale)]
                    + (["--elevenlabs-url", env["ELEVENLABS_BASE_URL"]] if env.get("ELEVENLABS_BASE_URL") else []),
                    env)
        wait_http(f"{env['EXOTEL_BASE_URL']}/_fake/health")
        stack.say(f"  Exotel (local fake)          {env['EXOTEL_BASE_URL']}  (GET /_fake/calls)")

    if env.get("TELEPHONY_PROVIDER", "simulated") == "simulated":
        port = pick(8021)
        env.update({"TELEPHONY_PROVIDER": "simulated", "SIMULATOR_URL": f"http://127.0.0.1:{port}",
                    "TWILIO_ACCOUNT_SID": DEV_ACCOUNT_SID, "TWILIO_AUTH_TOKEN": DEV_AUTH_TOKEN})
        env.setdefault("TWILIO_FROM_NUMBER", DEV_CALLER_ID)
        stack.spawn("simulator", [sys.executable, "-m", "scripts.devstack.simulator", "--port", str(port),
                                  "--time-scale", str(args.time_scale)], env)
        wait_http(f"{env['SIMULATOR_URL']}/_sim/health")
        stack.say(f"  carrier simulator            {env['SIMULATOR_URL']}  (calls: GET /_sim/calls)")

    if not env.get("GOOGLE_SERVICE_ACCOUNT_JSON") and not env.get("GOOGLE_SERVICE_ACCOUNT_FILE"):
        port = pick(8031)
        key_path = data_dir / "google-service-account.json"
        stack.spawn("sheets", [sys.executable, "-m", "scripts.devstack.fake_sheets", "--port", str(port),
                               "--service-account-file", str(key_path)], env)
        env.update({"SHEETS_API_URL": f"http://127.0.0.1:{port}", "GOOGLE_SERVICE_ACCOUNT_FILE": str(key_path)})
        wait_http(f"{env['SHEETS_API_URL']}/_fake/health")
        stack.say(f"  Google Sheets (fake)         {env['SHEETS_API_URL']}  (load a sheet: PUT /_fake/spreadsheets/ID)")

    migrate(env)
    key_file = data_dir / "dev-api-key"
    subprocess.run([sys.executable, "-m", "scripts.devstack.devkey", str(key_file)], cwd=ROOT, env=env,
                   check=True, stdout=subprocess.DEVNULL)
    chalice = str(Path(sys.executable).with_name("chalice"))
    stack.spawn("api", [chalice, "local", "--host", "127.0.0.1", "--port", str(api_port), "--stage", "local",
                        "--no-autoreload"], env)
    stack.spawn("worker", [sys.executable, "-m", "scripts.devstack.worker", "--schedule-interval",
                           str(args.schedule_interval), "--consumers", str(args.consumers)], env)
    wait_http(f"http://127.0.0.1:{api_port}/health")
    stack.api_url = f"http://127.0.0.1:{api_port}"
    stack.say(f"  worker (SQS + schedules)     logs in {stack.logs}")
    stack.say(f"\noutdial API: {stack.api_url}   (Ctrl-C stops everything)")
    stack.say(f"API key (admin, local only): {key_file.read_text().strip()}   also in {key_file}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=None, help="API port (default 8000)")
    parser.add_argument("--data-dir", default=str(ROOT / ".local"), help="where data and logs are kept")
    parser.add_argument("--time-scale", type=float, default=1.0,
                        help="simulator speed: 0.1 makes calls ring and talk ten times faster")
    parser.add_argument("--schedule-interval", type=float, default=60.0,
                        help="seconds between schedule ticks (EventBridge: 60)")
    parser.add_argument("--consumers", type=int, default=8,
                        help="concurrent dial-queue consumers (Lambda would scale out)")
    parser.add_argument("--ephemeral-ports", action="store_true", help="pick free ports (tests)")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)

    print("starting outdial locally...", flush=True)
    stack = Stack(Path(args.data_dir).resolve(), quiet=args.quiet)
    stopping = False

    def on_signal(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        start(args, stack)
        print(f"READY {stack.api_url}", flush=True)
        while not stopping:
            dead = stack.dead()
            if dead:
                print(f"{dead} exited unexpectedly; see {stack.logs / (dead + '.log')}", file=sys.stderr)
                return 1
            time.sleep(0.3)
        return 0
    except Exception as exc:
        print(f"could not start: {exc}", file=sys.stderr)
        return 1
    finally:
        stack.stop()
        print("stopped.", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
