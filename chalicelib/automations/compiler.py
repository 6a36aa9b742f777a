"""Compile one automation version's step tree to Amazon States Language (a STANDARD workflow).

What a person sees in the Step Functions console, one state per step, named "<step id>.
<what it does>":

- an action (send email, update field, unsubscribe, add to / remove from lists) is a Task
  that hands the step to the action worker through SQS and waits for its answer
  (``sqs:sendMessage.waitForTaskToken``); the message carries the step's whole config, so
  the state reads as what it does and the worker needs nothing else to perform it;
- a time delay is a Wait state whose seconds come from the execution input
  (``$.delays.s<id>``): enrollment puts the delay times POSTLINE_AUTOMATION_TIME_SCALE there,
  so production waits the real time and tests a fraction of it;
- a conditional split is a Task (the worker evaluates the segment conditions against the
  contact as it is *now*, plus the triggering event's params: data a Choice rule cannot see)
  followed by a Choice on its answer, ``yes`` or ``no``.

Every Task catches ``Postline.Removed`` (the automation was disabled: Succeed state "Removed
from automation") and anything else (the run is marked failed straight in DynamoDB and, if
that write changed it, counted as failed in the automation's counters, then the Fail state).
The worker marks a run completed when it performs the last step of a path; a path that
ends in a delay ends in a "Finish run" task instead.
"""

from __future__ import annotations

from typing import Any

from chalicelib.automations import definition as d

TASK_RESOURCE = "arn:aws:states:::sqs:sendMessage.waitForTaskToken"
UPDATE_ITEM_RESOURCE = "arn:aws:states:::dynamodb:updateItem"
TASK_TIMEOUT_SECONDS = 86400  # a worker outage longer than this fails the run
COMPLETED = "Completed"
REMOVED = "Removed from automation"
RECORD_FAILURE = "Record failure"
COUNT_FAILURE = "Count failure"
FAILED = "Run failed"
REMOVED_ERROR = "Postline.Removed"
ACTION_FAILED_ERROR = "Postline.ActionFailed"
FINISH = "finish"  # the pseudo-step type of a "Finish run" task


def state_name(step: dict[str, Any]) -> str:
    return f"{step['id']}. {d.label(step)}"[:80]


def choice_name(step: dict[str, Any]) -> str:
    return f"{step['id']}. Yes or no?"


def delay_key(step: dict[str, Any]) -> str:
    return f"s{step['id']}"


def delays(steps: list[dict[str, Any]], time_scale: float) -> dict[str, int]:
    """The execution input's ``delays``: seconds each Wait state waits (scaled, whole seconds)."""
    return {delay_key(s): int(round(d.delay_seconds(s) * time_scale))
            for s in d.walk(steps) if s["type"] == d.TIME_DELAY}


