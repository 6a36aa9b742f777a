"""Automation definitions: create, read, edit, archive, and the lifecycle rules.

Lifecycle (seed-E §6.1, §6.3): ``draft`` -> ``active`` (needs at least one step and a
valid tree) <-> ``paused``; ``active``/``paused`` -> ``disabled``; a disabled automation
may be activated again (runs that entered before the disable are still removed). DELETE
archives: hidden from lists unless asked for, never enrolls again.

Every edit of the trigger or the steps makes a new version. Runs pin the version they
entered with, so in-flight contacts are not affected (Misar: "Changes take effect for
contacts entering the workflow after the update"). Each version that becomes the active
one is compiled to its own state machine.
"""

from __future__ import annotations

from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from chalicelib.accounts import service as accounts
from chalicelib.automations import adapters, conditions, definition, machines, periods
from chalicelib.automations.counters import record_engagement as _count_engagement
from chalicelib.automations.counters import run_counts
from chalicelib.automations.models import (
    ACTIVE,
    ARCHIVED,
    DISABLED,
    DRAFT,
    PAUSED,
    Automation,
    AutomationVersion,
    RunUsage,
    StepStat,
    automation_key,
)
from chalicelib.automations.request_models import AutomationCreate, AutomationListQuery, AutomationUpdate
from chalicelib.core import clock, db, ids
from chalicelib.core.config import settings
from chalicelib.core.errors import Conflict, Forbidden, NotFound, Unprocessable
from chalicelib.core.permissions import ADMIN, VIEWER, Principal
from chalicelib.sending import hooks

# status -> statuses it may move to (draft is only ever left)
TRANSITIONS = {
    DRAFT: {ACTIVE},
    ACTIVE: {PAUSED, DISABLED},
    PAUSED: {ACTIVE, DISABLED},
    DISABLED: {ACTIVE},
    ARCHIVED: set(),
}


# ------------------------------------------------------------------ engagement (sending calls)


@hooks.on_engagement("automations")
def record_engagement(account_id: int, custom_variables: dict[str, Any] | None, event_type: str) -> bool:
    """An email was opened or clicked for the first time: if an automation step sent it, that
    step's ``opens`` / ``clicks`` go up by one. Whether it was one is the caller's no concern."""
    marker = (custom_variables or {}).get(adapters.STEP_MARKER)
    return marker is not None and _count_engagement(account_id, marker, event_type)


# ------------------------------------------------------------------ reading


def load(account_id: int, automation_id: Any) -> Automation:
    try:
        return Automation.get(int(account_id), int(automation_id), consistent_read=True)
    except (DoesNotExist, TypeError, ValueError):
        raise NotFound() from None


def get(principal: Principal, automation_id: Any) -> dict[str, Any]:
    accounts.require(principal, VIEWER)
    return get_wire(load(principal.account_id, automation_id))


def get_wire(automation: Automation) -> dict[str, Any]:
    return to_wire(automation, _run_counters([automation])[automation.key], detail=True)


def list_automations(principal: Principal, query: AutomationListQuery) -> dict[str, Any]:
    accounts.require(principal, VIEWER)
    limit_n, offset_n = query.window()
    status = query.status
    items = [a for a in Automation.query(principal.account_id)
             if (a.status == status if status else a.status != ARCHIVED)]
    items.sort(key=lambda a: a.automation_id, reverse=True)  # newest first
    chosen = items[offset_n:offset_n + limit_n]
    counters = _run_counters(chosen)
    return {"data": [to_wire(a, counters[a.key]) for a in chosen], "total": len(items),
            "limit": limit_n, "offset": offset_n}


def _run_counters(automations: list[Automation]) -> dict[str, dict[str, Any]]:
    keys = [(a.key, 0) for a in automations]
    found = {s.automation_key: s for s in StepStat.batch_get(keys)} if keys else {}
    return {a.key: run_counts(found.get(a.key)) for a in automations}


def to_wire(a: Automation, counters: dict[str, Any], detail: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": a.automation_id,
        "name": a.name,
        "status": a.status,
        "trigger_type": a.trigger_type,
        "trigger_config": a.trigger_config or {},
        "version": a.version,
        "active_version": a.active_version,
        "step_count": sum(1 for _ in definition.walk(a.steps or [])),
        "enrolled": counters["enrolled"],
        "run_count": counters["enrolled"],
        "runs": dict(counters["runs"]),
        "created_at": clock.iso(a.created_at),
        "updated_at": clock.iso(a.updated_at),
        "activated_at": clock.iso(a.activated_at),
        "paused_at": clock.iso(a.paused_at),
        "disabled_at": clock.iso(a.disabled_at),
        "archived_at": clock.iso(a.archived_at),
    }
    if detail:
        body["steps"] = a.steps or []
        body["active_periods"] = periods.to_wire(a)
    return body


# ------------------------------------------------------------------ writing


