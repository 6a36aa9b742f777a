"""Postline: wiring only. Each route, queue consumer and schedule calls into chalicelib."""

from chalice import Chalice, Cron, Rate

from chalicelib.accounts import api as accounts_api
from chalicelib.accounts import bootstrap as accounts_bootstrap
from chalicelib.accounts import service as accounts_service
from chalicelib.automations import api as automations_api
from chalicelib.automations import machines as automation_machines
from chalicelib.automations import matcher as automation_matcher
from chalicelib.automations import worker as automation_worker
from chalicelib.contacts import api as contacts_api
from chalicelib.contacts import imports as contacts_imports
from chalicelib.contacts import outbox as contacts_outbox
from chalicelib.contacts import tasks as contacts_tasks
from chalicelib.contacts import worker as contacts_worker
from chalicelib.core import api as core_api
from chalicelib.core import deadletters, queues
from chalicelib.core.config import settings
from chalicelib.core.http import host_guard
from chalicelib.core.logs import configure_logging, log_invocation
from chalicelib.domains import api as domains_api
from chalicelib.domains import instructions as domains_instructions
from chalicelib.domains import verification as domains_verification
from chalicelib.domains import worker as domains_worker
from chalicelib.limits import api as limits_api
from chalicelib.sending import alerts as sending_alerts
from chalicelib.sending import api as sending_api
from chalicelib.sending import event_worker as sending_events
from chalicelib.sending import streams as sending_streams
from chalicelib.sending import worker as sending_worker
from chalicelib.suppressions import api as suppressions_api
from chalicelib.templates import api as templates_api
from chalicelib.webhooks import api as webhooks_api
from chalicelib.webhooks import delivery as webhooks_delivery

configure_logging()
# configure_logs=False: Chalice would give the "postline" logger (every postline.* logger's parent)
# its own handler at ERROR, bypassing the format, the redaction and every INFO/WARNING line.
app = Chalice(app_name="postline", configure_logs=False)
app.register_middleware(log_invocation, "all")
app.register_middleware(host_guard, "http")
app.register_blueprint(core_api.bp)
app.register_blueprint(accounts_api.bp)
app.register_blueprint(automations_api.bp)
app.register_blueprint(sending_api.bp)
app.register_blueprint(domains_api.bp)
app.register_blueprint(templates_api.bp)
app.register_blueprint(suppressions_api.bp)
app.register_blueprint(limits_api.bp)
app.register_blueprint(contacts_api.bp)
app.register_blueprint(webhooks_api.bp)


# `make bootstrap`: the deployment's first owner account; its token is returned once, never logged.
@app.lambda_function(name="bootstrap")
def bootstrap(event, context):
    return accounts_bootstrap.handle(event)


@app.schedule(Rate(1, unit=Rate.HOURS))
def purge_expired_tokens(event):
    return {"purged": accounts_service.purge_expired_tokens()}


# ------------------------------------------------------------------ sending
@app.on_sqs_message(queue=settings().queue_name(sending_streams.QUEUES[sending_streams.TRANSACTIONAL]),
                    batch_size=10)
def deliver_transactional(event):
    return queues.process_batch(event, sending_worker.handle)


@app.on_sqs_message(queue=settings().queue_name(sending_streams.QUEUES[sending_streams.BULK]), batch_size=10)
def deliver_bulk(event):
    return queues.process_batch(event, sending_worker.handle)


@app.on_sqs_message(queue=settings().queue_name(sending_events.QUEUE), batch_size=10)
def record_ses_events(event):
    return sending_events.handle_batch(event)


# Deliverability alerts (seed-C §2.5): the weekly report on Mondays, critical checks every 3 hours.
@app.schedule(Cron(0, 8, "?", "*", "MON", "*"))
def weekly_deliverability_alerts(event):
    return {"sent": sending_alerts.run_weekly()}


@app.schedule(Rate(3, unit=Rate.HOURS))
def critical_deliverability_alerts(event):
    return {"sent": sending_alerts.run_critical()}


# ------------------------------------------------------------------ sending domains
@app.schedule(Rate(1, unit=Rate.HOURS))
def recheck_domains(event):
    return {"enqueued": domains_verification.enqueue_rechecks()}


