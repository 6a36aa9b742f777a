"""Runs end to end on moto's Step Functions: actions, delays, splits, pause, disable, the
24-hour rule, versions, quotas, the runs API and stats (seed-E §19 checks 1-18)."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest

from chalicelib.automations import definition, enrollment, machines, service, worker
from chalicelib.automations.adapters import ContactView
from chalicelib.automations.models import Run
from chalicelib.core import aws, clock
from tests.automation_examples import WELCOME_SERIES
from tests.automation_support import (
    World,
    all_ended,
    pump_once,
    pump_until,
    record_sends,
    runs_of,
    set_settings,
    set_time_scale,
    wait_execution,
)


@pytest.fixture()
def env(api, account, monkeypatch):
    sending = record_sends(monkeypatch)
    acct, _ = account

    class Env:
        pass

    e = Env()
    e.api, e.account_id, e.sending, e.monkeypatch = api, acct.account_id, sending, monkeypatch
    e.world = World(api, acct.account_id)

    def automation(body=None, *, steps=None, activate=True, **changes):
        # started by hand (the trigger endpoint) unless a test says otherwise
        payload = dict(body or {"name": "A", "trigger_type": "contact_custom_event",
                                "trigger_config": {"event_name": "test.start"}})
        if steps is not None:
            payload["steps"] = steps
        payload.update(changes)
        r = api.post("/api/automations", payload)
        assert r.status == 201, r
        if activate:
            assert api.post(f"/api/automations/{r.json['id']}/activate", {"active": True}).status == 200, r
        return r.json["id"]

    def trigger(aid, contact, data=None, status=201):
        r = api.post(f"/api/automations/{aid}/trigger", {"contact_id": contact["id"], "trigger_data": data or {}})
        assert r.status == status, r
        return r.json

    def finish(aid, count=None, timeout=20.0):
        pump_until(all_ended(e.account_id, aid, count), timeout)
        return runs_of(e.account_id, aid)

    e.automation, e.trigger, e.finish = automation, trigger, finish
    e.contact = e.world.contact
    return e


def send(template, **extra):
    return {"type": "send_email", "template_id": template, "from_email": "hi@acme.example", **extra}


def delay(amount, unit):
    return {"type": "time_delay", "amount": amount, "unit": unit}


def test_welcome_series_takes_the_branch_of_each_contact(env):
    aid = env.automation(WELCOME_SERIES)  # trigger: contact created
    env.contact("pro@x.io", plan="pro", first_name="Ann")
    env.contact("free@x.io", plan="free")
    env.contact("none@x.io")
    runs = env.finish(aid, 3)  # the contacts' "created" events reach the matcher
    assert {r.status for r in runs} == {"completed"} and {r.trigger_type for r in runs} == {"contact_created"}
    assert [s.template_id for s in env.sending.to("pro@x.io")] == [1, 2]  # Yes branch only
    assert [s.template_id for s in env.sending.to("free@x.io")] == [1, 3]  # No branch
    assert [s.template_id for s in env.sending.to("none@x.io")] == [1, 3]  # missing field -> No (G5)
    first = env.sending.to("pro@x.io")[0]
    assert first.subject == "Welcome, {{first_name}}!" and first.variables["first_name"] == "Ann"
    assert first.variables["email"] == "pro@x.io"
    for run in runs:
        assert wait_execution(run) == "SUCCEEDED"
    branches = {r.contact_email: r.branches for r in runs}
    assert branches == {"pro@x.io": {"3": "yes"}, "free@x.io": {"3": "no"}, "none@x.io": {"3": "no"}}
    stats = env.api.get(f"/api/automations/{aid}/stats").json
    by_id = {s["id"]: s for s in stats["steps"]}
    assert stats["enrolled"] == 3 and stats["runs"] == {"running": 0, "completed": 3, "failed": 0, "removed": 0}
    assert [by_id[i]["completed"] for i in (1, 2, 3, 4, 5)] == [3, 3, 3, 1, 2]
    assert by_id[1]["emails_sent"] == 3 and by_id[4]["emails_sent"] == 1 and by_id[5]["emails_sent"] == 2
    detail = env.api.get(f"/api/automations/{aid}").json
    assert detail["enrolled"] == 3 and detail["run_count"] == 3 and detail["runs"]["completed"] == 3


def test_splits_test_lists_status_groups_and_event_params(env):
    vip = env.world.list("VIP")
    aid = env.automation(steps=[{"type": "conditional_split", "conditions": {"match": "any", "groups": [
        {"match": "all", "conditions": [{"field": "list", "operator": "is", "value": vip},
                                        {"field": "status", "operator": "is", "value": "subscribed"}]},
        {"match": "all", "conditions": [{"field": "purchases", "operator": "greater_than", "value": 1000},
                                        {"field": "event.params.source", "operator": "is", "value": "api"}]}]},
        "yes": [send(1)], "no": [send(2)]}])
    cases = {"vip@x.io": ({"list_ids": [vip]}, {}),
             "big@x.io": ({"purchases": 1500}, {"source": "api"}),
             "bigweb@x.io": ({"purchases": 1500}, {"source": "web"}),
             "small@x.io": ({"purchases": 5}, {"source": "api"})}
    for email, (fields, params) in cases.items():
        list_ids = fields.pop("list_ids", None)
        env.trigger(aid, env.contact(email, list_ids=list_ids, **fields), params)
    env.finish(aid, 4)
    got = {email: [s.template_id for s in env.sending.to(email)] for email in cases}
    assert got == {"vip@x.io": [1], "big@x.io": [1], "bigweb@x.io": [2], "small@x.io": [2]}


def test_the_execution_history_walks_the_states(env):
    aid = env.automation(WELCOME_SERIES)
    env.contact("h@x.io", plan="pro")
    run = env.finish(aid, 1)[0]
    assert wait_execution(run) == "SUCCEEDED"
    events = aws.client("stepfunctions").get_execution_history(executionArn=run.execution_arn)["events"]
    entered = [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]
    assert entered == ["1. Send email (template 1)", "2. Wait 2 days", "3. Conditional split", "3. Yes or no?",
                       "4. Send email (template 2)", "Completed"]
    started = next(e for e in events if e["type"] == "ExecutionStarted")
    payload = json.loads(started["executionStartedEventDetails"]["input"])
    assert payload["delays"] == {"s2": 0}  # 2 days x time scale 0 in tests
    assert run.run_id == f"a{aid}-v1-{run.contact_id}-d{int(run.entered_at.timestamp()) // 86400}"


def test_each_action_changes_the_contact(env):
    l1, l2 = env.world.list("L1"), env.world.list("L2")
    aid = env.automation(steps=[
        {"type": "update_contact_field", "field": "plan", "value": "pro"},
        {"type": "add_to_lists", "list_ids": [l1, l2]},
        {"type": "remove_from_lists", "list_ids": [l1]},
        {"type": "unsubscribe_contact"},
        send(7),
    ])
    c = env.contact("act@x.io", plan="free")
    env.trigger(aid, c)
    run = env.finish(aid, 1)[0]
    assert run.status == "completed"
    after = env.world.get(c)
    assert after["fields"]["plan"] == "pro" and after["list_ids"] == [l2] and after["status"] == "unsubscribed"
    assert env.sending.to("act@x.io") == []  # unsubscribed: the later email is skipped (check 12)
    assert "skipped: contact is unsubscribed" in run.error
    stats = {s["id"]: s for s in env.api.get(f"/api/automations/{aid}/stats").json["steps"]}
    assert stats[5]["completed"] == 1 and stats[5]["skipped"] == 1 and stats[5]["emails_sent"] == 0


def test_a_pending_contact_gets_no_email(env):
    aid = env.automation(steps=[send(1)])
    r = env.api.post("/api/contacts", {"contact": {"email": "pend@x.io", "status": "pending"}})
    assert r.status == 201, r
    env.trigger(aid, r.json["data"])
    run = env.finish(aid, 1)[0]
    assert run.status == "completed" and "skipped: contact is pending" in run.error
    assert env.sending.to("pend@x.io") == []


def test_a_contact_view_not_read_from_contacts_is_not_mailable(env):
    from chalicelib.automations import adapters

    assert not adapters.contacts.mailable(ContactView("c", "c@x.io"))  # e.g. built from an event
    c = env.contact("m@x.io")
    assert adapters.contacts.mailable(adapters.contacts.get(env.account_id, contact_id=c["id"]))

def test_delay_units_and_a_real_wait(env):
    minutes = {u: definition.delay_seconds({"amount": 1, "unit": u}) // 60 for u in definition.UNIT_SECONDS}
    assert minutes == {"minutes": 1, "hours": 60, "days": 1440, "weeks": 10080}  # check 7
    set_time_scale(env.monkeypatch, 1 / 7200)  # 2 hours -> 1 s of real waiting
    aid = env.automation(steps=[delay(2, "hours"), send(1)])
    started = time.monotonic()
    env.trigger(aid, env.contact("wait@x.io"))
    run = runs_of(env.account_id, aid)[0]
    assert run.current_step_id == 1 and run.next_action_at == run.entered_at + timedelta(hours=2)
    listed = env.api.get(f"/api/automations/{aid}/runs").json["data"][0]
    assert listed["current_step"] == {"id": 1, "type": "time_delay", "name": "Wait 2 hours"}
    assert listed["status"] == "running" and listed["next_action_at"] == clock.iso(run.entered_at + timedelta(hours=2))
    pump_once()
    assert env.sending.sent == []  # not before the delay is over
    run = env.finish(aid, 1)[0]
    assert time.monotonic() - started >= 1.0
    assert [s.template_id for s in env.sending.sent] == [1] and run.status == "completed"


def test_pause_stops_new_entries_but_not_contacts_in_flight(env):
    set_time_scale(env.monkeypatch, 1 / 86400)  # 1 day -> 1 s
    aid = env.automation(steps=[delay(1, "days"), send(2)])
    env.trigger(aid, env.contact("inflight@x.io"))
    assert env.api.patch(f"/api/automations/{aid}", {"status": "paused"}).json["status"] == "paused"
    r = env.api.post(f"/api/automations/{aid}/trigger", {"email": "inflight@x.io"})  # same contact, by email
    assert r.status == 422  # no new entries while paused (check 5)
    run = env.finish(aid, 1)[0]
    assert run.status == "completed" and [s.to for s in env.sending.sent] == ["inflight@x.io"]


def test_disable_removes_contacts_after_their_current_delay(env):
    set_time_scale(env.monkeypatch, 1 / 86400)
    aid = env.automation(steps=[delay(1, "days"), send(2)])
    env.trigger(aid, env.contact("gone@x.io"))
    assert env.api.patch(f"/api/automations/{aid}", {"status": "disabled"}).json["status"] == "disabled"
    assert env.api.post(f"/api/automations/{aid}/trigger", {"email": "gone@x.io"}).status == 422
    run = env.finish(aid, 1)[0]
    assert run.status == "removed" and env.sending.sent == []  # T2 is never sent (check 6)
    assert wait_execution(run) == "SUCCEEDED"
    events = aws.client("stepfunctions").get_execution_history(executionArn=run.execution_arn)["events"]
    assert "Removed from automation" in [e["stateEnteredEventDetails"]["name"] for e in events
                                         if "stateEnteredEventDetails" in e]
    assert env.api.get(f"/api/automations/{aid}/runs?status=removed").json["total"] == 1
    assert env.api.get(f"/api/automations/{aid}").json["runs"]["removed"] == 1


def test_disable_lets_the_step_under_way_finish_then_removes(env):
    aid = env.automation(steps=[send(1), send(2)])
    env.trigger(aid, env.contact("half@x.io"))  # step 1's task is handed over, not yet done
    assert env.api.patch(f"/api/automations/{aid}", {"status": "disabled"}).status == 200
    run = env.finish(aid, 1)[0]
    assert [s.template_id for s in env.sending.sent] == [1]  # the current step completes...
    assert run.status == "removed" and set(run.done_steps) == {1}  # ...then the contact is removed
    # re-activating does not bring back contacts who entered before the disable
    assert env.api.patch(f"/api/automations/{aid}", {"status": "active"}).json["status"] == "active"


def test_a_contact_enters_an_automation_at_most_once_in_24_hours(env):
    a = env.automation(steps=[send(1)])
    b = env.automation(steps=[send(2)])
    c = env.contact("once@x.io")
    first = env.trigger(a, c)
    assert first["created"] is True and first["run"]["status"] == "running"
    env.trigger(b, c)  # another automation: its own 24 hours (check 3)
    clock.advance(timedelta(hours=23, minutes=59))
    again = env.trigger(a, c, status=200)
    assert again["created"] is False and again["run"]["id"] == first["run"]["id"]
    clock.advance(timedelta(minutes=1))
    later = env.trigger(a, c)  # t0 + 24h00m: a new run (check 2)
    assert later["created"] is True and later["run"]["id"] != first["run"]["id"]
    env.finish(a, 2)
    env.finish(b, 1)
    assert [s.template_id for s in env.sending.to("once@x.io")].count(1) == 2


def test_a_duplicated_trigger_starts_one_execution(env):
    aid = env.automation(steps=[send(1)])
    automation = service.load(env.account_id, aid)
    c = ContactView(env.contact("dup@x.io")["id"], "dup@x.io")
    one = enrollment.enroll(automation, c, trigger_type="contact_created", trigger_key="event-1")
    two = enrollment.enroll(automation, c, trigger_type="contact_created", trigger_key="event-1")  # redelivery
    assert one.created and not two.created and one.run.run_id == two.run.run_id
    env.finish(aid, 1)
    clock.advance(timedelta(hours=25))  # contacts re-publish the same event much later
    late = enrollment.enroll(automation, c, trigger_type="contact_created", trigger_key="event-1")
    assert not late.created and late.run.run_id == one.run.run_id
    sfn = aws.client("stepfunctions")
    machine = one.run.execution_arn.rsplit(":", 1)[0].replace(":execution:", ":stateMachine:")
    assert len(sfn.list_executions(stateMachineArn=machine)["executions"]) == 1
    assert len(env.sending.sent) == 1


def test_a_redelivered_task_is_performed_once(env, monkeypatch):
    aid = env.automation(steps=[send(1), send(2)])
    env.trigger(aid, env.contact("redo@x.io"))
    sqs = aws.client("sqs")
    url = aws.queue_url("automation-actions")
    deadline = time.monotonic() + 10
    got = []
    while not got and time.monotonic() < deadline:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=60).get("Messages", [])
    body = json.loads(got[0]["Body"])
    worker.handle(body)
    worker.handle(body)  # the same message again (SQS is at-least-once)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])
    run = env.finish(aid, 1)[0]
    assert run.status == "completed"
    assert [s.template_id for s in env.sending.sent] == [1, 2]
    stats = {s["id"]: s["completed"] for s in env.api.get(f"/api/automations/{aid}/stats").json["steps"]}
    assert stats == {1: 1, 2: 1}


def test_in_flight_contacts_keep_their_version(env):
    set_time_scale(env.monkeypatch, 1 / 86400)
    aid = env.automation(steps=[delay(1, "days"), send(1)])
    env.trigger(aid, env.contact("v1@x.io"))
    steps = env.api.get(f"/api/automations/{aid}").json["steps"]
    steps[1]["template_id"] = 9
    assert env.api.patch(f"/api/automations/{aid}", {"steps": steps}).json["active_version"] == 2
    env.trigger(aid, env.contact("v2@x.io"))
    runs = env.finish(aid, 2)
    assert {r.contact_email: r.version for r in runs} == {"v1@x.io": 1, "v2@x.io": 2}
    assert [s.template_id for s in env.sending.to("v1@x.io")] == [1]  # check 16
    assert [s.template_id for s in env.sending.to("v2@x.io")] == [9]


def test_trigger_endpoint_rules(env):
    aid = env.automation({"name": "P", "trigger_type": "custom", "trigger_config": {"event_name": "purchase"}},
                         steps=[send(1)])
    assert env.api.post(f"/api/automations/{aid}/trigger", {}).status == 400  # neither id nor email
    assert env.api.post(f"/api/automations/{aid}/trigger", {"email": "nobody@x.io"}).status == 404
    assert env.api.post(f"/api/automations/{aid}/trigger", {"email": 5}).status == 422
    assert env.api.post(f"/api/automations/{aid}/trigger", {"email": "x@x.io", "trigger_data": [1]}).status == 422
    env.contact("bymail@x.io")
    r = env.api.post(f"/api/automations/{aid}/trigger", {"email": "bymail@x.io",
                                                          "trigger_data": {"source": "api", "plan": "pro"}})
    assert r.status == 201 and r.json["run"]["trigger_data"] == {"source": "api", "plan": "pro"}
    draft = env.automation(steps=[send(1)], activate=False)
    assert env.api.post(f"/api/automations/{draft}/trigger", {"email": "bymail@x.io"}).status == 422  # check 4
    env.finish(aid, 1)


def test_trigger_says_why_no_run_started(env):
    aid = env.automation(steps=[send(1)])
    c = env.contact("why@x.io")
    env.trigger(aid, c)
    r = env.api.post(f"/api/automations/{aid}/trigger", {"contact_id": c["id"]})
    assert r.status == 200 and r.json["created"] is False and r.json["run"]["contact_id"] == c["id"]
    assert r.json["message"] == "This contact already entered this automation in the last 24 hours"
    assert env.api.patch(f"/api/automations/{aid}", {"status": "paused"}).status == 200
    r = env.api.post(f"/api/automations/{aid}/trigger", {"contact_id": c["id"]})
    assert r.status == 422
    assert r.json == {"errors": {"status": ["the automation is paused; only an active automation takes new contacts"]}}
    env.finish(aid, 1)


def test_runs_list_filters_and_pages(env):
    aid = env.automation(steps=[send(1)])
    for i in range(3):
        env.trigger(aid, env.contact(f"r{i}@x.io"))
    env.finish(aid, 3)
    assert env.api.get(f"/api/automations/{aid}/runs?status=completed&limit=2").json["total"] == 3
    assert len(env.api.get(f"/api/automations/{aid}/runs?status=completed&limit=2").json["data"]) == 2
    assert env.api.get(f"/api/automations/{aid}/runs?status=running").json["data"] == []
    assert env.api.get(f"/api/automations/{aid}/runs?status=failed").json["total"] == 0
    listed = env.api.get(f"/api/automations/{aid}/runs?offset=2").json
    assert len(listed["data"]) == 1 and listed["data"][0]["email"] == "r0@x.io"  # newest first
    assert env.api.get(f"/api/automations/{aid}/runs?limit=1001").status == 422  # check 18
    assert env.api.get(f"/api/automations/{aid}/runs?status=lost").status == 422
    run = env.api.get(f"/api/automations/{aid}/runs").json["data"][0]
    assert run["status"] == "completed" and run["current_step"] is None and run["ended_at"]
    assert run["steps_done"] == [1]


def test_a_step_that_cannot_succeed_fails_the_run(env):
    aid = env.automation(steps=[send(1), send(2)])
    c = env.contact("deleted@x.io")
    env.trigger(aid, c)
    assert env.api.delete(f"/api/contacts/{c['id']}").status == 204
    run = env.finish(aid, 1)[0]
    assert run.status == "failed" and "no longer exists" in run.error
    assert wait_execution(run) == "FAILED"
    assert env.api.get(f"/api/automations/{aid}/runs?status=failed").json["data"][0]["error"] == run.error


def test_a_task_its_worker_can_never_perform_fails_the_run_with_the_error(env, app):
    # the poisoned record goes through automation-actions and its DLQ (core/deadletters.py)
    from chalicelib.automations import adapters
    from tests.queue_support import clear, through_dead_letter_queue, waiting

    clear(machines.ACTIONS_QUEUE)

    def contacts_down(*args, **kwargs):
        raise ConnectionError("contacts table unreachable")

    env.monkeypatch.setattr(adapters.contacts, "update_field", contacts_down)
    aid = env.automation(steps=[{"type": "update_contact_field", "field": "plan", "value": "pro"}, send(1)])
    env.trigger(aid, env.contact("poisoned@x.io", plan="free"))
    deadline = time.monotonic() + 10
    while not waiting(machines.ACTIONS_QUEUE):  # the execution hands its first task over
        assert time.monotonic() < deadline
        time.sleep(0.05)

    assert through_dead_letter_queue(app, machines.ACTIONS_QUEUE) == 1

    [run] = runs_of(env.account_id, aid)
    assert run.status == "failed"
    assert run.error == "step 1: could not be performed: ConnectionError: contacts table unreachable"
    assert wait_execution(run) == "FAILED"  # answered now, not when the task times out
    assert env.sending.sent == []


def test_an_action_on_a_deleted_contact_fails_the_run_without_recreating_it(env):
    aid = env.automation(steps=[{"type": "update_contact_field", "field": "plan", "value": "pro"}])
    c = env.contact("gone@x.io", plan="free")
    env.trigger(aid, c)
    assert env.api.delete(f"/api/contacts/{c['id']}").status == 204
    run = env.finish(aid, 1)[0]
    assert run.status == "failed" and run.error == "step 1: The contact no longer exists"
    assert wait_execution(run) == "FAILED"
    assert env.api.get(f"/api/contacts/{c['id']}").status == 404
    assert env.api.get("/api/contacts/gone%40x.io").status == 404


def test_monthly_run_quota(env):
    set_settings(env.monkeypatch, enrollment, automation_runs_per_month={"free": 2})
    aid = env.automation(steps=[send(1)])
    a, b, c = env.contact("q1@x.io"), env.contact("q2@x.io"), env.contact("q3@x.io")
    env.trigger(aid, a)
    env.trigger(aid, b)
    r = env.api.post(f"/api/automations/{aid}/trigger", {"contact_id": c["id"]})
    assert r.status == 403
    assert r.json == {"errors": "Automation run quota reached for your plan (Free: 2 runs per month)"}
    assert len(runs_of(env.account_id, aid)) == 2
    clock.advance(timedelta(days=32))  # a new month; the refused contact was not marked as entered
    env.trigger(aid, c)
    env.finish(aid, 3)


def test_a_run_record_survives_in_dynamodb_not_step_functions(env):
    """The runs API answers from the run records: nothing asks Step Functions."""
    aid = env.automation(steps=[send(1)])
    env.trigger(aid, env.contact("rec@x.io"))
    run = runs_of(env.account_id, aid)[0]
    assert isinstance(run, Run) and run.status == "running" and run.current_step_id == 1
    env.finish(aid, 1)


def test_a_lost_state_machine_is_created_again_on_the_next_entry(env):
    """A restarted local emulator forgets Step Functions; the version record rebuilds it."""
    aid = env.automation(steps=[send(1)])
    arn = env.api.get(f"/api/automations/{aid}/definition").json["state_machine_arn"]
    aws.client("stepfunctions").delete_state_machine(stateMachineArn=arn)
    env.trigger(aid, env.contact("phoenix@x.io"))
    run = env.finish(aid, 1)[0]
    assert run.status == "completed" and run.execution_arn.startswith(arn.replace(":stateMachine:", ":execution:"))


def test_an_edit_that_stopped_before_compiling_is_compiled_by_the_next_entry(env, monkeypatch):
    """The edit is saved first and compiled after; if the request dies in between, the
    version is still made runnable, by the first contact that enters it."""
    aid = env.automation(steps=[send(1)])
    with monkeypatch.context() as stopped:
        stopped.setattr(machines, "ensure_machine", lambda *a: (_ for _ in ()).throw(RuntimeError("died")))
        assert env.api.patch(f"/api/automations/{aid}", {"steps": [send(2)]}).status == 500
    assert env.api.get(f"/api/automations/{aid}").json["active_version"] == 2
    env.trigger(aid, env.contact("late@x.io"))
    run = env.finish(aid, 1)[0]
    assert run.status == "completed" and run.version == 2
    assert [s.template_id for s in env.sending.to("late@x.io")] == [2]


def test_runs_resume_after_the_emulator_forgets_step_functions(env):
    """The local stack's re-drive hook restarts running executions; done steps are not redone."""
    set_time_scale(env.monkeypatch, 1 / 86400)  # 1 day -> 1 s
    aid = env.automation(steps=[send(1), delay(1, "days"), send(2)])
    env.trigger(aid, env.contact("resume@x.io"))
    pump_until(lambda: bool(env.sending.sent))  # step 1 done; the run waits in its delay
    run = runs_of(env.account_id, aid)[0]
    sfn = aws.client("stepfunctions")
    sfn.stop_execution(executionArn=run.execution_arn)  # what a restart does to it
    sfn.delete_state_machine(stateMachineArn=run.execution_arn.rsplit(":", 1)[0].replace(
        ":execution:", ":stateMachine:"))
    assert enrollment.resume_running_runs() >= 1
    run = env.finish(aid, 1)[0]
    assert run.status == "completed"
    assert [s.template_id for s in env.sending.to("resume@x.io")] == [1, 2]  # step 1 not sent again
    stats = {s["id"]: s["completed"] for s in env.api.get(f"/api/automations/{aid}/stats").json["steps"]}
    assert stats == {1: 1, 2: 1, 3: 1}


