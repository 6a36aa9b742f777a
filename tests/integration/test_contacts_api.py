"""Contacts API: create, get, update-or-create and delete by UUID or email; statuses; listing;
bulk actions; permissions and the per-account rate limit."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib.core import clock
from tests.contacts_support import contact_events, fresh_events, make_contact, make_field, make_list  # noqa: F401

pytestmark = pytest.mark.usefixtures("fresh_events")


def test_create_returns_data_envelope_and_get_works_by_uuid_and_encoded_email(api, account):
    acct, _ = account
    make_field(api, "First name", "text", "first_name")
    listed = make_list(api, "Customers")
    r = api.post(f"/api/accounts/{acct.account_id}/contacts", {"contact": {
        "email": "John.Smith@Example.com", "fields": {"first_name": "John"}, "list_ids": [listed]}})
    assert r.status == 201, r
    data = r.json["data"]
    assert data["email"] == "John.Smith@Example.com" and data["status"] == "subscribed"
    assert data["fields"] == {"first_name": "John"} and data["list_ids"] == [listed]
    assert isinstance(data["created_at"], int) and data["created_at"] == data["updated_at"]
    by_id = api.get(f"/api/accounts/{acct.account_id}/contacts/{data['id']}").json["data"]
    by_email = api.get("/api/contacts/john.smith%40example.com").json["data"]  # any letter case
    assert by_id == by_email == data


def test_email_is_unique_per_account_case_insensitively(api):
    make_contact(api, "dup@example.com")
    r = api.post("/api/contacts", {"contact": {"email": "DUP@example.com"}})
    assert r.status == 422 and r.json == {"errors": {"email": ["has already been taken"]}}
    assert len(api.get("/api/contacts").json["data"]) == 1


def test_invalid_input_is_422_with_field_messages(api):
    r = api.post("/api/contacts", {"contact": {"email": "not-an-email"}})
    assert r.status == 422 and r.json["errors"]["email"] == ["is invalid"]
    r = api.post("/api/contacts", {"contact": {"email": "a@example.c"}})
    assert r.json["errors"]["email"] == ["top level domain is too short"]
    r = api.post("/api/contacts", {"contact": {"email": "a@example.com", "fields": {"nope": 1}}})
    assert r.status == 422 and r.json["errors"]["fields"] == ["contains invalid values: nope"]
    r = api.post("/api/contacts", {"contact": {"email": "a@example.com", "list_ids": [999999]}})
    assert r.status == 422 and r.json["errors"]["list_ids"] == ["contains invalid data"]
    r = api.post("/api/contacts", {"contact": {"email": "a@example.com", "status": "bounced"}})
    assert r.status == 422 and "status" in r.json["errors"]
    assert api.post("/api/contacts", raw="{broken").status == 400


@pytest.mark.parametrize("email, errors", [
    ("a@example.com", []), (" A@Example.COM ", []), ("a@bücher.de", []),
    (None, ["can't be blank"]), ("  ", ["can't be blank"]),
    ("a@" + "b" * 250 + ".com", ["is too long (maximum is 254 characters)"]),
    ("a@example.c", ["top level domain is too short"]),
    ("a..b@example.com", ["is invalid"]), ("x" * 65 + "@example.com", ["is invalid"]),
    ("a@b@example.com", ["is invalid"]), ("a@localhost", ["is invalid"]), ("a@b.1", ["is invalid"]),
])
def test_contact_email_validity_is_the_sending_definition_in_mailtrap_words(email, errors):
    from chalicelib.contacts.common import email_errors
    from chalicelib.core.emails import valid_email
    assert email_errors(email) == errors
    if errors != ["top level domain is too short"]:  # the one rule contacts adds on top
        assert (valid_email(email) is not None) == (errors == [])


def test_patch_upserts_by_email_and_reports_the_action(api):
    r = api.patch("/api/contacts/new%40example.com", {"contact": {"email": "new@example.com"}})
    assert r.status == 200 and r.json["action"] == "created"
    assert r.json["data"]["status"] == "subscribed"
    r = api.patch("/api/contacts/new%40example.com", {"contact": {"email": "new@example.com",
                                                                   "unsubscribed": True}})
    assert r.json["action"] == "updated" and r.json["data"]["status"] == "unsubscribed"
    # an unknown UUID cannot be created
    assert api.patch("/api/contacts/018dd5e3-f6d2-7c00-8f9b-e5c3f2d8a132", {"contact": {}}).status == 404


def test_list_ids_included_and_excluded_and_their_contradiction(api):
    a, b = make_list(api, "A"), make_list(api, "B")
    contact = make_contact(api, "l@example.com", list_ids=[a])
    r = api.patch(f"/api/contacts/{contact['id']}", {"contact": {"list_ids_included": [b],
                                                                 "list_ids_excluded": [a]}})
    assert r.json["data"]["list_ids"] == [b]
    r = api.patch(f"/api/contacts/{contact['id']}", {"contact": {"list_ids_included": [a, b],
                                                                 "list_ids_excluded": [a, b]}})
    assert r.status == 422
    assert r.json["errors"]["base"] == [f"same list_ids {a} and {b} are specified both as included and excluded"]


def test_unsubscribed_contact_cannot_be_resubscribed_manually(api):
    contact = make_contact(api, "gone@example.com")
    api.patch(f"/api/contacts/{contact['id']}", {"contact": {"unsubscribed": True}})
    r = api.patch(f"/api/contacts/{contact['id']}", {"contact": {"unsubscribed": False}})
    assert r.status == 422 and "can't be resubscribed" in r.json["errors"]["unsubscribed"][0]
    assert api.get(f"/api/contacts/{contact['id']}").json["data"]["status"] == "unsubscribed"
    # other changes still work, and the status is kept
    make_field(api, "Plan", "text", "plan")
    r = api.patch(f"/api/contacts/{contact['id']}", {"contact": {"fields": {"plan": "pro"}}})
    assert r.status == 200 and r.json["data"]["status"] == "unsubscribed"


def test_bounced_contacts_are_not_resubscribed_and_pending_is_a_create_option(api, account):
    from chalicelib.contacts import contacts, status
    from chalicelib.contacts.common import mailable

    acct, _ = account
    pending = make_contact(api, "p@example.com", status="pending")
    assert pending["status"] == "pending"
    make_contact(api, "b@example.com")
    status.mark(acct.account_id, "b@example.com", "bounced")
    assert api.get("/api/contacts/b%40example.com").json["data"]["status"] == "bounced"
    r = api.patch("/api/contacts/b%40example.com", {"contact": {"unsubscribed": False}})
    assert r.status == 422
    assert not mailable(contacts.find(acct.account_id, "b@example.com"))
    assert not mailable(contacts.find(acct.account_id, "p@example.com"))
    status.mark(acct.account_id, "p@example.com", "subscribed")  # double opt-in confirmed
    assert mailable(contacts.find(acct.account_id, "p@example.com"))


def test_update_with_retry_rereads_the_item_after_a_concurrent_write_and_404s_a_deleted_one(api, account):
    from chalicelib.contacts import changes, contacts
    from chalicelib.contacts.models import Contact
    from chalicelib.core.errors import NotFound

    acct, _ = account
    made = make_contact(api, "race@example.com")
    seen: list[str | None] = []

    def mutate(contact):
        seen.append(contact.status)
        if len(seen) == 1:  # another writer gets in between this read and the save
            other = Contact.get(contact.account_id, contact.email_key, consistent_read=True)
            changes.set_status(other, "bounced", "system")
            other.seq = int(other.seq or 0) + 1
            other.save()
        return changes.set_status(contact, "pending", "system")

    result = contacts.update_with_retry(acct.account_id, made["id"], mutate)
    assert seen == ["subscribed", "bounced"] and result.status == "pending"

    def delete_meanwhile(contact):
        Contact(contact.account_id, contact.email_key).delete()
        return changes.set_status(contact, "bounced", "system")

    with pytest.raises(NotFound):  # by UUID
        contacts.update_with_retry(acct.account_id, made["id"], delete_meanwhile)
    make_contact(api, "race@example.com")
    with pytest.raises(NotFound):  # by email
        contacts.update_with_retry(acct.account_id, "race%40example.com", delete_meanwhile)


def test_changing_the_email_keeps_the_contact_and_frees_the_old_address(api):
    contact = make_contact(api, "old@example.com")
    make_contact(api, "taken@example.com")
    r = api.patch(f"/api/contacts/{contact['id']}", {"contact": {"email": "taken@example.com"}})
    assert r.status == 422 and r.json["errors"]["email"] == ["has already been taken"]
    r = api.patch(f"/api/contacts/{contact['id']}", {"contact": {"email": "New@Example.com"}})
    assert r.status == 200 and r.json["action"] == "updated"
    assert r.json["data"]["id"] == contact["id"] and r.json["data"]["email"] == "New@Example.com"
    assert api.get("/api/contacts/old%40example.com").status == 404
    assert api.get(f"/api/contacts/{contact['id']}").json["data"]["email"] == "New@Example.com"
    assert make_contact(api, "old@example.com")["id"] != contact["id"]


def test_delete_and_the_documented_not_found_body(api):
    contact = make_contact(api, "del@example.com")
    assert api.delete(f"/api/contacts/{contact['id']}").status == 204
    assert api.get(f"/api/contacts/{contact['id']}").status == 404
    r = api.delete("/api/contacts/nobody%40example.com")
    assert r.status == 404 and r.json == {"errors": "Contact(s) not found"}
    r = api.get("/api/contacts/nobody%40example.com")
    assert r.status == 404 and r.json == {"error": "Not Found"}


def test_list_search_filters_and_pagination(api):
    make_field(api, "Company", "text", "company")
    vip = make_list(api, "VIP")
    for i in range(5):
        make_contact(api, f"user{i}@example.com", fields={"company": "Acme" if i % 2 else "Globex"},
                     list_ids=[vip] if i < 2 else [])
    page = api.get("/api/contacts?per_page=2").json
    assert [c["email"] for c in page["data"]] == ["user4@example.com", "user3@example.com"]  # newest first
    seen = [c["email"] for c in page["data"]]
    while page["next_cursor"]:
        page = api.get(f"/api/contacts?per_page=2&cursor={page['next_cursor']}").json
        seen += [c["email"] for c in page["data"]]
    assert sorted(seen) == [f"user{i}@example.com" for i in range(5)]
    acme = api.get("/api/contacts?search=ACME").json["data"]
    assert sorted(c["email"] for c in acme) == ["user1@example.com", "user3@example.com"]
    assert len(api.get(f"/api/contacts?list_id={vip}").json["data"]) == 2
    assert len(api.get("/api/contacts?status=unsubscribed").json["data"]) == 0
    assert api.get("/api/contacts?per_page=500").status == 422
    assert api.get("/api/contacts?cursor=%%%").status == 422


def test_bulk_actions_limit_and_confirmation(api):
    listed = make_list(api, "Bulk")
    ids = [make_contact(api, f"b{i}@example.com")["id"] for i in range(3)]
    r = api.post("/api/contacts/bulk", {"action": "add_to_lists", "contacts": ids + ["nobody@example.com"],
                                        "list_ids": [listed]})
    assert r.status == 200 and r.json["processed"] == 3 and r.json["not_found"] == ["nobody@example.com"]
    assert len(api.get(f"/api/contacts?list_id={listed}").json["data"]) == 3
    too_many = [f"x{i}@example.com" for i in range(1001)]
    r = api.post("/api/contacts/bulk", {"action": "remove_from_lists", "contacts": too_many, "list_ids": [listed]})
    assert r.status == 422 and "1,000" in r.json["errors"]["contacts"][0]
    r = api.post("/api/contacts/bulk", {"action": "delete", "contacts": ids})
    assert r.status == 422 and "confirm" in r.json["errors"]
    r = api.post("/api/contacts/bulk", {"action": "unsubscribe", "contacts": ids[:1], "confirm": "unsubscribe"})
    assert r.json["processed"] == 1
    assert api.get(f"/api/contacts/{ids[0]}").json["data"]["status"] == "unsubscribed"
    r = api.post("/api/contacts/bulk", {"action": "delete", "contacts": ids, "confirm": "delete"})
    assert r.json["processed"] == 3 and api.get("/api/contacts").json["data"] == []


def test_bulk_actions_change_contacts_side_by_side_and_lose_none(api, monkeypatch):
    import threading
    import time

    from chalicelib.contacts import contacts as contacts_svc

    listed = make_list(api, "Side by side")
    emails = [f"s{i:02d}@example.com" for i in range(40)]
    for email in emails:
        make_contact(api, email)
    at_once, most, lock = [0], [0], threading.Lock()
    update = contacts_svc.update_with_retry

    def slow_update(*args, **kwargs):  # an AWS round trip's worth of waiting, counted
        with lock:
            at_once[0] += 1
            most[0] = max(most[0], at_once[0])
        try:
            time.sleep(0.02)
            return update(*args, **kwargs)
        finally:
            with lock:
                at_once[0] -= 1

    monkeypatch.setattr(contacts_svc, "update_with_retry", slow_update)
    selected = emails + ["ghost1@example.com", emails[0], "ghost2@example.com"]  # a repeat is done once
    r = api.post("/api/contacts/bulk", {"action": "add_to_lists", "contacts": selected, "list_ids": [listed]})
    assert r.status == 200 and r.json["processed"] == 40
    assert r.json["not_found"] == ["ghost1@example.com", "ghost2@example.com"]  # in the order given
    members = api.get(f"/api/contacts?list_id={listed}&per_page=100").json["data"]
    assert sorted(c["email"] for c in members) == emails
    assert most[0] > 1


def test_contact_limit_per_account(api, settings_env):
    settings_env(POSTLINE_CONTACTS_LIMIT=2)
    make_contact(api, "one@example.com")
    make_contact(api, "two@example.com")
    r = api.post("/api/contacts", {"contact": {"email": "three@example.com"}})
    assert r.status == 422 and r.json == {"errors": {"base": ["contacts limit reached"]}}
    api.delete("/api/contacts/one%40example.com")  # deleting frees quota
    assert api.post("/api/contacts", {"contact": {"email": "three@example.com"}}).status == 201


def test_viewers_read_admins_change(api, account):
    acct, _ = account
    make_contact(api, "v@example.com")
    viewer = api.post("/api/api_tokens", {"name": "viewer", "resources": [
        {"resource_type": "account", "resource_id": acct.account_id, "access_level": 10}]}).json["token"]
    assert api.get("/api/contacts/v%40example.com", token=viewer).status == 200
    assert api.get("/api/contacts/fields", token=viewer).status == 200
    r = api.post("/api/contacts", {"contact": {"email": "w@example.com"}}, token=viewer)
    assert r.status == 403
    assert api.delete("/api/contacts/v%40example.com", token=viewer).status == 403
    assert api.post("/api/contacts/lists", {"name": "x"}, token=viewer).status == 403


def test_contacts_rate_limit_is_per_account(api, account, settings_env):
    acct, _ = account
    settings_env(POSTLINE_CONTACTS_RATE_LIMIT_REQUESTS=3, POSTLINE_CONTACTS_RATE_LIMIT_WINDOW_SECONDS=60)
    other = api.post("/api/api_tokens", {"name": "second", "resources": [
        {"resource_type": "account", "resource_id": acct.account_id, "access_level": 100}]}).json["token"]
    assert api.get("/api/contacts").status == 200
    assert api.get("/api/contacts/fields").status == 200
    assert api.get("/api/contacts/lists", token=other).status == 200  # same account, other token
    r = api.get("/api/contacts", token=other)
    assert r.status == 429 and r.json == {"errors": "Rate limit exceeded"} and "retry-after" in r.headers
    assert api.get("/api/api_tokens").status == 200  # other APIs are not counted here
    clock.advance(timedelta(seconds=61))
    assert api.get("/api/contacts").status == 200


def test_every_change_is_published_once_in_order(api, account):
    acct, _ = account
    contact_events(acct.account_id)  # start from an empty queue for this account
    make_field(api, "Plan", "text", "plan")
    listed = make_list(api, "L")
    contact = make_contact(api, "ev@example.com", fields={"plan": "free"})
    api.patch(f"/api/contacts/{contact['id']}", {"contact": {"fields": {"plan": "pro"}, "list_ids_included": [listed]}})
    api.patch(f"/api/contacts/{contact['id']}", {"contact": {"fields": {"plan": "pro"}}})  # no change, no event
    api.patch(f"/api/contacts/{contact['id']}", {"contact": {"list_ids_excluded": [listed]}})
    api.post(f"/api/contacts/{contact['id']}/events", {"name": "purchase", "params": {"amount": 9.5}})
    api.patch(f"/api/contacts/{contact['id']}", {"contact": {"unsubscribed": True}})
    events = [e for e in contact_events(acct.account_id) if e["contact_id"] == contact["id"]]
    assert [(e["seq"], e["type"]) for e in events] == [
        (1, "contact.created"), (2, "contact.field_updated"), (3, "contact.added_to_list"),
        (4, "contact.removed_from_list"), (5, "contact.custom_event"), (6, "contact.unsubscribed")]
    assert events[1]["data"]["changes"]["plan"]["old"] == "free"
    assert events[1]["data"]["changes"]["plan"]["new"] == "pro"
    assert events[4]["data"] == {"name": "purchase", "params": {"amount": 9.5}}
    assert all(e["account_id"] == acct.account_id for e in events)
    from chalicelib.contacts import contacts, outbox

    assert not outbox.has_pending(contacts.find(acct.account_id, "ev@example.com"))  # all published
