"""The action worker: performs one step of one run, then answers its Task token.

Each SQS message is one Task state of one execution (see compiler.py): the run it belongs
to, the step with its whole config, the step that follows, the token. Per message:

1. The run record decides whether to act: a step already done for this run (SQS delivers
   at least once) is answered again without acting; a run that is no longer running is
   answered with its ending.
2. Disable (seed 001:9965-9967): contacts "complete their current step and then are
   removed". A step that follows a delay is not started once the automation is disabled
   (the delay was the current step); a step already under way when it was disabled is
   performed, then the run ends as ``removed``.
3. The action is performed through the adapters. Contact changes set a state, so doing one
   twice is harmless; an email is claimed in the run record before it is handed to sending,
   so a redelivery never sends it twice (at most once: a crash between the claim and the
   hand-over loses that one email, as the sending pipeline's own ledger does).
4. One conditional write records the step as done and moves the run on (or completes it):
   the idempotency guard keyed by execution and step. Counters follow only that write.
5. SendTaskSuccess (a split answers ``{"branch": "yes"|"no"}``) or SendTaskFailure.

An unexpected exception leaves the message on the queue for a retry; after five it goes to
the DLQ, whose consumer (``settle_dead_task``) ends the run ``failed`` with the error and
answers the Task with a failure, so the execution ends instead of waiting out its timeout.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from pynamodb.exceptions import DoesNotExist, UpdateError

from chalicelib.automations import adapters, compiler, conditions, definition, machines
from chalicelib.automations.adapters import ContactView
from chalicelib.automations.counters import StatsBuffer
from chalicelib.automations.models import (
    ARCHIVED,
    COMPLETED,
    DISABLED,
    FAILED,
    REMOVED,
    RUNNING,
    Automation,
    Run,
    status_key,
)
from chalicelib.core import clock, deadletters
from chalicelib.core.errors import PostlineError

log = logging.getLogger("postline.automations.worker")
NEEDS_CONTACT = (definition.SEND_EMAIL, definition.SPLIT)


class StepFailed(Exception):
    """A step that can never succeed (the contact is gone, a template is missing...)."""


class Batch:
    """The records of one invocation: automations read once, counters written once."""

    def __init__(self) -> None:
        self.stats = StatsBuffer()
        self._automations: dict[tuple[int, int], Automation | None] = {}

    def automation(self, run: Run) -> Automation | None:
        key = (int(run.account_id), int(run.automation_id))
        if key not in self._automations:
            try:
                self._automations[key] = Automation.get(*key, consistent_read=True)
            except DoesNotExist:
                self._automations[key] = None
        return self._automations[key]

    def handle(self, body: dict[str, Any]) -> None:
        handle(body, self)

    def flush(self) -> None:
        self.stats.flush()


def handle(body: dict[str, Any], batch: Batch | None = None) -> None:
    """One task; without a ``batch`` (a single record) its counters are written at once."""
    if batch is None:
        batch = Batch()
        try:
            _handle(body, batch)
        finally:
            batch.flush()
        return
    _handle(body, batch)


def _handle(body: dict[str, Any], batch: Batch) -> None:
    token = body["task_token"]
    ref = body["run"]
    step = body["step"]
    step_id = int(step["id"])
    try:
        run = Run.get(ref["automation_key"], ref["run_key"], consistent_read=True)
    except DoesNotExist:
        machines.answer(token, error=compiler.ACTION_FAILED_ERROR, cause="run record not found")
        return
    if run.status != RUNNING or step_id in (run.done_steps or set()):
        _answer_again(token, run, step)
        return

    automation = batch.automation(run)
    finish_as_removed = False
    if _removed_by_disable(automation, run):
        if body.get("after_delays") or run.updated_at >= automation.disabled_at:
            _end(run, REMOVED, batch.stats)
            machines.answer(token, error=compiler.REMOVED_ERROR, cause="automation disabled")
            return
        finish_as_removed = True  # this step was under way when it was disabled: finish it

    try:
        contact = None
        if step["type"] in NEEDS_CONTACT:  # the other actions find the contact themselves
            contact = adapters.contacts.get(run.account_id, contact_id=run.contact_id, email=run.contact_email)
            if contact is None:
                raise StepFailed("The contact no longer exists")
        outcome = _perform(run, step, contact)
    except StepFailed as exc:
        _fail(run, step_id, str(exc), batch.stats)
        machines.answer(token, error=compiler.ACTION_FAILED_ERROR, cause=str(exc))
        return
    except PostlineError as exc:
        if exc.status < 500:  # refused by the other capability: retrying will not help
            message = "The contact no longer exists" if exc.status == 404 and step["type"] not in NEEDS_CONTACT \
                else exc.message
            _fail(run, step_id, message, batch.stats)
            machines.answer(token, error=compiler.ACTION_FAILED_ERROR, cause=message)
            return
        raise

    nxt = body.get("next_step")
    if step["type"] == definition.SPLIT:
        nxt = (nxt or {}).get(outcome["branch"])
    if not _advance(run, step, nxt, outcome, finish_as_removed):
        _answer_again(token, Run.get(run.automation_key, run.run_key, consistent_read=True), step)
        return
    _count(batch.stats, run, step, body.get("after_delays") or [], outcome,
           ended=finish_as_removed or nxt is None, removed=finish_as_removed and nxt is not None)
    if finish_as_removed and nxt is not None:
        machines.answer(token, error=compiler.REMOVED_ERROR, cause="automation disabled")
    else:
        machines.answer(token, {"branch": outcome["branch"]} if "branch" in outcome else {})


def _removed_by_disable(automation: Automation | None, run: Run) -> bool:
    if automation is None:
        return True
    if automation.status in (DISABLED, ARCHIVED):
        return True
    return automation.disabled_at is not None and run.entered_at < automation.disabled_at


# ------------------------------------------------------------------ actions


def _perform(run: Run, step: dict[str, Any], contact: ContactView | None) -> dict[str, Any]:
    kind = step["type"]
    contacts = adapters.contacts
    if kind == definition.SEND_EMAIL:
        return _send_email(run, step, contact)
    if kind == definition.UPDATE_FIELD:
        contacts.update_field(run.account_id, run.contact_id, step["field"], step["value"])
    elif kind == definition.UNSUBSCRIBE:
        contacts.unsubscribe(run.account_id, run.contact_id)  # (an unsubscribed contact stays so)
    elif kind == definition.ADD_TO_LISTS:
        contacts.add_to_lists(run.account_id, run.contact_id, list(step["list_ids"]))
    elif kind == definition.REMOVE_FROM_LISTS:
        contacts.remove_from_lists(run.account_id, run.contact_id, list(step["list_ids"]))
    elif kind == definition.SPLIT:
        yes = conditions.evaluate(run.account_id, step["conditions"], contact, event_params(run.trigger_data),
                                  clock.now(), _engagement(run, step))
        return {"branch": "yes" if yes else "no"}
    elif kind != compiler.FINISH:
        raise StepFailed(f"Unknown step type {kind!r}")
    return {}


def _engagement(run: Run, step: dict[str, Any]) -> dict[int, set[str]]:
    """What became of the emails the split asks about: their step id -> {"opened", "clicked"}."""
    sent = run.sent_messages or {}
    wanted = {int(c["step_id"]): sent[str(c["step_id"])]
              for c in conditions.engagement_conditions(step["conditions"]) if str(c.get("step_id")) in sent}
    if not wanted:
        return {}
    seen = adapters.sending.engagement(run.account_id, sorted(set(wanted.values())))
    return {step_id: seen.get(message_id, set()) for step_id, message_id in wanted.items()}


def event_params(trigger_data: dict[str, Any] | None) -> dict[str, Any]:
    """The triggering event's params: ``params`` of a custom event, or the manual trigger_data."""
    data = trigger_data or {}
    params = data.get("params")
    return params if isinstance(params, dict) else data