# ------------------------------------------------------------------ counters agree with the runs (issue 14)


def counters_and_runs(env, aid):
    body = env.api.get(f"/api/automations/{aid}").json
    listed = {status: env.api.get(f"/api/automations/{aid}/runs?status={status}").json["total"]
              for status in ("running", "completed", "failed", "removed")}
    return body["enrolled"], body["runs"], env.api.get(f"/api/automations/{aid}/runs").json["total"], listed


def test_a_step_that_timed_out_counts_as_failed(env):
    """A task nobody answers in time (or answered with an unexpected error) is marked failed by
    the state machine itself: the automation's counters say so too, not "running" for ever."""
    aid = env.automation(steps=[send(1)])
    env.trigger(aid, env.contact("lost@x.io"))
    sqs, url = aws.client("sqs"), aws.queue_url(machines.ACTIONS_QUEUE)
    [message] = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, WaitTimeSeconds=1)["Messages"]
    token = json.loads(message["Body"])["task_token"]
    machines.answer(token, error="Postline.WorkerLost", cause="the worker never answered")
    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    run = runs_of(env.account_id, aid)[0]
    assert wait_execution(run) == "FAILED"
    enrolled, counters, total, listed = counters_and_runs(env, aid)
    assert listed == {"running": 0, "completed": 0, "failed": 1, "removed": 0}
    assert enrolled == total == 1 and counters == listed


