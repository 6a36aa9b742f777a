"""Contact lists: CRUD, unique names, limits, deletion keeps contacts, membership history."""

from __future__ import annotations

import pytest

from chalicelib.contacts import lists, meta
from chalicelib.contacts.models import Contact
from chalicelib.core import ids
from tests.contacts_support import fresh_events, make_contact, make_list, run_workers  # noqa: F401

pytestmark = pytest.mark.usefixtures("fresh_events")


def test_list_crud_shapes_and_search(api, account):
    acct, _ = account
    r = api.post(f"/api/accounts/{acct.account_id}/contacts/lists", {"name": "Customers"})
    assert r.status == 200 and set(r.json) == {"id", "name"} and r.json["name"] == "Customers"
    customers = r.json
    make_list(api, "Cold leads")
    make_list(api, "Newsletter")
    assert api.get(f"/api/contacts/lists/{customers['id']}").json == customers
    assert [x["name"] for x in api.get("/api/contacts/lists?search=c").json] == ["Customers", "Cold leads"]
    r = api.patch(f"/api/contacts/lists/{customers['id']}", {"name": "Former customers"})
    assert r.status == 200 and r.json == {"id": customers["id"], "name": "Former customers"}
    assert api.get("/api/contacts/lists/999999").status == 404


def test_names_are_unique_and_limited(api):
    make_list(api, "Customers")
    r = api.post("/api/contacts/lists", {"name": "customers"})
    assert r.status == 422 and r.json["errors"]["name"] == [lists.DUPLICATE_NAME]
    other = make_list(api, "Other")
    r = api.patch(f"/api/contacts/lists/{other}", {"name": "CUSTOMERS"})  # also on rename
    assert r.status == 422
    r = api.post("/api/contacts/lists", {"name": "x" * 101})
    assert r.status == 422 and r.json["errors"]["name"] == ["is too long (maximum is 100 characters)"]
    assert api.post("/api/contacts/lists", {"name": "  "}).status == 422


def test_fifty_lists_per_account(api, account):
    acct, _ = account
    meta.mutate_definitions(acct.account_id, meta.LISTS, lambda defs: defs.update({  # 49 in one write
        str(ids.next_id("contact_list")): {"name": f"List {i}", "created_at": 0} for i in range(lists.MAX_LISTS - 1)}))
    make_list(api, "List 49")
    r = api.post("/api/contacts/lists", {"name": "List 51"})
    assert r.status == 422 and r.json == {"errors": {"base": ["You can have up to 50 lists"]}}


def test_deleting_a_list_keeps_its_contacts(api, account, client):
    acct, _ = account
    doomed, kept = make_list(api, "Doomed"), make_list(api, "Kept")
    contact = make_contact(api, "m@example.com", list_ids=[doomed, kept])
    assert api.delete(f"/api/contacts/lists/{doomed}").status == 204
    data = api.get(f"/api/contacts/{contact['id']}").json["data"]
    assert data["list_ids"] == [kept]
    assert api.get(f"/api/contacts/lists/{doomed}").status == 404
    run_workers(client)
    assert Contact.get(acct.account_id, "m@example.com").list_ids == {kept}


def test_a_list_used_by_a_segment_cannot_be_deleted(api):
    listed = make_list(api, "Members")
    api.post("/api/contacts/segments", {"name": "In members", "conditions": [
        {"field": "list", "operator": "is", "value": listed}]})
    r = api.delete(f"/api/contacts/lists/{listed}")
    assert r.status == 422 and r.json["errors"]["usage"] == [
        "This list is used in the conditions of segment(s): In members."]


def test_membership_history_on_the_timeline(api):
    a, b = make_list(api, "A"), make_list(api, "B")
    contact = make_contact(api, "h@example.com", list_ids=[a])
    api.patch(f"/api/contacts/{contact['id']}", {"contact": {"list_ids_included": [b], "list_ids_excluded": [a]}})
    timeline = api.get(f"/api/contacts/{contact['id']}/timeline").json["data"]
    history = sorted((e["type"], e["list_id"]) for e in timeline if "list_id" in e)
    assert history == [("added_to_list", a), ("added_to_list", b), ("removed_from_list", a)]
    assert all(e["at"].endswith("Z") for e in timeline)
