"""Contacts and automations on the typed request layer: what a malformed request answers is
what the hand-written checks answered (Mailtrap's words, per field), and what needs the
account's data (the contact, the automation) is still looked at first where it was."""

from __future__ import annotations

import pytest

from tests.contacts_support import fresh_events, make_contact  # noqa: F401

pytestmark = pytest.mark.usefixtures("fresh_events")


def test_every_problem_of_an_event_s_params_is_listed_under_params(api):
    make_contact(api, "p@example.com")
    r = api.post("/api/contacts/p%40example.com/events",
                 {"event": "older_form", "data": {"k" * 256: 1, "nested": {"a": 1}}})
    assert r.status == 422
    assert r.json == {"errors": {"params": ["key '" + "k" * 40 + "' is too long",
                                            "value for 'nested' must be a string, number, boolean or null"]}}


def test_a_bad_query_parameter_of_the_contacts_list_is_a_422_naming_it(api):
    assert api.get("/api/contacts?per_page=abc").json == {"errors": {"per_page": ["must be an integer"]}}
    r = api.get("/api/contacts?per_page=101&status=gone")
    assert r.status == 422 and r.json["errors"] == {
        "per_page": ["must be between 1 and 100"],
        "status": ["must be one of: subscribed, unsubscribed, pending, bounced"]}
    segment = api.post("/api/contacts/segments", {"name": "All", "conditions": [
        {"field": "status", "operator": "is", "value": "subscribed"}]}).json
    r = api.get(f"/api/contacts/segments/{segment['id']}/contacts?per_page=0")
    assert r.status == 422 and r.json == {"errors": {"per_page": ["must be between 1 and 1000"]}}


def test_a_missing_choice_is_answered_with_the_allowed_words(api):
    r = api.post("/api/contacts/fields", {"name": "Plan", "merge_tag": "plan"})
    assert r.status == 422 and r.json == {"errors": {"data_type": [
        "must be one of: text, integer, float, boolean, date"]}}
    r = api.post("/api/contacts/bulk", {"contacts": ["a@example.com"]})
    assert r.json == {"errors": {"action": ["must be one of: add_to_lists, remove_from_lists, unsubscribe, delete"]}}
    r = api.post("/api/contacts/bulk", {"action": "delete", "contacts": []})
    assert r.json == {"errors": {"contacts": ["must be a non-empty array of contact ids or emails"],
                                 "confirm": ["type 'delete' to confirm; this can't be undone"]}}


def test_a_contact_key_that_is_not_an_object_is_the_only_error(api):
    r = api.post("/api/contacts", {"contact": "a@example.com"})
    assert r.status == 422 and r.json == {"errors": {"contact": ["must be an object"]}}


def test_automation_paging_and_activation_keep_their_words(api):
    assert api.get("/api/automations?limit=0").json == {"errors": {"limit": ["must be at least 1"]}}
    assert api.get("/api/automations?limit=1001&offset=-1").json == {"errors": {
        "limit": ["must be at most 1000"], "offset": ["must be at least 0"]}}
    created = api.post("/api/automations", {"name": "A", "trigger_type": "contact_created"}).json
    r = api.post(f"/api/automations/{created['id']}/activate", {})
    assert r.status == 422 and r.json == {"errors": {"active": ["must be true or false"]}}


def test_an_unknown_automation_is_a_404_whatever_the_body(api):
    assert api.post("/api/automations/999999/activate", {}).status == 404
    assert api.patch("/api/automations/999999", {"name": ""}).status == 404
    assert api.post("/api/automations/999999/trigger", {"email": 5}).status == 404
