"""Automation definitions over HTTP: create, validate, list, get, edit (versions), archive,
lifecycle transitions, limits and permissions (seed-E §6, §19 checks 14-18)."""

from __future__ import annotations

import copy
import dataclasses

import pytest

from chalicelib.accounts import service as accounts
from chalicelib.core import config
from tests.automation_examples import EVENT_DRIVEN_FLOW, WELCOME_SERIES
from tests.automation_support import World, record_sends
from tests.conftest import Api

EMAIL_STEP = {"type": "send_email", "template_id": 1, "from_email": "hi@acme.example"}


@pytest.fixture(autouse=True)
def sending(monkeypatch):
    return record_sends(monkeypatch)


@pytest.fixture()
def world(api, account):
    """Fields plan, first_name, customer, purchases and lists: split conditions name them."""
    return World(api, account[0].account_id)


def create(api, body=None, **changes):
    payload = copy.deepcopy(body or {"name": "A", "trigger_type": "contact_created", "steps": [EMAIL_STEP]})
    payload.update(changes)
    return api.post("/api/automations", payload)


def test_create_returns_a_draft_with_canonical_steps_and_ids(api, account, world):
    acct, _ = account
    r = create(api, WELCOME_SERIES)
    assert r.status == 201, r
    body = r.json
    assert body["status"] == "draft" and body["version"] == 1 and body["active_version"] is None
    assert body["trigger_type"] == "contact_created" and body["step_count"] == 5
    assert body["enrolled"] == 0 and body["run_count"] == 0
    assert body["runs"] == {"running": 0, "completed": 0, "failed": 0, "removed": 0}
    split = body["steps"][2]
    assert [s["id"] for s in body["steps"]] == [1, 2, 3]
    assert split["yes"][0]["id"] == 4 and split["no"][0]["id"] == 5
    assert split["conditions"] == {"match": "all", "groups": [
        {"match": "all", "conditions": [{"field": "plan", "operator": "is", "value": "pro"}]}]}
    # both path styles serve the same resource
    same = api.get(f"/api/accounts/{acct.account_id}/automations/{body['id']}")
    assert same.status == 200 and same.json["steps"] == body["steps"]


def test_vendor_shapes_are_accepted(api):
    # Misar: trigger_type + trigger_config, flat {delay_minutes, template_id, subject} steps
    r = create(api, {"name": "Misar", "trigger_type": "welcome_email", "trigger_config": {"list_id": 5},
                     "steps": [{"delay_minutes": 0, "template_id": "tpl_1", "subject": "Welcome, {{first_name}}!"},
                               {"delay_minutes": 1440, "template_id": "tpl_2"}]})
    assert r.status == 201, r
    assert r.json["trigger_type"] == "contact_added_to_list" and r.json["trigger_config"] == {"list_ids": [5]}
    assert [s["type"] for s in r.json["steps"]] == ["send_email", "time_delay", "send_email"]
    assert r.json["steps"][1] == {"id": 2, "type": "time_delay", "amount": 1440, "unit": "minutes"}
    # TopMail names; Mailtrap's nested {"trigger": {...}}
    assert create(api, trigger_type="signup").json["trigger_type"] == "contact_created"
    r = create(api, trigger_type=None, trigger={"type": "custom", "event_name": "purchase_completed"})
    assert r.json["trigger_type"] == "contact_custom_event"
    assert r.json["trigger_config"] == {"event_name": "purchase_completed"}
    r = create(api, trigger_type="abandoned_cart")
    assert r.json["trigger_config"] == {"event_name": "cart_abandoned"}
    r = create(api, trigger_type="re_engagement", trigger_config={"inactive_days": 30})
    assert r.json["trigger_config"] == {"inactive_days": 30}


