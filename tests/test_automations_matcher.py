"""The trigger matcher: contact events (docs/contact-events.md) start the automations whose
trigger they satisfy (seed-E §19 checks 1, 4, 9, 10, 11, 13), and re-engagement."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest

from chalicelib.automations import matcher
from chalicelib.core import clock
from tests.automation_examples import EVENT_DRIVEN_FLOW, ONBOARDING_FLOW, ONBOARDING_LIST, VIP_LIST
from tests.automation_support import all_ended, install_stand_ins, pump_until, runs_of

_ids = itertools.count(1)


@pytest.fixture()
def env(api, account, monkeypatch):
    contacts, sending = install_stand_ins(monkeypatch)
    acct, _ = account

    class Env:
        pass

    e = Env()
    e.api, e.account_id, e.contacts, e.sending = api, acct.account_id, contacts, sending

    def automation(trigger_type, config=None, steps=None, activate=True, body=None):
        payload = body or {"name": trigger_type, "trigger_type": trigger_type, "trigger_config": config or {},
                           "steps": steps or [{"type": "send_email", "template_id": 1,
                                                      "from_email": "hi@acme.example"}]}
        aid = api.post("/api/automations", payload).json["id"]
        if activate:
            assert api.post(f"/api/automations/{aid}/activate", {"active": True}).status == 200
        return aid

    def event(contact, kind, data=None):
        """One message as contacts publish it: {"events": [...]}."""
        body = {"events": [{"id": f"{contact.id}:{next(_ids)}", "type": f"contact.{kind}",
                            "account_id": e.account_id, "contact_id": contact.id, "email": contact.email,
                            "occurred_at": clock.iso(clock.now()), "source": "api", "data": data or {}}]}
        matcher.handle(body)
        return body

    e.automation, e.event = automation, event
    e.contact = lambda email, **fields: contacts.add(acct.account_id, email, fields)
    e.runs = lambda aid: runs_of(acct.account_id, aid)
    return e


def test_contact_created_enrolls_once_and_sends_once(env):
    created = env.automation("contact_created")
    other = env.automation("contact_custom_event", {"event_name": "x"})
    draft = env.automation("contact_created", activate=False)
    c = env.contact("new@x.com", first_name="Nia")
    body = env.event(c, "created", {"status": "subscribed"})
    matcher.handle(body)  # the same message delivered twice
    pump_until(all_ended(env.account_id, created, 1))
    assert [r.status for r in env.runs(created)] == ["completed"]  # check 1
    assert env.runs(other) == [] and env.runs(draft) == []  # check 4: a draft never enrolls
    assert [(s.to, s.template_id) for s in env.sending.sent] == [("new@x.com", 1)]


def test_field_updated_only_on_a_real_change_of_that_field(env):
    aid = env.automation("contact_field_updated", {"field": "plan"}, body=ONBOARDING_FLOW)
    a, b, c = env.contact("a@x.com"), env.contact("b@x.com"), env.contact("c@x.com")
    env.event(a, "field_updated", {"changes": {"plan": {"field_id": 3, "old": "free", "new": "pro"}}})
    env.event(b, "field_updated", {"changes": {"last_name": {"field_id": 2, "old": "X", "new": "Y"}}})
    env.event(c, "field_updated", {"changes": {"plan": {"field_id": 3, "old": "pro", "new": "pro"}}})
    pump_until(all_ended(env.account_id, aid, 1))
    runs = env.runs(aid)
    assert [r.contact_email for r in runs] == ["a@x.com"]  # check 9
    assert runs[0].trigger_data == {"field": "plan", "old": "free", "new": "pro"}
    assert ONBOARDING_LIST in a.list_ids and [s.to for s in env.sending.sent] == ["a@x.com"]


def test_list_triggers_match_their_lists(env):
    added = env.automation("contact_added_to_list", {"list_ids": [7]})
    any_list = env.automation("contact_added_to_list")
    removed = env.automation("contact_removed_from_list", {"list_ids": [7]})
    a, b = env.contact("l1@x.com"), env.contact("l2@x.com")
    env.event(a, "added_to_list", {"list_id": 7})
    env.event(b, "added_to_list", {"list_id": 8})
    env.event(b, "removed_from_list", {"list_id": 7})
    pump_until(all_ended(env.account_id, removed, 1))
    pump_until(all_ended(env.account_id, any_list, 2))
    assert [r.contact_email for r in env.runs(added)] == ["l1@x.com"]  # check 10
    assert sorted(r.contact_email for r in env.runs(any_list)) == ["l1@x.com", "l2@x.com"]
    assert [r.contact_email for r in env.runs(removed)] == ["l2@x.com"]
    assert env.runs(added)[0].trigger_data == {"list_id": 7}


def test_custom_event_name_must_be_equal_and_params_reach_the_split(env):
    aid = env.automation("contact_custom_event", body=EVENT_DRIVEN_FLOW)
    big, small = env.contact("big@x.com"), env.contact("small@x.com")
    env.event(big, "custom_event", {"name": "purchase_completed", "params": {"amount": 99.99}})
    env.event(small, "custom_event", {"name": "purchase_completed", "params": {"amount": 10}})
    env.event(small, "custom_event", {"name": "purchase", "params": {"amount": 500}})  # other name
    pump_until(all_ended(env.account_id, aid, 2))
    runs = {r.contact_email: r for r in env.runs(aid)}
    assert set(runs) == {"big@x.com", "small@x.com"}  # check 11
    assert runs["big@x.com"].trigger_data == {"name": "purchase_completed", "params": {"amount": 99.99}}
    assert runs["big@x.com"].branches == {"3": "yes"} and runs["small@x.com"].branches == {"3": "no"}
    assert VIP_LIST in big.list_ids and VIP_LIST not in small.list_ids
    assert big.fields["customer"] is True and small.fields["customer"] is True
    assert [s.template_id for s in env.sending.to("small@x.com")] == [5, 6]
    assert env.sending.to("big@x.com")[0].variables["event"] == {"amount": 99.99}


def test_a_list_change_by_one_automation_can_start_another(env):
    first = env.automation("contact_created", steps=[{"type": "add_to_lists", "list_ids": [21, 22]},
                                                     {"type": "remove_from_lists", "list_ids": [21]}])
    second = env.automation("contact_added_to_list", {"list_ids": [21]})
    c = env.contact("chain@x.com")
    env.event(c, "created")
    pump_until(all_ended(env.account_id, first, 1))
    assert c.list_ids == {22}  # check 13
    # contacts publishes the change the first automation made; the second one picks it up
    env.event(c, "added_to_list", {"list_id": 21})
    env.event(c, "added_to_list", {"list_id": 21})  # again within 24 h: no second run
    pump_until(all_ended(env.account_id, second, 1))
    assert len(env.runs(second)) == 1


def test_paused_and_disabled_automations_do_not_match(env):
    paused = env.automation("contact_created")
    env.api.post(f"/api/automations/{paused}/activate", {"active": False})
    disabled = env.automation("contact_created")
    env.api.patch(f"/api/automations/{disabled}", {"status": "disabled"})
    env.event(env.contact("p@x.com"), "created")
    assert env.runs(paused) == [] and env.runs(disabled) == []


def test_malformed_events_are_ignored(env):
    env.automation("contact_created")
    assert matcher.on_event({"type": "contact.created"}) == 0
    assert matcher.on_event({"type": "contact.created", "account_id": "x", "contact_id": "c"}) == 0


def test_re_engagement_enrolls_each_inactive_spell_once(env):
    aid = env.automation("re_engagement", {"inactive_days": 30})
    sleepy, busy = env.contact("sleepy@x.com"), env.contact("busy@x.com")
    env.event(sleepy, "created")
    env.event(busy, "created")
    clock.advance(timedelta(days=20))
    env.event(busy, "custom_event", {"name": "login", "params": {}})
    clock.advance(timedelta(days=11))
    assert matcher.reengage() >= 1
    assert [r.contact_email for r in env.runs(aid)] == ["sleepy@x.com"]
    assert env.runs(aid)[0].trigger_data["inactive_days"] == 30
    clock.advance(timedelta(days=2))
    matcher.reengage()  # still the same inactive spell: no second run
    assert len(env.runs(aid)) == 1
    clock.advance(timedelta(days=20))  # busy has now been quiet for 33 days
    matcher.reengage()
    assert sorted(r.contact_email for r in env.runs(aid)) == ["busy@x.com", "sleepy@x.com"]
    pump_until(all_ended(env.account_id, aid, 2))
