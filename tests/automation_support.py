"""Helpers for automation tests: queue pumps, run waiting, a recorder for sends.

The pumps play the part of Lambda's SQS event sources (and of the local stack's event pump):
they receive from the real (moto) ``automation-actions`` and ``contact-events.fifo`` queues
and invoke the app's own handlers (``automation_actions``, ``automation_triggers``) with the
records, deleting what a handler did not report as failed. Step Functions executions run
for real in moto meanwhile; contacts are the real contacts capability.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chalicelib.automations import adapters
from chalicelib.automations.models import Run, automation_key
from chalicelib.core import aws
from tests.queue_support import deliver_waiting


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

    def engagement(self, account_id, message_ids):
        return {}  # nothing is opened: engagement splits are tested through sending itself

    def to(self, email: str) -> list[Sent]:
        return [s for s in self.sent if s.to == email]


def record_sends(monkeypatch) -> RecordingSending:
    """Send-email steps are recorded instead of going through sending (whose own tests and
    test_automations_sending.py cover the SES path): template ids are what these tests check."""
    sending = RecordingSending()
    monkeypatch.setattr(adapters, "sending", sending)
    return sending


# ------------------------------------------------------------------ the pump


def pump_once(queue: str = "automation-actions") -> int:
    """Deliver one batch from ``queue`` to its consumer (tests/queue_support.py); return how many."""
    import app as app_module

    return deliver_waiting(app_module.app, queue, rounds=1)


def pump_until(done: Callable[[], bool], timeout: float = 20.0) -> None:
    """Pump contact events and actions until ``done()``; fail the test after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return
        if not (pump_once("contact-events.fifo") + pump_once("automation-actions")):
            time.sleep(0.02)
    raise AssertionError("automation runs did not finish in time")


def pump_events() -> None:
    """Deliver every pending contact event to the trigger matcher (enrollments start)."""
    while pump_once("contact-events.fifo"):
        pass


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


class World:
    """An account's contacts world through the real contacts API: fields plan (text),
    first_name (text), customer (boolean); lists made on demand; contacts."""

    def __init__(self, api, account_id: int) -> None:
        self.api, self.account_id = api, account_id
        self.lists: dict[str, int] = {}
        for name, kind, tag in (("Plan", "text", "plan"), ("First name", "text", "first_name"),
                                ("Customer", "boolean", "customer"), ("Purchases", "integer", "purchases")):
            r = api.post("/api/contacts/fields", {"name": name, "data_type": kind, "merge_tag": tag})
            assert r.status == 201, r

    def list(self, name: str) -> int:
        if name not in self.lists:
            r = self.api.post("/api/contacts/lists", {"name": name})
            assert r.status == 200, r
            self.lists[name] = r.json["id"]
        return self.lists[name]

    def contact(self, email: str, list_ids: list[int] | None = None, **fields: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"email": email, "fields": fields}
        if list_ids:
            body["list_ids"] = list_ids
        r = self.api.post("/api/contacts", {"contact": body})
        assert r.status == 201, r
        return r.json["data"]

    def get(self, contact: dict[str, Any]) -> dict[str, Any]:
        return self.api.get(f"/api/contacts/{contact['id']}").json["data"]

    def update(self, contact: dict[str, Any], **body: Any) -> dict[str, Any]:
        r = self.api.patch(f"/api/contacts/{contact['id']}", {"contact": body})
        assert r.status == 200, r
        return r.json["data"]

    def event(self, contact: dict[str, Any], name: str, **params: Any) -> None:
        r = self.api.post(f"/api/contacts/{contact['id']}/events", {"name": name, "params": params})
        assert r.status == 201, r


def materialise(example: dict[str, Any], lists: dict[int, int] | None = None,
                templates: dict[int, Any] | None = None, sender: str | None = None) -> dict[str, Any]:
    """A copy of an example with placeholder list ids, template ids and sender replaced."""
    import copy

    lists, templates = lists or {}, templates or {}
    body = copy.deepcopy(example)

    def fix(steps: list[dict[str, Any]]) -> None:
        for step in steps:
            if "list_ids" in step:
                step["list_ids"] = [lists.get(i, i) for i in step["list_ids"]]
            if step.get("type") == "send_email":
                step["template_id"] = templates.get(step["template_id"], step["template_id"])
                if sender:
                    step["from_email"] = sender
            for branch in ("yes", "no"):
                fix(step.get(branch) or [])

    fix(body.get("steps") or [])
    config = body.get("trigger_config") or {}
    if "list_ids" in config:
        config["list_ids"] = [lists.get(i, i) for i in config["list_ids"]]
    return body
