"""outdial: outbound calls placed by AI voice agents.

This module only builds the Chalice app: it registers the HTTP blueprints and
wires the queue and schedule handlers to services. Everything heavy (pymongo
connections, boto3, the Twilio SDK) loads on first use.
"""
from chalice import Chalice, Cron, Rate

from chalicelib.api import (agents, analytics, batches, calls, campaign_imports, campaigns, contacts, dnc,
                            health, scheduled_calls, webhooks)
from chalicelib.api.auth import require_api_key
from chalicelib.api.http import uniform_errors
from chalicelib import logs
from chalicelib.container import get_container
from chalicelib.queues import DIAL_QUEUE
from chalicelib.services.dialing import QueueMessage

app = Chalice(app_name="outdial")
logs.configure()
app.register_middleware(uniform_errors, "http")
app.register_middleware(require_api_key, "http")
for blueprint in (health.bp, agents.bp, analytics.bp, calls.bp, batches.bp, scheduled_calls.bp, contacts.bp, dnc.bp,
                  campaigns.bp, campaign_imports.bp, webhooks.bp):
    app.register_blueprint(blueprint)


@app.on_sqs_message(queue=DIAL_QUEUE, batch_size=10, name="dial_worker")
def dial_worker(event):
    messages = [QueueMessage(record.to_dict()["messageId"], record.body) for record in event]
    failed = get_container().dial_service.process_batch(messages)
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}


@app.schedule(Rate(1, unit=Rate.MINUTES), name="sweep_undialed")
def sweep_undialed(event):
    container = get_container()
    return {"enqueued": container.dial_service.enqueue_undialed(container.dial_queue),
            "chunksResent": container.batch_service.resend_stale_chunks(),
            "slotsRecovered": container.pacer.recover_expired_slots()}


@app.schedule(Rate(1, unit=Rate.MINUTES), name="run_scheduler")
def run_scheduler(event):
    return get_container().scheduler.tick()


@app.schedule(Rate(1, unit=Rate.MINUTES), name="run_campaigns")
def run_campaigns(event):
    return get_container().campaign_runner.tick()


@app.schedule(Rate(1, unit=Rate.MINUTES), name="sync_campaign_sheets")
def sync_campaign_sheets(event):
    return get_container().sheet_sync.write_recent_statuses()


@app.schedule(Rate(1, unit=Rate.MINUTES), name="send_callbacks")
def send_callbacks(event):
    return get_container().callback_service.deliver_due()


@app.schedule(Rate(15, unit=Rate.MINUTES), name="roll_up_analytics")
def roll_up_analytics(event):
    return get_container().rollups.run_scheduled()


@app.schedule(Cron(30, 3, "*", "*", "?", "*"), name="archive_old_data")
def archive_old_data(event):
    return get_container().archive_service.run()