class _Compiler:
    def __init__(self, queue_url: str, runs_table: str, stats_table: str) -> None:
        self.queue_url = queue_url
        self.runs_table = runs_table
        self.stats_table = stats_table
        self.states: dict[str, Any] = {}

    def compile_list(self, steps: list[dict[str, Any]], after_delays: list[int]) -> str:
        """Emit states for a list of steps; return the name of its first state."""
        if not steps:
            # An empty list right after a split: the split's task already ended the run.
            return COMPLETED
        step, rest = steps[0], steps[1:]
        name = state_name(step)
        if step["type"] == d.TIME_DELAY:
            if rest:
                following = self.compile_list(rest, after_delays + [step["id"]])
            else:
                following = self._finish(step, after_delays + [step["id"]])
            self.states[name] = {
                "Type": "Wait",
                "Comment": f"{d.label(step)} ({d.delay_seconds(step)} s, times the time scale; "
                           f"the seconds come from the execution input)",
                "SecondsPath": f"$.delays.{delay_key(step)}",
                "Next": following,
            }
            return name
        if step["type"] == d.SPLIT:
            yes = self.compile_list(step["yes"], [])
            no = self.compile_list(step["no"], [])
            nxt = {"yes": next_info(step["yes"]), "no": next_info(step["no"])}
            config = {"id": step["id"], "type": step["type"], "conditions": step["conditions"]}
            self.states[name] = self._task(config, nxt, after_delays, next_state=choice_name(step),
                                           result_path="$.split", comment=_describe_split(step))
            self.states[choice_name(step)] = {
                "Type": "Choice",
                "Comment": "The worker answered yes or no for this contact",
                "Choices": [{"Variable": "$.split.branch", "StringEquals": "yes", "Next": yes}],
                "Default": no,
            }
            return name
        following = self.compile_list(rest, []) if rest else COMPLETED
        config = {k: v for k, v in step.items()}
        self.states[name] = self._task(config, next_info(rest), after_delays,
                                       next_state=following, result_path=None,
                                       comment=_describe_action(step))
        return name

    def _finish(self, last_delay: dict[str, Any], after_delays: list[int]) -> str:
        name = f"{last_delay['id']}. Finish run"
        self.states[name] = self._task({"id": last_delay["id"], "type": FINISH}, None, after_delays,
                                       next_state=COMPLETED, result_path=None,
                                       comment="Marks the run completed after its last delay")
        return name

    def _task(self, step: dict[str, Any], nxt: Any, after_delays: list[int], *, next_state: str,
              result_path: str | None, comment: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "task_token.$": "$$.Task.Token",
            "execution.$": "$$.Execution.Name",
            "run.$": "$.run",
            "step": step,
            "next_step": nxt,
        }
        if after_delays:
            body["after_delays"] = after_delays  # delays this step follows (their stats)
        return {
            "Type": "Task",
            "Comment": comment,
            "Resource": TASK_RESOURCE,
            "Parameters": {"QueueUrl": self.queue_url, "MessageBody": body},
            "ResultPath": result_path,
            "TimeoutSeconds": TASK_TIMEOUT_SECONDS,
            "Next": next_state,
            "Catch": [
                {"ErrorEquals": [REMOVED_ERROR], "ResultPath": None, "Next": REMOVED},
                {"ErrorEquals": [ACTION_FAILED_ERROR], "ResultPath": "$.error", "Next": FAILED},
                {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": RECORD_FAILURE},
            ],
        }

    def terminal_states(self) -> None:
        self.states[COMPLETED] = {"Type": "Succeed", "Comment": "The worker marked the run completed"}
        self.states[REMOVED] = {"Type": "Succeed",
                                "Comment": "The automation was disabled; the run was marked removed"}
        self.states[RECORD_FAILURE] = {
            "Type": "Task",
            "Comment": "A step timed out or could not be handed over: mark the run failed",
            "Resource": UPDATE_ITEM_RESOURCE,
            "Parameters": {
                "TableName": self.runs_table,
                "Key": {"automation_key": {"S.$": "$.run.automation_key"},
                        "run_key": {"S.$": "$.run.run_key"}},
                "UpdateExpression": "SET #status = :failed, status_key = :status_key, #error = :error",
                "ConditionExpression": "#status = :running",
                "ExpressionAttributeNames": {"#status": "status", "#error": "error"},
                "ExpressionAttributeValues": {
                    ":failed": {"S": "failed"},
                    ":running": {"S": "running"},
                    ":status_key": {"S.$": "$.run.failed_status_key"},
                    ":error": {"S.$": "$.error.Error"},
                },
            },
            "ResultPath": None,
            "Next": COUNT_FAILURE,  # only when this write changed the run: a run is counted once
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": None, "Next": FAILED}],
        }
        self.states[COUNT_FAILURE] = {
            "Type": "Task",
            "Comment": "Count the failed run in the automation's counters (they agree with the runs)",
            "Resource": UPDATE_ITEM_RESOURCE,
            "Parameters": {
                "TableName": self.stats_table,
                "Key": {"automation_key": {"S.$": "$.run.automation_key"}, "step_id": {"N": "0"}},
                "UpdateExpression": "ADD runs_failed :one",
                "ExpressionAttributeValues": {":one": {"N": "1"}},
            },
            "ResultPath": None,
            "Next": FAILED,
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": None, "Next": FAILED}],
        }
        self.states[FAILED] = {"Type": "Fail", "Error": "Postline.RunFailed",
                               "Cause": "A step of this run failed; see the run's error"}


def compile_asl(steps: list[dict[str, Any]], *, name: str, version: int, queue_url: str,
                runs_table: str, stats_table: str) -> dict[str, Any]:
    """The ASL document of one version (a dict; json.dumps it for create_state_machine)."""
    if not steps:
        raise ValueError("an automation needs at least one step to compile")
    compiler = _Compiler(queue_url, runs_table, stats_table)
    start = compiler.compile_list(steps, [])
    compiler.terminal_states()
    return {
        "Comment": f"Postline automation '{name}', version {version}",
        "StartAt": start,
        "States": _ordered(compiler.states, start),
    }


def next_info(rest: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The step a run moves to after a task, and how long it waits first (unscaled seconds)."""
    if not rest:
        return None
    wait = 0
    for step in rest:
        if step["type"] != d.TIME_DELAY:
            break
        wait += d.delay_seconds(step)
    return {"id": rest[0]["id"], "wait_seconds": wait}


def _ordered(states: dict[str, Any], start: str) -> dict[str, Any]:
    """States in the order a reader follows them: the steps breadth-first, then the endings."""
    order: list[str] = []
    queue = [start]
    while queue:
        name = queue.pop(0)
        if name in order or name not in states:
            continue
        order.append(name)
        state = states[name]
        nexts = [state.get("Next"), *(c["Next"] for c in state.get("Choices", [])), state.get("Default")]
        queue.extend(n for n in nexts if n)
    # then the endings: completed, removed, failure handling
    order.extend(n for n in (COMPLETED, REMOVED, RECORD_FAILURE, COUNT_FAILURE, FAILED)
                 if n in states and n not in order)
    order.extend(n for n in states if n not in order)
    return {n: states[n] for n in order}


def _describe_action(step: dict[str, Any]) -> str:
    kind = step["type"]
    if kind == d.SEND_EMAIL:
        parts = [f"template {step['template_id']}"]
        if step.get("subject"):
            parts.append(f"subject {step['subject']!r}")
        if step.get("from_email"):
            parts.append(f"from {step['from_email']}")
        return "Send email: " + ", ".join(parts)
    if kind == d.UPDATE_FIELD:
        return f"Set contact field {step['field']} to {step['value']!r}"
    return d.label(step)


def _describe_split(step: dict[str, Any]) -> str:
    def one(c: dict[str, Any]) -> str:
        if "event" in c:
            return f"event {c['event']} {c.get('operator', 'performed')}"
        value = f" {c['value']!r}" if "value" in c else ""
        return f"{c.get('field')} {c.get('operator')}{value}"

    def group(g: dict[str, Any]) -> str:
        return f" {'and' if g['match'] == 'all' else 'or'} ".join(one(c) for c in g["conditions"])

    parsed = step["conditions"]
    parts = [group(g) for g in parsed["groups"]]
    joined = parts[0] if len(parts) == 1 else f" {'and' if parsed['match'] == 'all' else 'or'} ".join(
        f"({p})" for p in parts)
    return f"Conditional split: yes if {joined}"[:250]