@app.on_sqs_message(queue=settings().queue_name(domains_verification.CHECK_QUEUE), batch_size=10)
def check_domains(event):
    return domains_worker.check_domains(event)


@app.on_sqs_message(queue=settings().queue_name(domains_instructions.QUEUE), batch_size=10)
def render_setup_instructions(event):
    return domains_worker.render_setup_instructions(event)


# ------------------------------------------------------------------ automations
@app.on_sqs_message(queue=settings().queue_name(automation_machines.ACTIONS_QUEUE), batch_size=10)
def automation_actions(event):
    batch = automation_worker.Batch()
    result = queues.process_batch(event, batch.handle)
    batch.flush()
    return result


@app.on_sqs_message(queue=settings().queue_name(contacts_outbox.QUEUE), batch_size=10)
def automation_triggers(event):
    batch = automation_matcher.Batch()
    result = queues.process_batch(event, batch.handle)
    batch.flush()
    return result


@app.schedule(Rate(1, unit=Rate.HOURS))
def automation_reengagement(event):
    return {"started": automation_matcher.reengage()}


# ------------------------------------------------------------------ contacts
@app.on_sqs_message(queue=settings().queue_name(contacts_imports.QUEUE), batch_size=1)
def contact_imports(event):
    return contacts_worker.import_batch(event)


@app.on_sqs_message(queue=settings().queue_name(contacts_tasks.QUEUE), batch_size=1)
def contact_tasks(event):
    return contacts_worker.task_batch(event)


@app.schedule(Rate(1, unit=Rate.MINUTES))
def sweep_contact_events(event):
    return contacts_worker.sweep_events()


# ------------------------------------------------------------------ webhooks
# Up to 500 events per invocation, gathered for up to 30 s (seed-C §4.4: batches of at most
# 500, sent every 30 seconds); retries come back on the same queue after 5 minutes.
@app.on_sqs_message(queue=settings().queue_name(webhooks_delivery.QUEUE), batch_size=500,
                    maximum_batching_window_in_seconds=30)
def deliver_webhooks(event):
    return webhooks_delivery.handle_batch(event)


# ------------------------------------------------------------------ dead letters
# One consumer per DLQ: each record that its queue's consumer could never process ends its
# owner (a message, an import, an export, a run...) with the reason (core/deadletters.py).
def _dlq(short: str) -> str:
    return settings().queue_name(deadletters.dead_letter_queue(short))


@app.on_sqs_message(queue=_dlq(sending_streams.QUEUES[sending_streams.TRANSACTIONAL]), batch_size=10)
def dead_send_transactional(event):
    return deadletters.settle(event)


@app.on_sqs_message(queue=_dlq(sending_streams.QUEUES[sending_streams.BULK]), batch_size=10)
def dead_send_bulk(event):
    return deadletters.settle(event)


@app.on_sqs_message(queue=_dlq(domains_verification.CHECK_QUEUE), batch_size=10)
def dead_domain_checks(event):
    return deadletters.settle(event)


@app.on_sqs_message(queue=_dlq(domains_instructions.QUEUE), batch_size=10)
def dead_setup_instructions(event):
    return deadletters.settle(event)


@app.on_sqs_message(queue=_dlq(automation_machines.ACTIONS_QUEUE), batch_size=10)
def dead_automation_actions(event):
    return deadletters.settle(event)


@app.on_sqs_message(queue=_dlq(contacts_imports.QUEUE), batch_size=10)
def dead_contact_imports(event):
    return deadletters.settle(event)


@app.on_sqs_message(queue=_dlq(contacts_tasks.QUEUE), batch_size=10)
def dead_contact_tasks(event):
    return deadletters.settle(event)


@app.on_sqs_message(queue=_dlq(contacts_outbox.QUEUE), batch_size=10)
def dead_contact_events(event):
    return deadletters.settle(event)


@app.on_sqs_message(queue=_dlq(sending_events.QUEUE), batch_size=10)
def dead_ses_events(event):
    return deadletters.settle(event)


@app.on_sqs_message(queue=_dlq(webhooks_delivery.QUEUE), batch_size=10)
def dead_webhook_deliveries(event):
    return deadletters.settle(event)