def create(principal: Principal, params: AutomationCreate) -> dict[str, Any]:
    accounts.require(principal, ADMIN)
    trigger_type, trigger_config = _trigger(params)
    steps, next_step_id = definition.parse_steps(params.steps)
    _check_conditions(principal.account_id, steps)
    _take_automation_slot(principal.account_id)
    automation = Automation(
        principal.account_id, ids.next_id("automation"), name=params.name, status=DRAFT,
        trigger_type=trigger_type, trigger_config=trigger_config, steps=steps, version=1,
        next_step_id=next_step_id,
    )
    try:
        _save(automation, _version_record(automation))
    except Exception:
        _release_automation_slot(principal.account_id)
        raise
    return get_wire(automation)


def editable(principal: Principal, automation_id: Any) -> Automation:
    """The automation an admin may change (403, then 404, before the request's own 422s)."""
    accounts.require(principal, ADMIN)
    return load(principal.account_id, automation_id)


def update(automation: Automation, params: AutomationUpdate) -> dict[str, Any]:
    """PATCH (on ``editable``'s automation): name, trigger, steps (a new version) and/or status
    (a lifecycle transition)."""
    if automation.status == ARCHIVED:
        raise Unprocessable.field("status", "an archived automation can't be changed")
    old_version = automation.version
    changed_tree = False
    if params.name is not None:
        automation.name = params.name
    if params.trigger_sent():
        automation.trigger_type, automation.trigger_config = _trigger(params, current=automation)
        changed_tree = True
    if "steps" in params.model_fields_set:
        automation.steps, automation.next_step_id = definition.parse_steps(
            params.steps, int(automation.next_step_id))
        _check_conditions(automation.account_id, automation.steps)
        changed_tree = True
    target = params.status
    transition = target is not None and target != automation.status
    new_version = None
    if changed_tree:
        automation.version = old_version + 1
        new_version = _version_record(automation)
        if automation.status in (ACTIVE, PAUSED):
            if not (transition and target == ACTIVE):  # the transition checks it
                _require_runnable(automation)
            if automation.status == ACTIVE:  # from now on: events before the edit keep the old one
                periods.open_period(automation, automation.version, clock.now(), continues=True)
            automation.active_version = automation.version  # new entries get the new version
    if transition:
        _transition(automation, target)
    _save(automation, new_version)
    if changed_tree or (transition and target == ACTIVE):
        _compile_active(automation, new_version)
    return get_wire(automation)


def set_active(automation: Automation, active: bool) -> dict[str, Any]:
    """Misar's ``POST /activate {"active": bool}`` (on ``editable``'s automation): true
    activates, false pauses."""
    if automation.status == ARCHIVED:
        raise Unprocessable.field("status", "an archived automation can't be changed")
    target = ACTIVE if active else PAUSED
    if (automation.status == ACTIVE) == active:
        return get_wire(automation)  # already so: nothing to write
    _transition(automation, target)
    _save(automation)
    if active:
        _compile_active(automation)
    return get_wire(automation)


def archive(principal: Principal, automation_id: Any) -> None:
    """DELETE: soft delete. Contacts in flight are removed after their current step."""
    accounts.require(principal, ADMIN)
    automation = load(principal.account_id, automation_id)
    if automation.status == ARCHIVED:
        return
    now = clock.now()
    if automation.status in (ACTIVE, PAUSED):
        automation.disabled_at = now
        periods.close_period(automation, now)
    automation.status = ARCHIVED
    automation.archived_at = now
    _save(automation)
    _release_automation_slot(principal.account_id)


def asl(principal: Principal, automation_id: Any, version: int | None = None) -> dict[str, Any]:
    """The compiled definition of a version (the active one by default)."""
    accounts.require(principal, VIEWER)
    automation = load(principal.account_id, automation_id)
    number = version if version is not None else automation.active_version or automation.version
    try:
        record = AutomationVersion.get(automation.key, number)
    except DoesNotExist:
        raise NotFound() from None
    if not record.steps:
        raise Unprocessable.field("steps", "this version has no steps, so nothing to compile")
    return {
        "automation_id": automation.automation_id,
        "version": record.version,
        "state_machine_arn": record.state_machine_arn,
        "definition": machines.definition_for(automation.name, record.version, record.steps),
    }


# ------------------------------------------------------------------ rules


def _trigger(params: AutomationCreate, current: Automation | None = None) -> tuple[str, dict[str, Any]]:
    """The trigger the request gives (one ``trigger`` object, or ``trigger_type`` and
    ``trigger_config``), what it leaves out taken from ``current``, through the compiler."""
    nested = params.trigger
    if nested is not None:
        config = {k: v for k, v in nested.items() if k not in ("type", "config")}
        if isinstance(nested.get("config"), dict):
            config.update(nested["config"])
        return definition.parse_trigger(nested.get("type"), config)
    sent = params.model_fields_set
    kind = params.trigger_type if "trigger_type" in sent else (current.trigger_type if current else None)
    if "trigger_config" in sent:
        config = params.trigger_config
    else:  # a new trigger type starts from no configuration
        config = current.trigger_config if current and "trigger_type" not in sent else None
    return definition.parse_trigger(kind, config)