def test_an_enrollment_retried_after_its_execution_failed_to_start_is_counted_once(env, monkeypatch):
    aid = env.automation(steps=[send(1)])
    automation = service.load(env.account_id, aid)
    c = ContactView(env.contact("retry@x.io")["id"], "retry@x.io")
    real_start = machines.start
    with monkeypatch.context() as broken:
        broken.setattr(machines, "start", lambda *a: (_ for _ in ()).throw(RuntimeError("Step Functions down")))
        with pytest.raises(RuntimeError):
            enrollment.enroll(automation, c, trigger_type="contact_created", trigger_key="event-7")
    assert machines.start is real_start
    again = enrollment.enroll(automation, c, trigger_type="contact_created", trigger_key="event-7")  # redelivery
    assert not again.created and again.run is not None
    env.finish(aid, 1)
    enrolled, counters, total, listed = counters_and_runs(env, aid)
    assert enrolled == total == 1 and counters == listed == {"running": 0, "completed": 1, "failed": 0, "removed": 0}


def test_runs_filter_by_contact(env):
    aid = env.automation(steps=[send(1)])
    ann, bob = env.contact("ann@x.io"), env.contact("bob@x.io")
    env.trigger(aid, ann)
    env.trigger(aid, bob)
    clock.advance(timedelta(hours=25))
    env.trigger(aid, ann)
    env.finish(aid, 3)
    by_id = env.api.get(f"/api/automations/{aid}/runs?contact_id={ann['id']}").json
    assert by_id["total"] == 2 and {r["email"] for r in by_id["data"]} == {"ann@x.io"}
    assert by_id["data"][0]["entered_at"] > by_id["data"][1]["entered_at"]  # newest first
    by_email = env.api.get(f"/api/automations/{aid}/runs?email=BOB@x.io&status=completed").json
    assert by_email["total"] == 1 and by_email["data"][0]["contact_id"] == bob["id"]
    assert env.api.get(f"/api/automations/{aid}/runs?email=nobody@x.io").json["total"] == 0
    assert env.api.get(f"/api/automations/{aid}/runs?contact_id={bob['id']}&limit=1&offset=1").json["data"] == []