def _send_email(run: Run, step: dict[str, Any], contact: ContactView) -> dict[str, Any]:
    if not adapters.contacts.mailable(contact):  # unsubscribed, pending, bounced: no marketing email
        return {"skipped": f"contact is {contact.status}"}
    step_id = int(step["id"])
    try:  # claim the send first: a redelivery after a crash must not send it again
        run.update(actions=[Run.sending_steps.add({step_id})], condition=~Run.sending_steps.contains(step_id))
    except UpdateError:
        return {"skipped": "an earlier attempt of this step already handed the email to sending"}
    variables = {**contact.fields, "email": contact.email, "event": event_params(run.trigger_data)}
    message_id = adapters.sending.send(
        run.account_id, to=contact, template_id=step["template_id"], subject=step.get("subject"),
        from_email=step.get("from_email"), from_name=step.get("from_name"), variables=variables,
        idempotency_key=f"{run.run_id}:{step['id']}",
    )
    return {"sent": message_id}


# ------------------------------------------------------------------ run records


def _advance(run: Run, step: dict[str, Any], nxt: dict[str, Any] | None, outcome: dict[str, Any],
             removed: bool) -> bool:
    """Record the step as done and move the run on; False if another delivery already did."""
    now = clock.now()
    step_id = int(step["id"])
    actions = [Run.done_steps.add({step_id}), Run.updated_at.set(now)]
    if "branch" in outcome:
        actions.append(Run.branches.set({**(run.branches or {}), str(step_id): outcome["branch"]}))
    if outcome.get("sent"):  # a later split may ask whether it was opened or clicked
        actions.append(Run.sent_messages.set({**(run.sent_messages or {}), str(step_id): outcome["sent"]}))
    if outcome.get("skipped"):
        actions.append(Run.error.set(f"step {step_id} skipped: {outcome['skipped']}"))
    if nxt is None or removed:
        final = REMOVED if (removed and nxt is not None) else COMPLETED
        actions += [Run.status.set(final), Run.status_key.set(status_key(run.account_id, run.automation_id, final)),
                    Run.ended_at.set(now), Run.next_action_at.remove()]
        if final == COMPLETED:
            actions.append(Run.current_step_id.remove())
    else:
        actions.append(Run.current_step_id.set(int(nxt["id"])))
        wait = int(nxt.get("wait_seconds") or 0)
        actions.append(Run.next_action_at.set(now + timedelta(seconds=wait)) if wait else Run.next_action_at.remove())
    try:
        run.update(actions=actions, condition=(Run.status == RUNNING) & ~Run.done_steps.contains(step_id))
    except UpdateError:
        return False
    return True


