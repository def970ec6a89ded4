"""What AWS does for the deployed app, done locally: poll the SQS queues and
hand each batch to the app's `@app.on_sqs_message` handler (deleting the
messages it did not report as failed, like Lambda's event source mapping with
ReportBatchItemFailures), and fire the `@app.schedule` handlers on their rate,
like EventBridge. `chalice local` serves HTTP only (aws/chalice#979).

Run by scripts/devstack; expects the app's environment to be set.
"""
from __future__ import annotations

import argparse
import logging
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
POLL_INTERVAL = 0.05   # seconds between receives on an empty queue
log = logging.getLogger("outdial.worker")


def sqs_event(messages: list[dict], queue_arn: str, region: str) -> dict:
    """The event Lambda delivers for a batch of SQS messages."""
    return {"Records": [{
        "messageId": m["MessageId"],
        "receiptHandle": m["ReceiptHandle"],
        "body": m["Body"],
        "attributes": m.get("Attributes", {}),
        "messageAttributes": m.get("MessageAttributes", {}),
        "md5OfBody": m.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    } for m in messages]}


def schedule_event(rule_name: str) -> dict:
    return {"version": "0", "id": "local", "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "000000000000", "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "region": "us-east-1", "resources": [f"arn:aws:events:us-east-1:000000000000:rule/{rule_name}"],
            "detail": {}}


class Worker:
    def __init__(self, *, schedule_interval: float, consumers: int):
        import boto3
        from chalice.app import ScheduledEventConfig, SQSEventConfig
        from chalice.local import LambdaContext

        from app import app

        # Handlers are called the way the Lambda runtime calls them. (chalice's
        # test client swaps os.environ per call, which is not thread-safe.)
        self._invoke = lambda name, event: app.handler_map[name](event, LambdaContext(name, memory_size=256))
        self._sqs = boto3.client("sqs")
        self._region = self._sqs.meta.region_name
        self._schedule_interval = schedule_interval
        self._consumers = consumers
        self._stop = threading.Event()
        self._queues = []   # (handler name, queue url, queue arn, batch size)
        self._schedules = []
        for source in app.event_sources:
            if isinstance(source, SQSEventConfig):
                url = self._sqs.get_queue_url(QueueName=source.queue)["QueueUrl"]
                arn = self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
                self._queues.append((source.name, url, arn, source.batch_size))
            elif isinstance(source, ScheduledEventConfig):
                self._schedules.append(source.name)

    def run(self) -> None:
        # One receiver per queue hands batches to a pool of `consumers`
        # threads: the local stand-in for Lambda's concurrent invocations.
        # (Many long-polling receivers make moto's server spin.)
        pool = ThreadPoolExecutor(max_workers=self._consumers, thread_name_prefix="lambda")
        slots = threading.Semaphore(self._consumers)
        threads = [threading.Thread(target=self._receive, args=(queue, pool, slots), daemon=True)
                   for queue in self._queues]
        threads.append(threading.Thread(target=self._fire_schedules, daemon=True))
        for thread in threads:
            thread.start()
        log.info("polling %s with %d concurrent consumers; firing %s every %ss", [q[0] for q in self._queues],
                 self._consumers, self._schedules, self._schedule_interval)
        while not self._stop.is_set():
            self._stop.wait(0.5)
        pool.shutdown(wait=False, cancel_futures=True)

    def stop(self, *_) -> None:
        self._stop.set()

    def _receive(self, queue, pool: ThreadPoolExecutor, slots: threading.Semaphore) -> None:
        name, url, arn, batch_size = queue
        while not self._stop.is_set():
            slots.acquire()
            try:
                messages = self._sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=batch_size,
                                                     AttributeNames=["All"],
                                                     MessageAttributeNames=["All"]).get("Messages", [])
            except Exception:
                slots.release()
                log.exception("receive from %s failed", name)
                self._stop.wait(1)
                continue
            if not messages:
                slots.release()
                self._stop.wait(POLL_INTERVAL)
                continue
            pool.submit(self._handle, name, url, arn, messages).add_done_callback(lambda _: slots.release())

    def _handle(self, name: str, url: str, arn: str, messages: list[dict]) -> None:
        try:
            result = self._invoke(name, sqs_event(messages, arn, self._region)) or {}
            failed = {item["itemIdentifier"] for item in result.get("batchItemFailures", [])}
        except Exception:
            # A handler that raises fails the whole batch, as on Lambda.
            log.exception("%s raised; the batch will be redelivered", name)
            return
        done = [m for m in messages if m["MessageId"] not in failed]
        try:
            for i in range(0, len(done), 10):
                self._sqs.delete_message_batch(QueueUrl=url, Entries=[
                    {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(done[i:i + 10])])
        except Exception:
            log.exception("deleting processed messages from %s failed; they will be redelivered", name)

    def _fire_schedules(self) -> None:
        while not self._stop.wait(self._schedule_interval):
            for name in self._schedules:
                try:
                    result = self._invoke(name, schedule_event(name))
                    log.info("%s -> %s", name, result)
                except Exception:
                    log.exception("schedule %s raised", name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--schedule-interval", type=float, default=60.0, help="seconds between schedule ticks")
    parser.add_argument("--consumers", type=int, default=8, help="concurrent handler invocations per queue")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    worker = Worker(schedule_interval=args.schedule_interval, consumers=args.consumers)
    signal.signal(signal.SIGTERM, worker.stop)
    signal.signal(signal.SIGINT, worker.stop)
    worker.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
