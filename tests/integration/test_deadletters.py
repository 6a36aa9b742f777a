"""Nothing is ever stuck without a reason: a poisoned record goes through each queue with the
real consumers and the local event pump, into its DLQ, and the DLQ's consumer ends the
record's owner with the error that poisoned it (core/deadletters.py). The automation-actions
queue has its test in test_automations_runs.py (it needs that file's running automations)."""

from __future__ import annotations

import logging
import uuid

import pytest

from chalicelib.contacts import imports, outbox, tasks
from chalicelib.contacts.models import ExportJob
from chalicelib.core import aws, deadletters, queues
from chalicelib.domains import dnscheck, instructions, system_mail, verification
from chalicelib.domains.models import Domain, SetupInstructionRequest
from chalicelib.sending import streams
from tests.contacts_support import make_contact
from tests.queue_support import clear, through_dead_letter_queue, waiting
from tests.sending_support import take, verified_domain

NO_SUCH_KEY = "NoSuchKey: An error occurred (NoSuchKey) when calling the GetObject operation"


@pytest.mark.parametrize("stream, host", [(streams.TRANSACTIONAL, "send.postline.test"),
                                          (streams.BULK, "bulk.postline.test")])
def test_a_dispatch_that_can_never_be_built_fails_its_messages_saying_why(app, api, account, stream, host):
    queue = streams.queue_for(stream)
    clear(queue)
    domain = verified_domain(account[0].account_id)
    r = api.post("/api/send", {"from": {"email": f"app@{domain.domain_name}"}, "subject": "Hi", "text": "Hi",
                               "to": [{"email": "a@dead.test"}, {"email": "b@dead.test"}]}, host=host)
    assert r.status == 200, r
    [dispatch] = take(stream)
    # its content is gone (as a lost S3 object would be): every delivery of it raises
    queues.send(queue, {**dispatch, "content": {"key": f"content/{uuid.uuid4().hex}.json"}})

    assert through_dead_letter_queue(app, queue) == 1

    for message_id in r.json["message_ids"]:
        log = api.get(f"/api/email_logs/{message_id}").json
        assert log["status"] == "not_delivered"
        reason = log["events"][-1]["details"]["reject_reason"]
        assert reason.startswith(f"could not be built: {NO_SUCH_KEY}"), reason
    assert waiting(deadletters.dead_letter_queue(queue)) == 0


def test_an_import_whose_chunks_can_never_be_read_fails_with_the_error(app, api, account, monkeypatch):
    monkeypatch.setattr(imports, "MAX_ATTEMPTS", 99)  # the worker's own give-up never comes: the DLQ's does
    clear(imports.QUEUE)
    r = api.post("/api/contacts/imports", {"contacts": [{"email": "one@dead.test"}, {"email": "two@dead.test"}]})
    assert r.status == 201, r
    key = f"contact-imports/{account[0].account_id}/{r.json['id']}/source.json"
    aws.client("s3").delete_object(Bucket=aws.bucket("data"), Key=key)  # its uploaded rows are gone

    assert through_dead_letter_queue(app, imports.QUEUE) == 1

    job = api.get(f"/api/contacts/imports/{r.json['id']}").json
    assert job["status"] == "failed"
    assert job["error"].startswith(f"splitting could not be processed: {NO_SUCH_KEY}"), job


def test_an_export_that_can_never_be_made_fails_with_the_error_and_frees_the_next(app, api, account):
    clear(tasks.QUEUE)
    make_contact(api, "exported@dead.test")
    r = api.post("/api/contacts/exports", {"filters": []})
    assert r.status == 201, r
    ExportJob(account[0].account_id, r.json["id"]).update(actions=[ExportJob.filters.set("{corrupt")])

    assert through_dead_letter_queue(app, tasks.QUEUE) == 1

    job = api.get(f"/api/contacts/exports/{r.json['id']}").json
    assert job["status"] == "failed" and job["url"] is None
    assert job["error"].startswith("could not be made: JSONDecodeError: "), job
    assert api.post("/api/contacts/exports", {"filters": []}).status == 201  # not "a previous export"


def test_a_field_clean_up_that_keeps_failing_is_logged_and_dropped(app, account, monkeypatch, caplog):
    clear(tasks.QUEUE)
    monkeypatch.setattr(tasks, "purge_field", lambda account_id, field_id: 1 / 0)
    tasks.enqueue({"kind": "purge_field", "account_id": account[0].account_id, "field_id": 7})
    with caplog.at_level(logging.WARNING, "postline.deadletters"):
        assert through_dead_letter_queue(app, tasks.QUEUE) == 1
    [line] = [r.getMessage() for r in caplog.records if r.name == "postline.deadletters"]
    assert "'purge_field'" in line and "ZeroDivisionError: division by zero" in line
    assert waiting(deadletters.dead_letter_queue(tasks.QUEUE)) == 0


