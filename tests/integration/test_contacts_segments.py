"""Segments: the condition grammar, evaluation (dynamic membership), count, validation."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from chalicelib.core import clock
from tests.contacts_support import fresh_events, make_contact, make_field, make_list  # noqa: F401

pytestmark = pytest.mark.usefixtures("fresh_events")


def _days_ago(days: int) -> str:
    return (clock.now().date() - timedelta(days=days)).isoformat()


def _members(api, segment_id: int) -> list[str]:
    emails, cursor = [], None
    while True:
        page = api.get(f"/api/contacts/segments/{segment_id}/contacts?per_page=2"
                       + (f"&cursor={cursor}" if cursor else "")).json
        emails += [c["email"] for c in page["data"]]
        cursor = page["next_cursor"]
        if not cursor:
            return sorted(emails)


def test_status_and_relative_date(api, account):
    acct, _ = account
    make_field(api, "Signup date", "date", "signup_date")
    make_contact(api, "recent@example.com", fields={"signup_date": _days_ago(10)})
    make_contact(api, "old@example.com", fields={"signup_date": _days_ago(40)})
    gone = make_contact(api, "gone@example.com", fields={"signup_date": _days_ago(10)})
    api.patch(f"/api/contacts/{gone['id']}", {"contact": {"unsubscribed": True}})
    make_contact(api, "nodate@example.com")
    r = api.post(f"/api/accounts/{acct.account_id}/contacts/segments", {
        "name": "New subscribers", "match": "all", "conditions": [
            {"field": "status", "operator": "is", "value": "subscribed"},
            {"field": "signup_date", "operator": "after", "value": {"days_ago": 30}}]})
    assert r.status == 201, r
    segment = r.json
    assert segment["groups"] == [{"match": "all", "conditions": [
        {"field": "status", "operator": "is", "value": "subscribed"},
        {"field": "signup_date", "operator": "after", "value": {"days_ago": 30}}]}]
    assert _members(api, segment["id"]) == ["recent@example.com"]
    assert api.get(f"/api/contacts/segments/{segment['id']}/count").json == {"id": segment["id"], "count": 1}


def test_or_of_text_and_number(api):
    make_field(api, "Customer tier", "text", "customer_tier")
    make_field(api, "Total purchases", "integer", "total_purchases")
    make_contact(api, "vip@example.com", fields={"customer_tier": "VIP", "total_purchases": 5})
    make_contact(api, "big@example.com", fields={"customer_tier": "Gold", "total_purchases": 1500})
    make_contact(api, "small@example.com", fields={"customer_tier": "Gold", "total_purchases": 500})
    make_contact(api, "lower@example.com", fields={"customer_tier": "vip"})  # text is case-insensitive
    segment = api.post("/api/contacts/segments", {"name": "Best", "match": "any", "conditions": [
        {"field": "customer_tier", "operator": "is", "value": "VIP"},
        {"field": "total_purchases", "operator": "greater than", "value": 1000}]}).json
    assert _members(api, segment["id"]) == ["big@example.com", "lower@example.com", "vip@example.com"]
    assert api.get(f"/api/contacts/segments/{segment['id']}/count").json["count"] == 3


def test_membership_is_dynamic(api):
    make_field(api, "Plan", "text", "plan")
    contact = make_contact(api, "dyn@example.com", fields={"plan": "free"})
    segment = api.post("/api/contacts/segments", {"name": "Pro", "conditions": [
        {"field": "plan", "operator": "is", "value": "pro"}]}).json
    assert _members(api, segment["id"]) == []
    api.patch(f"/api/contacts/{contact['id']}", {"contact": {"fields": {"plan": "pro"}}})
    assert _members(api, segment["id"]) == ["dyn@example.com"]
    api.patch(f"/api/contacts/{contact['id']}", {"contact": {"fields": {"plan": "free"}}})
    assert _members(api, segment["id"]) == []


def test_operators_are_checked_against_the_field_type(api):
    make_field(api, "Age", "integer", "age")
    make_field(api, "Company", "text", "company")
    make_field(api, "Birthday", "date", "birthday")
    r = api.post("/api/contacts/segments", {"name": "x", "conditions": [
        {"field": "age", "operator": "contains", "value": 3}]})
    assert r.status == 422 and "not valid for a integer field" in r.json["errors"]["conditions"][0]
    r = api.post("/api/contacts/segments", {"name": "x", "conditions": [
        {"field": "company", "operator": "greater_than", "value": "A"}]})
    assert r.status == 422
    r = api.post("/api/contacts/segments", {"name": "x", "conditions": [
        {"field": "nope", "operator": "is", "value": 1}]})
    assert r.status == 422 and "unknown field 'nope'" in r.json["errors"]["conditions"][0]
    r = api.post("/api/contacts/segments", {"name": "x", "conditions": [
        {"field": "age", "operator": "greater_than", "value": "many"}]})
    assert r.status == 422
    r = api.post("/api/contacts/segments", {"name": "x", "conditions": []})
    assert r.status == 422
    make_contact(api, "bd@example.com", fields={"birthday": "1990-03-01"})
    r = api.post("/api/contacts/segments", {"name": "Born before 2000", "conditions": [
        {"field": "birthday", "operator": "before", "value": "2000-01-01"}]})
    assert r.status == 201 and _members(api, r.json["id"]) == ["bd@example.com"]


def test_groups_lists_email_events_and_missing_values(api):
    make_field(api, "Score", "float", "score")
    members = make_list(api, "Members")
    a = make_contact(api, "a@corp.example", fields={"score": 7.5}, list_ids=[members])
    make_contact(api, "b@corp.example", fields={"score": 2})
    make_contact(api, "c@other.example", list_ids=[members])
    api.post(f"/api/contacts/{a['id']}/events", {"name": "purchase_completed", "params": {"amount": 99}})
    definition = {"match": "all", "groups": [
        {"match": "any", "conditions": [{"field": "list", "operator": "is", "value": members},
                                        {"field": "score", "operator": "less_than", "value": 5}]},
        {"match": "all", "conditions": [{"field": "email", "operator": "contains", "value": "@CORP."}]}]}
    r = api.post("/api/contacts/segments/preview", definition)
    assert r.status == 200 and r.json["count"] == 2
    assert sorted(c["email"] for c in r.json["data"]) == ["a@corp.example", "b@corp.example"]
    # a condition on a missing value is false: c has no score
    r = api.post("/api/contacts/segments/preview", {"conditions": [
        {"field": "score", "operator": "is_not", "value": 1}]})
    assert sorted(c["email"] for c in r.json["data"]) == ["a@corp.example", "b@corp.example"]
    r = api.post("/api/contacts/segments/preview", {"conditions": [{"field": "score", "operator": "is_not_set"}]})
    assert [c["email"] for c in r.json["data"]] == ["c@other.example"]
    r = api.post("/api/contacts/segments/preview", {"conditions": [
        {"event": "purchase_completed", "operator": "performed", "within_days": 30}]})
    assert [c["email"] for c in r.json["data"]] == ["a@corp.example"]
    r = api.post("/api/contacts/segments/preview", {"conditions": [
        {"event": "purchase_completed", "operator": "not_performed"}]})
    assert r.json["count"] == 2


def test_a_preview_reads_the_contacts_once_when_dynamodb_cannot_filter(api, monkeypatch):
    from chalicelib.contacts.models import Contact

    for i in range(25):
        make_contact(api, f"p{i:02d}@corp.example")
    make_contact(api, "x@other.example")
    queries = []
    query = Contact.query
    monkeypatch.setattr(Contact, "query", lambda *a, **kw: (queries.append(a), query(*a, **kw))[1])
    r = api.post("/api/contacts/segments/preview", {"conditions": [  # "contains" is evaluated here, not in DynamoDB
        {"field": "email", "operator": "contains", "value": "@corp."}]})
    assert r.status == 200 and r.json["count"] == 25
    assert [c["email"] for c in r.json["data"]] == [f"p{i:02d}@corp.example" for i in range(20)]
    assert len(queries) == 1


def test_segment_crud_and_no_limit(api, account):
    from chalicelib.contacts import fields, segments
    from chalicelib.contacts.models import Segment

    acct, _ = account
    make_field(api, "Plan", "text", "plan")
    definition = segments.normalise({"conditions": [{"field": "plan", "operator": "is", "value": "p"}]},
                                    fields.schema(acct.account_id), set())
    with Segment.batch_write() as batch:  # 99 written directly to keep the test quick; the 100th by the API
        for i in range(99):
            batch.save(Segment(acct.account_id, 10_000_000 + i, name=f"Segment {i}", definition=json.dumps(definition),
                               created_at=1, updated_at=1))
    r = api.post("/api/contacts/segments", {"name": "Segment 99", "conditions": [
        {"field": "plan", "operator": "is", "value": "p99"}]})
    assert r.status == 201, r
    listed = api.get("/api/contacts/segments").json
    assert len(listed) == 100
    first = listed[0]
    r = api.patch(f"/api/contacts/segments/{first['id']}", {"name": "Renamed", "match": "any", "conditions": [
        {"field": "plan", "operator": "contains", "value": "x"}]})
    assert r.status == 200 and r.json["name"] == "Renamed"
    assert r.json["groups"][0]["conditions"][0]["operator"] == "contains"
    assert api.get(f"/api/contacts/segments/{first['id']}").json["name"] == "Renamed"
    assert api.delete(f"/api/contacts/segments/{first['id']}").status == 204
    assert api.get(f"/api/contacts/segments/{first['id']}").status == 404
    assert api.get("/api/contacts/segments/123456789/count").status == 404


def test_recipients_are_the_subscribed_members(api, account):
    from chalicelib.contacts import lists, segments

    acct, _ = account
    listed = make_list(api, "Newsletter")
    for email in ("in@example.com", "out@example.com", "wait@example.com"):
        make_contact(api, email, list_ids=[listed], **({"status": "pending"} if email.startswith("wait") else {}))
    api.patch("/api/contacts/out%40example.com", {"contact": {"unsubscribed": True}})
    segment = api.post("/api/contacts/segments", {"name": "Newsletter", "conditions": [
        {"field": "list", "operator": "is", "value": listed}]}).json
    assert len(_members(api, segment["id"])) == 3
    assert [c.email for c in segments.recipients(acct.account_id, segment["id"])] == ["in@example.com"]
    assert [c.email for c in lists.recipients(acct.account_id, listed)] == ["in@example.com"]
