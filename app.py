"""outdial: outbound calls placed by AI voice agents.

This module only builds the Chalice app: it registers the HTTP blueprints and
wires the queue and schedule handlers to services. Everything heavy (pymongo
connections, boto3, the Twilio SDK) loads on first use.
"""
from chalice import Chalice, Cron, Rate

from chalicelib.api import agents, analytics, calls, contacts, dnc, health, scheduled_calls, webhooks
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
for blueprint in (health.bp, agents.bp, analytics.bp, calls.bp, scheduled_calls.bp, contacts.bp, dnc.bp, webhooks.bp):
    app.register_blueprint(blueprint)


@app.on_sqs_message(queue=DIAL_QUEUE, batch_size=10, name="dial_worker")
def dial_worker(event):
    messages = [QueueMessage(record.to_dict()["messageId"], record.body) for record in event]
    failed = get_container().dial_service.process_batch(messages)
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}


@app.schedule(Rate(1, unit=Rate.MINUTES), name="sweep_undialed")
def sweep_undialed(event):
    container = get_container()
    return {"enqueued": container.dial_service.enqueue_undialed(container.dial_queue)}


@app.schedule(Rate(1, unit=Rate.MINUTES), name="run_scheduler")
def run_scheduler(event):
    return get_container().scheduler.tick()


@app.schedule(Rate(15, unit=Rate.MINUTES), name="roll_up_analytics")
def roll_up_analytics(event):
    return get_container().rollups.run_scheduled()


@app.schedule(Cron(30, 3, "*", "*", "?", "*"), name="archive_old_data")
def archive_old_data(event):
    return get_container().archive_service.run()