@pytest.mark.parametrize("changes,field", [
    ({"name": ""}, "name"),
    ({"name": "x" * 256}, "name"),
    ({"trigger_type": "foo"}, "trigger_type"),
    ({"trigger_type": None}, "trigger_type"),
    ({"trigger_type": "contact_field_updated"}, "trigger_config.field"),
    ({"trigger_type": "contact_custom_event", "trigger_config": {}}, "trigger_config.event_name"),
    ({"trigger_type": "re_engagement", "trigger_config": {"inactive_days": 0}}, "trigger_config.inactive_days"),
    ({"trigger_type": "contact_added_to_list", "trigger_config": {"list_ids": ["x"]}}, "trigger_config.list_ids"),
    ({"steps": "all"}, "steps"),
    ({"steps": [{"type": "teleport"}]}, "steps[0].type"),
    ({"steps": [{"type": "send_email"}]}, "steps[0].template_id"),
    ({"steps": [{"type": "send_email", "template_id": 1, "from_email": "nope"}]}, "steps[0].from_email"),
    ({"steps": [{"type": "time_delay", "amount": 2, "unit": "fortnights"}]}, "steps[0].unit"),
    ({"steps": [{"type": "time_delay", "amount": 0, "unit": "days"}]}, "steps[0].amount"),
    ({"steps": [{"type": "time_delay", "amount": 53, "unit": "weeks"}]}, "steps[0].amount"),
    ({"steps": [{"type": "add_to_lists", "list_ids": []}]}, "steps[0].list_ids"),
    ({"steps": [{"type": "update_contact_field", "field": "plan"}]}, "steps[0].value"),
    ({"steps": [{"type": "conditional_split", "conditions": []}]}, "steps[0].conditions.conditions"),
    ({"steps": [{"type": "conditional_split", "conditions": [{"field": "plan", "operator": "is", "value": 1}]},
                EMAIL_STEP]}, "steps[0]"),
    ({"steps": [{"type": "conditional_split", "conditions": [{"field": "plan", "operator": "is", "value": 1}],
                 "yes": [{"type": "send_email"}]}]}, "steps[0].yes[0].template_id"),
    # the segment grammar, checked against the account's own fields and lists (seed-E §19 check 22)
    ({"steps": [{"type": "conditional_split", "conditions": [{"field": "nope", "operator": "is", "value": 1}]}]},
     "steps[0].conditions"),
    ({"steps": [{"type": "conditional_split", "conditions": [
        {"field": "purchases", "operator": "contains", "value": "1"}]}]}, "steps[0].conditions"),
    ({"steps": [{"type": "conditional_split", "conditions": [
        {"field": "plan", "operator": "greater_than", "value": 3}]}]}, "steps[0].conditions"),
    ({"steps": [{"type": "conditional_split", "conditions": [{"field": "list", "operator": "is", "value": 999999}]}]},
     "steps[0].conditions"),
    ({"steps": [{"type": "conditional_split", "conditions": [
        {"field": "event.params.amount", "operator": "greater_than", "value": "fifty"}]}]},
     "steps[0].conditions.conditions[0].value"),
    ({"steps": [{"type": "conditional_split", "conditions": [
        {"field": "event.params.amount", "operator": "near", "value": 1}]}]},
     "steps[0].conditions.conditions[0].operator"),
])
def test_invalid_definitions_are_422_naming_the_field(api, changes, field, request):
    if "conditional_split" in str(changes):
        request.getfixturevalue("world")
    r = create(api, **changes)
    assert r.status == 422, r
    assert field in r.json["errors"], r.json


def test_delays_on_one_path_may_not_exceed_a_year(api):
    week52 = {"type": "time_delay", "amount": 52, "unit": "weeks"}
    r = create(api, steps=[week52, {"type": "time_delay", "amount": 8, "unit": "days"}, EMAIL_STEP])
    assert r.status == 422 and "steps" in r.json["errors"]


def test_list_filters_by_status_pages_and_hides_archived(api):
    ids = [create(api, name=f"A{i}").json["id"] for i in range(5)]
    assert api.post(f"/api/automations/{ids[0]}/activate", {"active": True}).status == 200
    assert api.delete(f"/api/automations/{ids[1]}").status == 204
    listed = api.get("/api/automations").json
    assert listed["total"] == 4 and [a["id"] for a in listed["data"]] == [ids[4], ids[3], ids[2], ids[0]]
    assert [a["id"] for a in api.get("/api/automations?status=active").json["data"]] == [ids[0]]
    assert [a["id"] for a in api.get("/api/automations?status=archived").json["data"]] == [ids[1]]
    page = api.get("/api/automations?limit=2&offset=2").json
    assert [a["id"] for a in page["data"]] == [ids[2], ids[0]] and page["total"] == 4
    misar = api.get("/api/automations?limit=2&page=2").json
    assert [a["id"] for a in misar["data"]] == [ids[2], ids[0]]
    first = listed["data"][0]
    assert set(first) >= {"id", "name", "trigger_type", "status", "step_count", "enrolled", "created_at"}
    assert "steps" not in first
    assert api.get("/api/automations?limit=1001").status == 422
    assert api.get("/api/automations?limit=0").status == 422
    assert api.get("/api/automations?status=sleeping").status == 422


