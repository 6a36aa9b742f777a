"""Helpers for automation tests: the action-queue pump, run waiting, stand-ins for contacts
and sending until those capabilities are wired into chalicelib/automations/adapters.py.

The pump plays the part of Lambda's SQS event source (and of the local stack's event pump):
it receives from the real (moto) ``automation-actions`` queue and invokes the app's own
``automation_actions`` handler with the records, deleting what the handler did not report
as failed. Step Functions executions run for real in moto meanwhile.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chalicelib import aws
from chalicelib.automations import adapters
from chalicelib.automations.adapters import ContactView
from chalicelib.automations.models import Run, automation_key
from chalicelib.core.errors import NotFound


class FakeContacts:
    """A contacts store for tests: what chalicelib/contacts will provide once merged."""

    def __init__(self) -> None:
        self.contacts: dict[tuple[int, str], ContactView] = {}
        self.known_lists: dict[int, set[int]] = {}
        self.calls: list[tuple[str, Any]] = []

    def add(self, account_id: int, email: str, fields: dict[str, Any] | None = None,
            list_ids: set[int] | None = None, status: str = "subscribed") -> ContactView:
        contact = ContactView(str(uuid.uuid4()), email, status, dict(fields or {}), set(list_ids or ()))
        self.contacts[(account_id, contact.id)] = contact
        return contact

    def get(self, account_id, contact_id=None, email=None):
        if contact_id:
            return self.contacts.get((account_id, contact_id))
        return next((c for (a, _), c in self.contacts.items() if a == account_id and c.email == email), None)

    def _one(self, account_id, contact_id) -> ContactView:
        contact = self.contacts.get((account_id, contact_id))
        if contact is None:
            raise NotFound("Contact(s) not found")
        return contact

    def update_field(self, account_id, contact_id, name, value):
        self.calls.append(("update_field", (contact_id, name, value)))
        self._one(account_id, contact_id).fields[name] = value

    def unsubscribe(self, account_id, contact_id):
        self.calls.append(("unsubscribe", contact_id))
        self._one(account_id, contact_id).status = "unsubscribed"

    def add_to_lists(self, account_id, contact_id, list_ids):
        self.calls.append(("add_to_lists", (contact_id, tuple(list_ids))))
        self._one(account_id, contact_id).list_ids.update(list_ids)

    def remove_from_lists(self, account_id, contact_id, list_ids):
        self.calls.append(("remove_from_lists", (contact_id, tuple(list_ids))))
        self._one(account_id, contact_id).list_ids.difference_update(list_ids)

    def missing(self, account_id, list_ids, fields):
        known = self.known_lists.get(account_id)
        if known is None:
            return {}
        unknown = sorted(set(list_ids) - known)
        return {"list_ids": [f"list {i} does not exist" for i in unknown]} if unknown else {}


@dataclass
class Sent:
    account_id: int
    to: str
    template_id: Any
    subject: str | None
    from_email: str | None
    variables: dict[str, Any]
    idempotency_key: str


@dataclass
class RecordingSending:
    """Records every send the worker asks for (what chalicelib/sending will do for real)."""

    sent: list[Sent] = field(default_factory=list)
    keys: set[str] = field(default_factory=set)
    templates: set[Any] | None = None  # when set, only these template ids exist
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def send(self, account_id, *, to, template_id, subject, from_email, from_name, variables, idempotency_key):
        if idempotency_key not in self.keys:  # the sending pipeline's idempotency, as specified
            self.keys.add(idempotency_key)
            self.sent.append(Sent(account_id, to.email, template_id, subject, from_email, dict(variables),
                                  idempotency_key))
        return f"msg-{next(self._ids)}"

    def missing(self, account_id, templates, senders):
        if self.templates is None:
            return {}
        unknown = sorted(str(t) for t in templates if t not in self.templates)
        return {"template_id": [f"template {t} does not exist" for t in unknown]} if unknown else {}

    def to(self, email: str) -> list[Sent]:
        return [s for s in self.sent if s.to == email]


def install_stand_ins(monkeypatch) -> tuple[FakeContacts, RecordingSending]:
    contacts, sending = FakeContacts(), RecordingSending()
    monkeypatch.setattr(adapters, "contacts", contacts)
    monkeypatch.setattr(adapters, "sending", sending)
    return contacts, sending


# ------------------------------------------------------------------ the pump


def _queue_url() -> str:
    return aws.queue_url("automation-actions")


def pump_once(max_messages: int = 10) -> int:
    """Deliver one batch from the action queue to the app's handler; return how many."""
    sqs = aws.client("sqs")
    got = sqs.receive_message(QueueUrl=_queue_url(), MaxNumberOfMessages=max_messages,
                              WaitTimeSeconds=0, AttributeNames=["All"]).get("Messages", [])
    if not got:
        return 0
    event = {"Records": [{
        "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
        "attributes": m.get("Attributes", {}), "messageAttributes": {}, "md5OfBody": m["MD5OfBody"],
        "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:automation-actions",
        "awsRegion": "us-east-1"} for m in got]}
    import app as app_module  # the handler Lambda runs, with chalice's own event wrapping

    result = app_module.automation_actions(event, None)
    failed = {f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])}
    done = [m for m in got if m["MessageId"] not in failed]
    if done:
        sqs.delete_message_batch(QueueUrl=_queue_url(), Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)])
    return len(got)


def pump_until(done: Callable[[], bool], timeout: float = 20.0) -> None:
    """Pump the action queue until ``done()``; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return
        if not pump_once():
            time.sleep(0.02)
    raise AssertionError("automation runs did not finish in time")


def runs_of(account_id: int, automation_id: int) -> list[Run]:
    return list(Run.query(automation_key(account_id, automation_id), consistent_read=True))


def all_ended(account_id: int, automation_id: int, count: int | None = None) -> Callable[[], bool]:
    def check() -> bool:
        runs = runs_of(account_id, automation_id)
        return (count is None or len(runs) >= count) and all(r.status != "running" for r in runs)
    return check


def execution_status(run: Run) -> str:
    return aws.client("stepfunctions").describe_execution(executionArn=run.execution_arn)["status"]


def wait_execution(run: Run, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = execution_status(run)
        if status != "RUNNING":
            return status
        time.sleep(0.05)
    return "RUNNING"


def set_time_scale(monkeypatch, scale: float) -> None:
    """Make delay steps really wait ``delay * scale`` seconds (0 in tests by default)."""
    import dataclasses

    from chalicelib.automations import enrollment
    from chalicelib.core import config

    patched = dataclasses.replace(config.settings(), automation_time_scale=scale)
    monkeypatch.setattr(enrollment, "settings", lambda: patched)


def set_settings(monkeypatch, module, **changes) -> None:
    import dataclasses

    from chalicelib.core import config

    patched = dataclasses.replace(config.settings(), **changes)
    monkeypatch.setattr(module, "settings", lambda: patched)