def _end(run: Run, status: str, stats: StatsBuffer, error: str | None = None) -> bool:
    now = clock.now()
    actions = [Run.status.set(status), Run.status_key.set(status_key(run.account_id, run.automation_id, status)),
               Run.updated_at.set(now), Run.ended_at.set(now), Run.next_action_at.remove()]
    if error:
        actions.append(Run.error.set(error[:1000]))
    try:
        run.update(actions=actions, condition=Run.status == RUNNING)
    except UpdateError:
        return False
    stats.add(run.automation_key, 0, "runs_removed" if status == REMOVED else "runs_failed")
    return True


def _fail(run: Run, step_id: int, message: str, stats: StatsBuffer) -> None:
    log.warning("run %s failed at step %s: %s", run.run_id, step_id, message)
    _end(run, FAILED, stats, f"step {step_id}: {message}")


def _count(stats: StatsBuffer, run: Run, step: dict[str, Any], after_delays: list[int],
           outcome: dict[str, Any], *, ended: bool, removed: bool) -> None:
    key = run.automation_key
    if step["type"] != compiler.FINISH:
        stats.add(key, int(step["id"]), "completed")
        if "sent" in outcome:
            stats.add(key, int(step["id"]), "emails_sent")
        if "skipped" in outcome:
            stats.add(key, int(step["id"]), "skipped")
    for delay_id in after_delays:  # the delays this step waited out are complete too
        stats.add(key, int(delay_id), "completed")
    if ended:
        stats.add(key, 0, "runs_removed" if removed else "runs_completed")


def _answer_again(token: str, run: Run, step: dict[str, Any]) -> None:
    """Answer a task whose step this run already did, or that arrives after the run ended."""
    step_id = str(step["id"])
    if step_id in (run.branches or {}) and int(step["id"]) in (run.done_steps or set()):
        machines.answer(token, {"branch": run.branches[step_id]})
    elif int(step["id"]) in (run.done_steps or set()) and run.status in (RUNNING, COMPLETED):
        machines.answer(token, {})
    elif run.status == REMOVED:
        machines.answer(token, error=compiler.REMOVED_ERROR, cause="automation disabled")
    else:
        machines.answer(token, error=compiler.ACTION_FAILED_ERROR, cause=run.error or f"run is {run.status}")


@deadletters.register(machines.ACTIONS_QUEUE)
def settle_dead_task(letter: deadletters.DeadLetter) -> str:
    """A step its worker could never perform: the run ends failed with the error, and the
    Task is answered so its execution ends now."""
    body = letter.body
    step_id = int(body["step"]["id"])
    reason = letter.reason("could not be performed")
    try:
        run = Run.get(body["run"]["automation_key"], body["run"]["run_key"], consistent_read=True)
    except DoesNotExist:
        run = None
    stats = StatsBuffer()
    ended = run is not None and _end(run, FAILED, stats, f"step {step_id}: {reason}")
    stats.flush()
    machines.answer(body["task_token"], error=compiler.ACTION_FAILED_ERROR, cause=reason)
    return f"run {run.run_id} failed at step {step_id}" if ended else f"step {step_id} of an ended run answered"