def test_get_unknown_or_archived(api):
    assert api.get("/api/automations/999999").json == {"error": "Not Found"}
    assert api.get("/api/automations/abc").status == 404
    aid = create(api).json["id"]
    assert api.delete(f"/api/automations/{aid}").status == 204
    archived = api.get(f"/api/automations/{aid}").json
    assert archived["status"] == "archived" and archived["archived_at"]
    assert api.patch(f"/api/automations/{aid}", {"status": "active"}).status == 422
    assert api.delete(f"/api/automations/{aid}").status == 204  # idempotent


def test_lifecycle_transitions(api):
    aid = create(api, steps=[]).json["id"]
    # draft -> active needs a step (TopMail), draft -> paused/disabled are not transitions
    r = api.patch(f"/api/automations/{aid}", {"status": "active"})
    assert r.status == 422 and "steps" in r.json["errors"]
    assert api.patch(f"/api/automations/{aid}", {"status": "paused"}).status == 422
    assert api.patch(f"/api/automations/{aid}", {"status": "disabled"}).status == 422
    assert api.patch(f"/api/automations/{aid}", {"steps": [EMAIL_STEP]}).json["status"] == "draft"
    r = api.patch(f"/api/automations/{aid}", {"status": "active"})
    assert r.status == 200 and r.json["status"] == "active" and r.json["activated_at"]
    assert api.patch(f"/api/automations/{aid}", {"status": "paused"}).json["status"] == "paused"
    assert api.patch(f"/api/automations/{aid}", {"status": "active"}).json["status"] == "active"
    assert api.patch(f"/api/automations/{aid}", {"status": "draft"}).status == 422
    assert api.patch(f"/api/automations/{aid}", {"status": "disabled"}).json["status"] == "disabled"
    assert api.patch(f"/api/automations/{aid}", {"status": "paused"}).status == 422  # disabled -> paused
    assert api.patch(f"/api/automations/{aid}", {"status": "active"}).json["status"] == "active"
    assert api.patch(f"/api/automations/{aid}", {"status": "bogus"}).status == 422


def test_activate_endpoint(api):
    aid = create(api).json["id"]
    r = api.post(f"/api/automations/{aid}/activate", {"active": True})
    assert r.status == 200 and r.json["status"] == "active" and r.json["active_version"] == 1
    assert api.post(f"/api/automations/{aid}/activate", {"active": False}).json["status"] == "paused"
    assert api.post(f"/api/automations/{aid}/activate", {"active": False}).json["status"] == "paused"
    assert api.post(f"/api/automations/{aid}/activate", {"active": True}).json["status"] == "active"
    assert api.post(f"/api/automations/{aid}/activate", {"active": "yes"}).status == 422
    assert api.post(f"/api/automations/{aid}/activate", {}).status == 422
    empty = create(api, steps=[]).json["id"]
    assert api.post(f"/api/automations/{empty}/activate", {"active": True}).status == 422


def test_activation_checks_references_with_their_owners(api, sending, world):
    sending.templates = {1}
    known = world.list("Known")
    aid = create(api, steps=[EMAIL_STEP, {"type": "send_email", "template_id": 9, "from_email": "a@acme.example"},
                             {"type": "add_to_lists", "list_ids": [known, 999999]},
                             {"type": "update_contact_field", "field": "nickname", "value": "x"},
                             {"type": "send_email", "template_id": 1}]).json["id"]
    r = api.post(f"/api/automations/{aid}/activate", {"active": True})
    assert r.status == 422
    assert r.json["errors"] == {
        "from_email": ["can't be blank (step 5): an email needs a From address on a verified sending domain"],
        "list_ids": ["list 999999 does not exist"],
        "field": ["field 'nickname' does not exist"],
        "template_id": ["template 9 does not exist"]}
    assert api.get(f"/api/automations/{aid}").json["status"] == "draft"


