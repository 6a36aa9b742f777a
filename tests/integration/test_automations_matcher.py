"""The trigger matcher: the contacts capability's change events (contact-events.fifo) start
the automations whose trigger they satisfy (seed-E §19 checks 1, 4, 9, 10, 11, 13), and the
re-engagement schedule. Contacts are changed through the contacts API, as a user would."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from chalicelib.automations import matcher
from chalicelib.core import aws, clock
from tests.automation_examples import EVENT_DRIVEN_FLOW, ONBOARDING_FLOW, ONBOARDING_LIST, VIP_LIST
from tests.automation_support import World, all_ended, materialise, pump_events, pump_until, record_sends, runs_of
from tests.contacts_support import run_workers

SENDER = "hi@acme.example"


@pytest.fixture()
def env(api, account, monkeypatch):
    sending = record_sends(monkeypatch)
    acct, _ = account

    class Env:
        pass

    e = Env()
    e.api, e.account_id, e.sending = api, acct.account_id, sending
    e.world = World(api, acct.account_id)

    def automation(trigger_type, config=None, steps=None, activate=True, body=None):
        payload = body or {"name": trigger_type, "trigger_type": trigger_type, "trigger_config": config or {},
                           "steps": steps or [{"type": "send_email", "template_id": 1, "from_email": SENDER}]}
        r = api.post("/api/automations", payload)
        assert r.status == 201, r
        if activate:
            assert api.post(f"/api/automations/{r.json['id']}/activate", {"active": True}).status == 200
        return r.json["id"]

    e.automation = automation
    e.runs = lambda aid: runs_of(acct.account_id, aid)
    e.done = lambda aid, count: pump_until(all_ended(acct.account_id, aid, count))
    return e


def test_contact_created_enrolls_once_and_sends_once(env):
    created = env.automation("contact_created")
    other = env.automation("contact_custom_event", {"event_name": "x"})
    draft = env.automation("contact_created", activate=False)
    env.world.contact("new@x.com", first_name="Nia")
    # deliver the "created" message twice, as SQS may
    sqs, url = aws.client("sqs"), aws.queue_url("contact-events.fifo")
    ours = False
    while not ours:  # (other tests' events may be queued before ours)
        message = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=30,
                                      AttributeNames=["MessageGroupId"])["Messages"][0]
        ours = message["Attributes"]["MessageGroupId"] == str(env.account_id)
        matcher.handle(json.loads(message["Body"]))
        if ours:
            matcher.handle(json.loads(message["Body"]))
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    env.done(created, 1)
    assert [r.status for r in env.runs(created)] == ["completed"]  # check 1
    assert env.runs(other) == [] and env.runs(draft) == []  # check 4: a draft never enrolls
    assert [(s.to, s.template_id) for s in env.sending.sent] == [("new@x.com", 1)]
    assert env.sending.sent[0].variables["first_name"] == "Nia"


def test_field_updated_only_on_a_real_change_of_that_field(env):
    onboarding = env.world.list("Onboarding")
    aid = env.automation("", body=materialise(ONBOARDING_FLOW, {ONBOARDING_LIST: onboarding}))
    a = env.world.contact("a@x.com", plan="free")
    b = env.world.contact("b@x.com", plan="free")
    c = env.world.contact("c@x.com", plan="pro")
    env.world.update(a, fields={"plan": "pro"})
    env.world.update(b, fields={"first_name": "Bea"})  # another field
    env.world.update(c, fields={"plan": "pro"})  # no change
    env.done(aid, 1)
    pump_events()
    runs = env.runs(aid)
    assert [r.contact_email for r in runs] == ["a@x.com"]  # check 9
    assert runs[0].trigger_data == {"field": "plan", "old": "free", "new": "pro"}
    assert onboarding in env.world.get(a)["list_ids"] and [s.to for s in env.sending.sent] == ["a@x.com"]


def test_list_triggers_match_their_lists(env):
    seven, eight = env.world.list("Seven"), env.world.list("Eight")
    added = env.automation("contact_added_to_list", {"list_ids": [seven]})
    any_list = env.automation("contact_added_to_list")
    removed = env.automation("contact_removed_from_list", {"list_ids": [seven]})
    a = env.world.contact("l1@x.com", list_ids=[seven])  # created in the list: added to it
    b = env.world.contact("l2@x.com")
    env.world.update(b, list_ids_included=[eight])
    env.world.update(a, list_ids_excluded=[seven])
    env.done(removed, 1)
    env.done(any_list, 2)
    assert [r.contact_email for r in env.runs(added)] == ["l1@x.com"]  # check 10
    assert sorted(r.contact_email for r in env.runs(any_list)) == ["l1@x.com", "l2@x.com"]
    assert [r.contact_email for r in env.runs(removed)] == ["l1@x.com"]
    assert env.runs(added)[0].trigger_data == {"list_id": seven}


def test_custom_event_name_must_be_equal_and_params_reach_the_split(env):
    vip = env.world.list("VIP")
    aid = env.automation("", body=materialise(EVENT_DRIVEN_FLOW, {VIP_LIST: vip}))
    big, small = env.world.contact("big@x.com"), env.world.contact("small@x.com")
    env.world.event(big, "purchase_completed", amount=99.99)
    env.world.event(small, "purchase_completed", amount=10)
    env.world.event(small, "purchase", amount=500)  # another name: 201, but no run
    env.done(aid, 2)
    runs = {r.contact_email: r for r in env.runs(aid)}
    assert set(runs) == {"big@x.com", "small@x.com"}  # check 11
    assert runs["big@x.com"].trigger_data == {"name": "purchase_completed", "params": {"amount": 99.99}}
    assert runs["big@x.com"].branches == {"3": "yes"} and runs["small@x.com"].branches == {"3": "no"}
    assert vip in env.world.get(big)["list_ids"] and vip not in env.world.get(small)["list_ids"]
    assert env.world.get(big)["fields"]["customer"] is True and env.world.get(small)["fields"]["customer"] is True
    assert [s.template_id for s in env.sending.to("small@x.com")] == [5, 6]
    assert env.sending.to("big@x.com")[0].variables["event"] == {"amount": 99.99}


def test_a_list_change_by_one_automation_starts_another(env):
    l1, l2 = env.world.list("L1"), env.world.list("L2")
    first = env.automation("contact_created", steps=[{"type": "add_to_lists", "list_ids": [l1, l2]},
                                                     {"type": "remove_from_lists", "list_ids": [l1]}])
    second = env.automation("contact_added_to_list", {"list_ids": [l1]})
    c = env.world.contact("chain@x.com")
    env.done(first, 1)
    env.done(second, 1)  # contacts published the change the first automation made (check 13)
    assert env.world.get(c)["list_ids"] == [l2]
    env.world.update(c, list_ids_included=[l1])  # again within 24 h: no second run
    pump_events()
    assert len(env.runs(second)) == 1


def test_paused_and_disabled_automations_do_not_match(env):
    paused = env.automation("contact_created")
    env.api.post(f"/api/automations/{paused}/activate", {"active": False})
    disabled = env.automation("contact_created")
    env.api.patch(f"/api/automations/{disabled}", {"status": "disabled"})
    env.world.contact("p@x.com")
    pump_events()
    assert env.runs(paused) == [] and env.runs(disabled) == []


def test_malformed_events_are_ignored(env):
    env.automation("contact_created")
    assert matcher.on_event({"type": "contact.created"}) == 0
    assert matcher.on_event({"type": "contact.created", "account_id": "x", "contact_id": "c"}) == 0


def test_re_engagement_enrolls_each_inactive_spell_once(env):
    aid = env.automation("re_engagement", {"inactive_days": 30})
    env.world.contact("sleepy@x.com")
    busy = env.world.contact("busy@x.com")
    pump_events()
    clock.advance(timedelta(days=20))
    env.world.event(busy, "login")
    pump_events()
    clock.advance(timedelta(days=11))
    matcher.reengage()
    assert [r.contact_email for r in env.runs(aid)] == ["sleepy@x.com"]
    assert env.runs(aid)[0].trigger_data["inactive_days"] == 30
    clock.advance(timedelta(days=2))
    matcher.reengage()  # still the same inactive spell: no second run
    assert len(env.runs(aid)) == 1
    clock.advance(timedelta(days=20))  # busy has now been quiet for 33 days
    matcher.reengage()
    assert sorted(r.contact_email for r in env.runs(aid)) == ["busy@x.com", "sleepy@x.com"]
    env.done(aid, 2)


# ------------------------------------------------------------------ activation time (issue 14, defect 4)


def test_contacts_imported_before_the_activation_are_never_enrolled(env, client):
    """A welcome series activated while the matcher still works through an import's events
    enrolls only the contacts created after it was activated."""
    r = env.api.post("/api/contacts/imports", {"contacts": [{"email": f"imp{i}@x.com"} for i in range(30)]})
    assert r.status in (200, 201), r
    run_workers(client)  # the contacts exist; their contact.created events wait in the queue
    clock.advance(timedelta(minutes=2, seconds=30))
    aid = env.automation("contact_created")
    late = env.world.contact("late@x.com")
    env.done(aid, 1)
    pump_events()  # the whole backlog
    assert [r.contact_email for r in env.runs(aid)] == ["late@x.com"]
    assert env.sending.sent and {s.to for s in env.sending.sent} == {"late@x.com"}
    body = env.api.get(f"/api/automations/{aid}").json
    assert body["enrolled"] == 1 and body["runs"]["completed"] == 1 and body["runs"]["running"] == 0
    runs = env.api.get(f"/api/automations/{aid}/runs?email=imp3@x.com").json
    assert runs["total"] == 0 and runs["data"] == []
    mine = env.api.get(f"/api/automations/{aid}/runs?contact_id={late['id']}").json
    assert mine["total"] == 1 and mine["data"][0]["email"] == "late@x.com"


def test_events_while_paused_or_before_a_pause_never_enroll(env):
    aid = env.automation("contact_created")
    env.world.contact("before-pause@x.com")  # happened while active, not matched before the pause
    assert env.api.post(f"/api/automations/{aid}/activate", {"active": False}).json["status"] == "paused"
    env.world.contact("while-paused@x.com")
    clock.advance(timedelta(seconds=1))
    assert env.api.post(f"/api/automations/{aid}/activate", {"active": True}).json["status"] == "active"
    env.world.contact("after@x.com")
    env.done(aid, 1)
    pump_events()
    assert [r.contact_email for r in env.runs(aid)] == ["after@x.com"]
    body = env.api.get(f"/api/automations/{aid}").json
    assert body["enrolled"] == 1
    first, second = body["active_periods"]
    assert first["version"] == second["version"] == 1 and first["until"] and second["until"] is None
    assert first["until"] < second["from"]  # the pause between them


def test_an_event_enrolls_into_the_version_active_when_it_happened(env):
    aid = env.automation("contact_created")
    env.world.contact("v1@x.com")
    clock.advance(timedelta(seconds=1))
    r = env.api.patch(f"/api/automations/{aid}", {"steps": [{"type": "send_email", "template_id": 2,
                                                             "from_email": SENDER}]})
    assert r.json["active_version"] == 2
    env.world.contact("v2@x.com")
    env.done(aid, 2)
    assert {r.contact_email: r.version for r in env.runs(aid)} == {"v1@x.com": 1, "v2@x.com": 2}
    assert {(s.to, s.template_id) for s in env.sending.sent} == {("v1@x.com", 1), ("v2@x.com", 2)}


def test_an_event_without_a_time_enrolls_nobody(env):
    aid = env.automation("contact_created")
    assert matcher.on_event({"type": "contact.created", "account_id": env.account_id,
                             "contact_id": "c-untimed", "email": "untimed@x.com", "id": "c-untimed:1"}) == 0
    assert env.runs(aid) == []


def test_an_automation_activated_before_periods_were_kept_keeps_its_activation_time():
    from chalicelib.automations import periods
    from chalicelib.automations.models import ACTIVE, PAUSED, Automation

    t0 = clock.now()
    a = Automation(1, 1, name="old", status=ACTIVE, trigger_type="contact_created", active_version=1,
                   activated_at=t0)
    assert periods.version_at(a, t0 - timedelta(seconds=1)) is None
    assert periods.version_at(a, t0 + timedelta(seconds=1)) == 1
    periods.open_period(a, 2, t0 + timedelta(seconds=10), continues=True)  # an edit
    assert periods.version_at(a, t0 - timedelta(seconds=1)) is None
    assert periods.version_at(a, t0 + timedelta(seconds=5)) == 1
    assert periods.version_at(a, t0 + timedelta(seconds=11)) == 2
    periods.close_period(a, t0 + timedelta(seconds=20))
    a.status = PAUSED
    assert periods.version_at(a, t0 + timedelta(seconds=11)) is None