def test_setup_instructions_that_can_never_be_sent_fail_with_the_error(app, api, account, monkeypatch):
    clear(instructions.QUEUE)
    domain = verified_domain(account[0].account_id)

    def ses_down(*args, **kwargs):
        raise ConnectionError("SES endpoint unreachable")

    monkeypatch.setattr(system_mail, "send", ses_down)
    assert api.post(f"/api/domains/{domain.domain_id}/send_setup_instructions",
                    {"email": "dns@dead.test"}).status == 204

    assert through_dead_letter_queue(app, instructions.QUEUE) == 1

    [item] = [i for i in SetupInstructionRequest.scan(SetupInstructionRequest.domain_id == domain.domain_id)]
    assert item.status == "failed"
    assert item.failure == "could not be sent: ConnectionError: SES endpoint unreachable"


def test_a_domain_check_that_keeps_failing_leaves_the_domain_as_it_was(app, account, monkeypatch, caplog):
    clear(verification.CHECK_QUEUE)
    domain = verified_domain(account[0].account_id)

    def resolver_broken(*args, **kwargs):
        raise RuntimeError("resolver crashed")

    monkeypatch.setattr(dnscheck, "check_all", resolver_broken)
    queues.send(verification.CHECK_QUEUE, {"account_id": domain.account_id, "domain_id": domain.domain_id})
    with caplog.at_level(logging.WARNING, "postline.deadletters"):
        assert through_dead_letter_queue(app, verification.CHECK_QUEUE) == 1

    [line] = [r.getMessage() for r in caplog.records if r.name == "postline.deadletters"]
    assert f"domain {domain.domain_id}" in line and "next hourly re-check" in line and "resolver crashed" in line
    after = Domain.get(domain.account_id, domain.domain_id, consistent_read=True)
    assert after.dns_verified and after.dns_checked_at == domain.dns_checked_at
    assert waiting(deadletters.dead_letter_queue(verification.CHECK_QUEUE)) == 0


def test_contact_events_their_consumer_keeps_failing_on_are_logged_by_id_and_dropped(app, api, monkeypatch,
                                                                                      caplog):
    from chalicelib.automations import matcher

    clear(outbox.QUEUE)

    def broken(account_id):
        raise RuntimeError("automations table unavailable")

    monkeypatch.setattr(matcher, "active_automations", broken)
    contact = make_contact(api, "evented@dead.test")
    with caplog.at_level(logging.WARNING, "postline.deadletters"):
        assert through_dead_letter_queue(app, outbox.QUEUE) >= 1

    lines = [r.getMessage() for r in caplog.records if r.name == "postline.deadletters"]
    assert any(f"{contact['id']}:1" in line and "automations table unavailable" in line for line in lines), lines
    assert all("evented@dead.test" not in line for line in lines)  # ids only, never the event's content
    assert waiting(deadletters.dead_letter_queue(outbox.QUEUE)) == 0


def test_an_ses_notification_that_can_never_be_applied_is_logged_by_message_and_dropped(app, api, account, caplog):
    from chalicelib.sending import event_worker
    from chalicelib.sending.models import Message
    from tests.events_support import delivery

    clear(event_worker.QUEUE)
    domain = verified_domain(account[0].account_id)
    r = api.post("/api/send", {"from": {"email": f"app@{domain.domain_name}"}, "subject": "Hi", "text": "Hi",
                               "to": [{"email": "ann@example.com"}]}, host="send.postline.test")
    assert r.status == 200, r
    take(streams.TRANSACTIONAL)  # its dispatch never reaches the delivery worker
    message = Message.get(r.json["message_ids"][0], consistent_read=True)
    message.ses_message_id = "ses-never-recorded"  # the delivery worker never records the submission
    queues.send(event_worker.QUEUE, delivery(message))
    with caplog.at_level(logging.WARNING, "postline.deadletters"):
        assert through_dead_letter_queue(app, event_worker.QUEUE) == 1

    lines = [r.getMessage() for r in caplog.records if r.name == "postline.deadletters"]
    assert any(f"delivery of message {message.message_id}" in line and "NotRecordedYet" in line
               for line in lines), lines
    assert all("ann@example.com" not in line for line in lines)
    assert Message.get(message.message_id, consistent_read=True).status == "queued"  # as it was
    assert waiting(deadletters.dead_letter_queue(event_worker.QUEUE)) == 0


def test_a_dead_letter_whose_body_names_no_owner_is_logged_and_dropped(app, caplog):
    clear(imports.QUEUE)
    queues.send(imports.QUEUE, {"kind": "split"})  # no account, no import
    with caplog.at_level(logging.ERROR, "postline.deadletters"):
        assert through_dead_letter_queue(app, imports.QUEUE) == 1
    assert any("does not name an owner (KeyError)" in r.getMessage() for r in caplog.records)
    assert waiting(deadletters.dead_letter_queue(imports.QUEUE)) == 0


def test_the_error_a_record_raised_is_kept_readable_and_short():
    assert queues.describe(ValueError("bad\r\nvalue")) == "ValueError: bad value"
    assert queues.describe(KeyError()) == "KeyError"
    assert len(queues.describe(RuntimeError("x" * 1000))) == queues.MAX_ERROR_CHARS
    assert deadletters.dead_letter_queue("contact-events.fifo") == "contact-events-dlq.fifo"
    assert deadletters.dead_letter_queue("send-bulk") == "send-bulk-dlq"