def test_contacts_refuse_to_delete_a_field_or_list_an_automation_uses(api, world):
    vip = world.list("VIP")
    spare = world.list("Spare")
    create(api, name="Uses plan", trigger_type="contact_field_updated", trigger_config={"field": "plan"})
    create(api, name="Adds VIP", steps=[{"type": "add_to_lists", "list_ids": [vip]}])
    fields = {f["merge_tag"]: f["id"] for f in api.get("/api/contacts/fields").json}
    r = api.delete(f"/api/contacts/fields/{fields['plan']}")
    assert r.status == 422
    assert r.json == {"errors": {"usage": ["This field is used in the steps of automation(s): Uses plan."]}}
    r = api.delete(f"/api/contacts/lists/{vip}")
    assert r.status == 422 and "This list is used in the steps of automation(s): Adds VIP." in r.json["errors"]["usage"]
    assert api.delete(f"/api/contacts/lists/{spare}").status == 204
    assert api.delete(f"/api/contacts/fields/{fields['first_name']}").status == 204


def test_the_usage_checks_register_whichever_automations_module_loads_first():
    # not only the route module: a worker or script that imports any automations module
    import subprocess
    import sys

    code = ("import chalicelib.automations.worker\n"
            "from chalicelib.automations import usage\n"
            "from chalicelib.contacts import fields, lists\n"
            "assert fields.USAGE_CHECKS.count(usage.field_usage) == 1\n"
            "assert lists.USAGE_CHECKS.count(usage.list_usage) == 1\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_edits_make_versions_and_an_active_edit_compiles_the_new_one(api, world):
    aid = create(api, WELCOME_SERIES).json["id"]
    r = api.patch(f"/api/automations/{aid}", {"name": "Renamed"})
    assert r.json["name"] == "Renamed" and r.json["version"] == 1  # a rename is not a new version
    api.post(f"/api/automations/{aid}/activate", {"active": True})
    steps = api.get(f"/api/automations/{aid}").json["steps"]
    steps[0]["subject"] = "Hello!"
    r = api.patch(f"/api/automations/{aid}", {"steps": steps})
    assert r.status == 200 and r.json["version"] == 2 and r.json["active_version"] == 2
    assert [s["id"] for s in r.json["steps"]] == [1, 2, 3]  # ids kept across the edit
    v1 = api.get(f"/api/automations/{aid}/definition?version=1").json
    v2 = api.get(f"/api/automations/{aid}/definition").json
    assert v1["version"] == 1 and v2["version"] == 2
    assert v1["state_machine_arn"] != v2["state_machine_arn"] and v2["state_machine_arn"].endswith("-v2")
    assert "Hello!" in str(v2["definition"]) and "Hello!" not in str(v1["definition"])
    # an edit that would leave an active automation without steps is refused
    assert api.patch(f"/api/automations/{aid}", {"steps": []}).status == 422
    # trigger edits are versions too
    r = api.patch(f"/api/automations/{aid}", {"trigger_type": "contact_custom_event",
                                               "trigger_config": {"event_name": "signup"}})
    assert r.json["version"] == 3 and r.json["trigger_config"] == {"event_name": "signup"}
    assert api.get(f"/api/automations/{aid}/definition?version=9").status == 404


def _meanwhile(monkeypatch, other_request):
    """Run ``other_request`` once, while the next edit is between reading and writing."""
    from chalicelib.automations import definition

    parse_steps, done, started = definition.parse_steps, [], []

    def parse_then_interleave(*args, **kwargs):
        parsed = parse_steps(*args, **kwargs)
        if not started:
            started.append(True)
            done.append(other_request())
        return parsed

    monkeypatch.setattr(definition, "parse_steps", parse_then_interleave)
    return done


def test_concurrent_edits_of_one_version_cannot_both_land(api, monkeypatch):
    aid = create(api, steps=[{**EMAIL_STEP, "subject": "first"}]).json["id"]
    theirs = [{**EMAIL_STEP, "subject": "theirs"}]
    done = _meanwhile(monkeypatch, lambda: api.patch(f"/api/automations/{aid}", {"steps": theirs}))
    mine = api.patch(f"/api/automations/{aid}", {"steps": [{**EMAIL_STEP, "subject": "mine"}]})
    assert done[0].status == 200 and done[0].json["version"] == 2
    assert mine.status == 409
    now = api.get(f"/api/automations/{aid}").json
    v2 = api.get(f"/api/automations/{aid}/definition?version=2")  # the version record holds what won
    assert now["version"] == 2 and now["steps"][0]["subject"] == "theirs"
    assert v2.status == 200 and "theirs" in str(v2.json["definition"]) and "mine" not in str(v2.json["definition"])


def test_an_edit_does_not_undo_a_rename_made_meanwhile(api, monkeypatch):
    aid = create(api, name="Before").json["id"]
    done = _meanwhile(monkeypatch, lambda: api.patch(f"/api/automations/{aid}", {"name": "Renamed meanwhile"}))
    mine = api.patch(f"/api/automations/{aid}", {"steps": [{**EMAIL_STEP, "subject": "mine"}]})
    assert done[0].status == 200 and mine.status == 409
    assert api.get(f"/api/automations/{aid}").json["name"] == "Renamed meanwhile"
    again = api.patch(f"/api/automations/{aid}", {"steps": [{**EMAIL_STEP, "subject": "mine"}]})  # after a reload
    assert again.status == 200 and again.json["name"] == "Renamed meanwhile" and again.json["version"] == 2


def test_twenty_automations_per_account(api):
    for i in range(20):
        assert create(api, name=f"A{i}").status == 201
    r = create(api, name="A20")
    assert r.status == 403
    assert r.json == {"errors": "Automation quota reached for your plan (Free: 20)"}
    # archiving one frees a place
    first = api.get("/api/automations?limit=1&offset=19").json["data"][0]["id"]
    api.delete(f"/api/automations/{first}")
    assert create(api, name="A21").status == 201


def test_the_limit_is_configurable(api, monkeypatch):
    patched = dataclasses.replace(config.settings(), automations_per_account=2)
    from chalicelib.automations import service

    monkeypatch.setattr(service, "settings", lambda: patched)
    assert create(api).status == 201 and create(api).status == 201
    assert create(api).json == {"errors": "Automation quota reached for your plan (Free: 2)"}


def test_concurrent_creates_cannot_pass_the_limit_together(api, monkeypatch):
    import threading

    from chalicelib.automations import service

    patched = dataclasses.replace(config.settings(), automations_per_account=3)
    monkeypatch.setattr(service, "settings", lambda: patched)
    assert create(api).status == 201 and create(api).status == 201  # one place left
    statuses, start = [], threading.Barrier(4)

    def create_one(i):
        start.wait(timeout=10)
        statuses.append(create(api, name=f"race {i}").status)

    threads = [threading.Thread(target=create_one, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [201, 403, 403, 403]
    assert len(api.get("/api/automations").json["data"]) == 3


def test_viewers_read_admins_change(api, account, client):
    acct, _ = account
    aid = create(api).json["id"]
    viewer = api.post("/api/api_tokens", {"name": "viewer", "resources": [
        {"resource_type": "account", "resource_id": acct.account_id, "access_level": 10}]}).json["token"]
    v = Api(client, viewer)
    assert v.get("/api/automations").status == 200
    assert v.get(f"/api/automations/{aid}").status == 200
    assert v.get(f"/api/automations/{aid}/runs").status == 200
    assert v.post("/api/automations", {"name": "x", "trigger_type": "contact_created"}).status == 403
    assert v.patch(f"/api/automations/{aid}", {"name": "y"}).status == 403
    assert v.post(f"/api/automations/{aid}/activate", {"active": True}).status == 403
    assert v.post(f"/api/automations/{aid}/trigger", {"email": "a@b.co"}).status == 403
    assert v.delete(f"/api/automations/{aid}").status == 403


def test_another_accounts_automation_is_not_found(api, client, world):
    aid = create(api, EVENT_DRIVEN_FLOW).json["id"]
    _, other_token = accounts.create_account("Other", "o@other.example")
    other = Api(client, other_token)
    assert other.get(f"/api/automations/{aid}").status == 404
    assert other.patch(f"/api/automations/{aid}", {"name": "mine"}).status == 404
    assert other.get("/api/automations").json["total"] == 0