def _check_conditions(account_id: int, steps: list[dict[str, Any]]) -> None:
    """Split conditions name the account's own fields and lists (the segment grammar's checks)."""
    for path, step in definition.walk_paths(steps):
        if step["type"] == definition.SPLIT:
            conditions.check(account_id, step["conditions"], f"{path}.conditions")


def _take_automation_slot(account_id: int) -> None:
    """Count one more automation against the account's limit, or 403. A conditional ADD on
    one counter, so concurrent creates can't pass the limit together; the counter starts
    from the automations the account has the first time it is needed."""
    limit = settings().automations_per_account
    counter = RunUsage(f"{int(account_id)}#defined")
    for _ in range(2):
        try:
            counter.update(actions=[RunUsage.automations.add(1)], condition=RunUsage.automations < limit)
            return
        except UpdateError as exc:
            if not db.condition_failed(exc):
                raise
        existing = sum(1 for a in Automation.query(account_id) if a.status != ARCHIVED)
        try:  # no counter yet: start it (a concurrent create may have done so first)
            RunUsage(counter.usage_key, automations=existing).save(condition=RunUsage.usage_key.does_not_exist())
        except PutError as exc:
            if not db.condition_failed(exc):
                raise  # else the counter exists (another create started it): try it once more
    plan = accounts.get_account(account_id).plan or "free"
    raise Forbidden(f"Automation quota reached for your plan ({plan.title()}: {limit})")


def _release_automation_slot(account_id: int) -> None:
    try:
        RunUsage(f"{int(account_id)}#defined").update(
            actions=[RunUsage.automations.add(-1)], condition=RunUsage.automations > 0)
    except UpdateError as exc:
        if not db.condition_failed(exc):
            raise


def _require_runnable(automation: Automation) -> None:
    if not automation.steps:
        raise Unprocessable.field("steps", "an automation needs at least one step to be active")
    refs = definition.referenced(automation.steps)
    problems: dict[str, list[str]] = {}
    if refs["senderless"]:
        ids = ", ".join(str(i) for i in sorted(refs["senderless"]))
        problems["from_email"] = [f"can't be blank (step {ids}): an email needs a From address on a "
                                  "verified sending domain"]
    for found in (adapters.contacts.missing(automation.account_id, refs["lists"], refs["fields"]),
                  adapters.sending.missing(automation.account_id, refs["templates"], refs["senders"])):
        for key, messages in found.items():
            problems.setdefault(key, []).extend(messages)
    if problems:
        raise Unprocessable(problems)


def _transition(automation: Automation, target: str) -> None:
    current = automation.status
    if target not in TRANSITIONS.get(current, set()):
        raise Unprocessable.field("status", f"can't change from {current} to {target}")
    now = clock.now()
    if target == ACTIVE:
        _require_runnable(automation)
        automation.active_version = automation.version  # compiled once saved (_compile_active)
        automation.activated_at = now
        automation.paused_at = None
        periods.open_period(automation, automation.active_version, now)
    elif target == PAUSED:
        automation.paused_at = now
    elif target == DISABLED:
        automation.disabled_at = now
    if target != ACTIVE:
        periods.close_period(automation, now)
    automation.status = target


def _version_record(automation: Automation) -> AutomationVersion:
    """The record of the automation's current tree as its (new) version number."""
    return AutomationVersion(
        automation.key, automation.version, account_id=automation.account_id,
        automation_id=automation.automation_id, trigger_type=automation.trigger_type,
        trigger_config=automation.trigger_config, steps=automation.steps,
    )


def _save(automation: Automation, new_version: AutomationVersion | None = None) -> None:
    """Write the automation, and the record of a version it just made, in one transaction,
    unless another request saved the automation since this one read it (409): two
    concurrent edits can't both land, nor leave a version record that isn't the tree the
    automation holds. State machines are made after (``_compile_active``)."""
    automation.updated_at = clock.now()
    try:
        with TransactWrite(connection=db.transactions()) as tx:
            tx.save(automation)  # conditional on its revision (a VersionAttribute), bumped once saved
            if new_version is not None:
                tx.save(new_version, condition=AutomationVersion.version.does_not_exist())
    except TransactWriteError as exc:
        if db.condition_failed(exc):
            raise Conflict("The automation was changed by another request; reload it and try again") from None
        raise


def _compile_active(automation: Automation, record: AutomationVersion | None = None) -> None:
    """Give a running automation's active version its state machine (once; enrollment does
    it too, should a request have stopped between saving and this)."""
    if automation.status not in (ACTIVE, PAUSED) or not automation.active_version:
        return
    if record is None or record.version != automation.active_version:
        record = AutomationVersion.get(automation.key, automation.active_version, consistent_read=True)
    machines.compile_version(automation.name, record)


def version_record(account_id: int, automation_id: int, version: int) -> AutomationVersion:
    return AutomationVersion.get(automation_key(account_id, automation_id), version)
