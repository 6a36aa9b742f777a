"""Custom contact events, the timeline, and publishing change events exactly once in order
even when a write's publish step fails."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib.contacts import contacts, outbox
from chalicelib.core import clock
from tests.contacts_support import contact_events, fresh_events, make_contact, make_field  # noqa: F401

pytestmark = pytest.mark.usefixtures("fresh_events")


def test_custom_event_is_recorded_and_on_the_timeline(api, account):
    acct, _ = account
    contact = make_contact(api, "e@example.com")
    r = api.post(f"/api/accounts/{acct.account_id}/contacts/e%40example.com/events",
                 {"name": "UserLogin", "params": {"user_id": 101, "is_active": True, "last_seen": None}})
    assert r.status == 201
    assert r.json == {"contact_id": contact["id"], "contact_email": "e@example.com", "name": "UserLogin",
                      "params": {"user_id": 101, "is_active": True, "last_seen": None}}
    api.post(f"/api/contacts/{contact['id']}/events", {"event": "purchase_completed", "data": {"amount": 99.99}})
    timeline = api.get(f"/api/contacts/{contact['id']}/timeline").json["data"]
    names = [(e["name"], e["params"]) for e in timeline if e["type"] == "custom_event"]
    assert sorted(names) == [("UserLogin", {"user_id": 101, "is_active": True, "last_seen": None}),
                             ("purchase_completed", {"amount": 99.99})]


@pytest.mark.parametrize("body,field,message", [
    ({"params": {}}, "name", "can't be blank"),
    ({"name": 5}, "name", "must be a string"),
    ({"name": "x" * 256}, "name", "is too long"),
    ({"name": "ok", "params": [1]}, "params", "must be a hash"),
    ({"name": "ok", "params": {"k" * 256: 1}}, "params", "key '" + "k" * 40 + "' is too long"),
    ({"name": "ok", "params": {"bar": "v" * 256}}, "params", "value for 'bar' is too long"),
    ({"name": "ok", "params": {"obj": {"a": 1}}}, "params",
     "value for 'obj' must be a string, number, boolean or null"),
])
def test_event_validation(api, body, field, message):
    make_contact(api, "v@example.com")
    r = api.post("/api/contacts/v%40example.com/events", body)
    assert r.status == 422 and r.json["errors"][field] == [message]


def test_event_for_an_unknown_contact_is_404(api):
    assert api.post("/api/contacts/nobody%40example.com/events", {"name": "x"}).status == 404


def test_a_failed_publish_is_repaired_by_the_next_write_in_order(api, account, monkeypatch):
    acct, _ = account
    make_field(api, "Plan", "text", "plan")
    contact = make_contact(api, "crash@example.com")
    contact_events(acct.account_id)

    def down(account_id, events):
        raise ConnectionError("SQS unreachable")

    monkeypatch.setattr(outbox, "publish", down)
    r = api.patch(f"/api/contacts/{contact['id']}", {"contact": {"fields": {"plan": "pro"}}})
    assert r.status == 500  # the change is saved; its event waits on the contact
    monkeypatch.undo()
    assert outbox.has_pending(contacts.find(acct.account_id, "crash@example.com"))
    api.patch(f"/api/contacts/{contact['id']}", {"contact": {"unsubscribed": True}})
    events = contact_events(acct.account_id)
    assert [(e["seq"], e["type"]) for e in events] == [(2, "contact.field_updated"), (3, "contact.unsubscribed")]
    assert not outbox.has_pending(contacts.find(acct.account_id, "crash@example.com"))


def test_the_sweeper_publishes_what_a_crashed_write_left(api, account, monkeypatch):
    acct, _ = account
    contact = make_contact(api, "sweep@example.com")
    contact_events(acct.account_id)
    monkeypatch.setattr(outbox, "publish_and_settle", lambda contact: None)  # the process dies here
    api.post(f"/api/contacts/{contact['id']}/events", {"name": "signup"})
    monkeypatch.undo()
    assert outbox.sweep() == 0  # too recent: the writer may still be publishing
    clock.advance(timedelta(minutes=2))
    assert outbox.sweep() >= 1
    assert [e["type"] for e in contact_events(acct.account_id)] == ["contact.custom_event"]
    assert outbox.sweep() == 0  # and only once
