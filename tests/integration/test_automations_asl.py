"""The ASL compiler: the three example automations compile to the checked-in definitions,
those are well formed, and moto's Step Functions accepts and runs them to SUCCEEDED.

Regenerate the fixtures after a deliberate compiler change with
``POSTLINE_UPDATE_FIXTURES=1 make test PYTEST_ARGS=tests/integration/test_automations_asl.py``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from chalicelib.automations import compiler, definition, machines
from chalicelib.core import aws
from tests.automation_examples import EXAMPLES, ONBOARDING_LIST, VIP_LIST
from tests.automation_support import (
    World,
    all_ended,
    materialise,
    pump_until,
    record_sends,
    runs_of,
    wait_execution,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "automations"
QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/postline-dev-automation-actions"
RUNS_TABLE = "postline-dev-automation_runs"
STATS_TABLE = "postline-dev-automation_stats"
STATE_TYPES = {"Task", "Wait", "Choice", "Succeed", "Fail"}


def compiled(example: dict) -> dict:
    steps, _ = definition.parse_steps(example["steps"])
    return compiler.compile_asl(steps, name=example["name"], version=1, queue_url=QUEUE_URL, runs_table=RUNS_TABLE,
                                stats_table=STATS_TABLE)


def targets(state: dict) -> list[str]:
    out = [state.get("Next"), state.get("Default")]
    out += [c["Next"] for c in state.get("Choices", [])] + [c["Next"] for c in state.get("Catch", [])]
    return [t for t in out if t]


def check_structure(asl: dict) -> None:
    states = asl["States"]
    assert asl["StartAt"] in states
    for name, state in states.items():
        assert 0 < len(name) <= 80, name
        assert state["Type"] in STATE_TYPES, name
        for target in targets(state):
            assert target in states, f"{name} -> {target} does not exist"
        if state["Type"] in ("Task", "Wait"):
            assert "Next" in state, f"{name} has no Next"
        if state["Type"] == "Wait":
            assert state["SecondsPath"].startswith("$.delays.s"), name
        if state["Type"] == "Choice":
            assert state["Choices"] and "Default" in state, name
        if state["Type"] == "Task" and state["Resource"] == compiler.TASK_RESOURCE:
            body = state["Parameters"]["MessageBody"]
            assert body["task_token.$"] == "$$.Task.Token" and body["run.$"] == "$.run"
            assert state["Parameters"]["QueueUrl"] == QUEUE_URL
            assert {c["ErrorEquals"][0] for c in state["Catch"]} == {
                compiler.REMOVED_ERROR, compiler.ACTION_FAILED_ERROR, "States.ALL"}
    reachable, todo = set(), [asl["StartAt"]]
    while todo:
        name = todo.pop()
        if name not in reachable:
            reachable.add(name)
            todo.extend(targets(states[name]))
    assert reachable == set(states), f"unreachable: {set(states) - reachable}"
    assert len(json.dumps(asl)) < 1024 * 1024


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_examples_compile_to_the_checked_in_asl(name):
    asl = compiled(EXAMPLES[name])
    path = FIXTURES / f"{name}.asl.json"
    if os.environ.get("POSTLINE_UPDATE_FIXTURES"):
        path.write_text(json.dumps(asl, indent=2) + "\n")
    assert json.loads(path.read_text()) == asl
    check_structure(asl)


def test_the_welcome_series_reads_as_its_steps():
    asl = json.loads((FIXTURES / "welcome_series.asl.json").read_text())
    assert asl["StartAt"] == "1. Send email (template 1)"
    assert list(asl["States"]) == [
        "1. Send email (template 1)", "2. Wait 2 days", "3. Conditional split", "3. Yes or no?",
        "4. Send email (template 2)", "5. Send email (template 3)",
        "Completed", "Removed from automation", "Record failure", "Count failure", "Run failed"]
    wait = asl["States"]["2. Wait 2 days"]
    assert wait["Type"] == "Wait" and wait["SecondsPath"] == "$.delays.s2" and "172800 s" in wait["Comment"]
    split = asl["States"]["3. Conditional split"]
    assert split["Comment"] == "Conditional split: yes if plan is 'pro'"
    assert split["Parameters"]["MessageBody"]["step"]["conditions"] == {"match": "all", "groups": [
        {"match": "all", "conditions": [{"field": "plan", "operator": "is", "value": "pro"}]}]}
    assert split["ResultPath"] == "$.split" and split["Next"] == "3. Yes or no?"
    choice = asl["States"]["3. Yes or no?"]
    assert choice["Choices"] == [{"Variable": "$.split.branch", "StringEquals": "yes",
                                  "Next": "4. Send email (template 2)"}]
    assert choice["Default"] == "5. Send email (template 3)"
    first = asl["States"]["1. Send email (template 1)"]["Parameters"]["MessageBody"]
    assert first["step"] == {"id": 1, "type": "send_email", "template_id": 1, "from_email": "hello@acme.example",
                             "subject": "Welcome, {{first_name}}!"}
    assert first["next_step"] == {"id": 2, "wait_seconds": 172800}
    assert split["Parameters"]["MessageBody"]["after_delays"] == [2]  # it completes the delay too
    assert split["Parameters"]["MessageBody"]["next_step"] == {"yes": {"id": 4, "wait_seconds": 0},
                                                              "no": {"id": 5, "wait_seconds": 0}}


def test_a_path_ending_in_a_delay_ends_with_a_finish_task():
    steps, _ = definition.parse_steps([{"type": "send_email", "template_id": 1},
                                       {"type": "time_delay", "amount": 1, "unit": "hours"}])
    asl = compiler.compile_asl(steps, name="x", version=1, queue_url=QUEUE_URL, runs_table=RUNS_TABLE,
                               stats_table=STATS_TABLE)
    check_structure(asl)
    assert asl["States"]["2. Wait 1 hour"]["Next"] == "2. Finish run"
    assert asl["States"]["2. Finish run"]["Parameters"]["MessageBody"]["step"] == {"id": 2, "type": "finish"}
    assert compiler.delays(steps, 0.5) == {"s2": 1800}


def test_moto_accepts_and_runs_each_example(api, account, monkeypatch):
    """Created through the API, each example's machine holds the fixture's definition (with
    the account's real list ids in place of the placeholders) and runs to SUCCEEDED."""
    sending = record_sends(monkeypatch)
    acct, _ = account
    world = World(api, acct.account_id)
    lists = {ONBOARDING_LIST: world.list("Onboarding"), VIP_LIST: world.list("VIP")}
    monkeypatch.setattr(machines, "definition_for", lambda name, version, steps: compiler.compile_asl(
        steps, name=name, version=version, queue_url=QUEUE_URL, runs_table=RUNS_TABLE, stats_table=STATS_TABLE))
    assert aws.queue_url("automation-actions") == QUEUE_URL
    sfn = aws.client("stepfunctions")
    contacts = {}
    for name, example in sorted(EXAMPLES.items()):
        aid = api.post("/api/automations", materialise(example, lists)).json["id"]
        assert api.post(f"/api/automations/{aid}/activate", {"active": True}).status == 200
        arn = api.get(f"/api/automations/{aid}/definition").json["state_machine_arn"]
        described = sfn.describe_state_machine(stateMachineArn=arn)
        assert described["type"] == "STANDARD"
        fixture = json.loads((FIXTURES / f"{name}.asl.json").read_text())
        definition_run = json.loads(described["definition"])
        assert definition_run == compiled(materialise(example, lists))  # the fixture, with real list ids
        assert [(s["Type"], s.get("Resource")) for s in definition_run["States"].values()] == [
            (s["Type"], s.get("Resource")) for s in fixture["States"].values()]
        contact = contacts[name] = world.contact(f"{name}@example.com", plan="pro", first_name="Ann")
        data = {"params": {"amount": 99.99}} if name == "event_driven_flow" else {}
        assert api.post(f"/api/automations/{aid}/trigger", {"contact_id": contact["id"],
                                                              "trigger_data": data}).status == 201
        pump_until(all_ended(acct.account_id, aid, 1))
        run = runs_of(acct.account_id, aid)[0]
        assert run.status == "completed", run.error
        assert wait_execution(run) == "SUCCEEDED"
    assert lists[ONBOARDING_LIST] in world.get(contacts["onboarding_flow"])["list_ids"]
    assert lists[VIP_LIST] in world.get(contacts["event_driven_flow"])["list_ids"]
    assert world.get(contacts["event_driven_flow"])["fields"]["customer"] is True
    assert [s.template_id for s in sending.to("welcome_series@example.com")] == [1, 2]
