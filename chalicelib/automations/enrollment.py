"""Enrolling a contact: the 24-hour rule, the monthly run quota, the run record, the execution.

One run per enrollment, one Step Functions execution per run, named
``a<automation>-v<version>-<contact>-d<day>`` (the UTC day of entry). The re-entry guard
(``automation_entries``) lets a contact in at most once per 24 hours per automation
(seed 001:9799; measured from the last entry, seed-E G4); two entries 24 h apart always
fall on different days, so the name is unique per legitimate run and a duplicated trigger
that slips past the guard still cannot start a second execution.

A trigger carries a ``trigger_key`` (the contact event's id). When a retry of the same
trigger finds the guard it set itself, it resumes the same run instead of being refused,
so a crash between the guard and the execution start loses nothing.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from botocore.exceptions import ClientError
from pynamodb.exceptions import DoesNotExist, PutError, UpdateError

from chalicelib.accounts import service as accounts
from chalicelib.automations import adapters, compiler, machines
from chalicelib.automations.adapters import ContactView
from chalicelib.automations.counters import StatsBuffer
from chalicelib.automations.models import (
    ACTIVE,
    RUNNING,
    Automation,
    AutomationVersion,
    Entry,
    Run,
    RunUsage,
    StepStat,
    automation_key,
    status_key,
)
from chalicelib.core import clock, ids, redrive
from chalicelib.core.config import settings
from chalicelib.core.errors import Forbidden

log = logging.getLogger("postline.automations")
REENTRY_WINDOW = timedelta(hours=24)
ENTRY_RETENTION = timedelta(days=400)  # re-engagement compares entries with activity


class QuotaExceeded(Forbidden):
    pass


@dataclass
class Enrollment:
    run: Run | None
    created: bool
    reason: str | None = None  # why no new run: "reentry" | "not_active" (runs.trigger answers by it)


def _safe(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", value)[:48]


def execution_name(automation_id: int, version: int, contact_id: str, day: int) -> str:
    return f"a{automation_id}-v{version}-{_safe(contact_id)}-d{day}"


def enroll(automation: Automation, contact: ContactView, *, trigger_type: str,
           trigger_data: dict[str, Any] | None = None, trigger_key: str | None = None,
           stats: StatsBuffer | None = None, version: int | None = None) -> Enrollment:
    """Start one run of ``automation`` for ``contact`` unless the rules say no; ``version``:
    the one active when the trigger happened (periods.py), the active one by default.

    Raises QuotaExceeded (403) when the account's monthly runs are used up.
    """
    if automation.status != ACTIVE or not automation.active_version:
        return Enrollment(None, False, "not_active")
    now = clock.now()
    trigger_key = trigger_key or ids.new_uuid()
    entry_key = f"{automation.key}#{contact.id}"
    version_no = int(version or automation.active_version)
    entered = now
    run_key = f"{int(entered.timestamp() * 1000):013d}#{contact.id}"
    guard = Entry(entry_key, last_entered_at=entered, trigger_key=trigger_key, run_key=run_key,
                  version=version_no, expires=entered + ENTRY_RETENTION)
    try:  # one conditional write decides: first entry, or the last one is 24 hours old (and
        # was not this very trigger: contacts may re-publish an event, rarely, much later)
        guard.save(condition=Entry.entry_key.does_not_exist() |
                   ((Entry.last_entered_at <= now - REENTRY_WINDOW) & (Entry.trigger_key != trigger_key)))
        resume = False
    except PutError:
        existing = _entry(entry_key)
        if existing is None or existing.trigger_key != trigger_key:
            return Enrollment(_run(automation.key, existing.run_key) if existing else None, False, "reentry")
        resume = True  # a retry of the trigger that wrote this guard: finish its run
        version_no, entered, run_key = int(existing.version), existing.last_entered_at, existing.run_key
    if not resume:
        try:
            _count_run(automation.account_id, now)
        except QuotaExceeded:
            _release(guard)
            raise

    record = version_record(automation, version_no)
    run = _create_run(automation, record, contact, run_key, entered, trigger_type, trigger_data or {})
    created = run is not None
    if created:  # counted with the record, so a start that fails and is retried counts once
        if stats is not None:
            stats.add(automation.key, 0, "enrolled")
        else:
            StepStat(automation.key, 0).update(actions=[StepStat.enrolled.add(1)])
    else:  # a resumed trigger whose run record already exists
        run = _run(automation.key, run_key)
    _start(automation, record, run)
    return Enrollment(run, created)


_versions: dict[tuple[str, int], AutomationVersion] = {}
_plans: dict[int, tuple[float, str]] = {}
PLAN_SECONDS = 60.0


def version_record(automation: Automation, number: int) -> AutomationVersion:
    """A version's record; immutable once its state machine exists, so kept in memory then."""
    key = automation.key
    cached = _versions.get((key, number))
    if cached is not None:
        return cached
    record = AutomationVersion.get(key, number, consistent_read=True)
    if not record.state_machine_arn:  # the edit that activated it stopped before compiling
        machines.compile_version(automation.name, record)
    _versions[(key, number)] = record
    return record


def _plan(account_id: int) -> str:
    """The account's plan, read at most once a minute (it changes with billing, not per run)."""
    now = time.monotonic()
    cached = _plans.get(account_id)
    if cached is None or now - cached[0] > PLAN_SECONDS:
        cached = (now, (accounts.get_account(account_id).plan or "free").lower())
        _plans[account_id] = cached
    return cached[1]


def _start(automation: Automation, record: AutomationVersion, run: Run) -> None:
    try:
        machines.start(record.state_machine_arn, run.run_id, _execution_input(run, record))
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "StateMachineDoesNotExist":
            raise
        # The machine is gone (a local emulator restarted without its Step Functions state):
        # the version's record holds everything needed to create it again, under the same ARN.
        log.warning("state machine of %s v%s missing; creating it again", automation.key, record.version)
        machines.make(automation.name, record)
        machines.start(record.state_machine_arn, run.run_id, _execution_input(run, record))


def _entry(entry_key: str) -> Entry | None:
    try:
        return Entry.get(entry_key, consistent_read=True)
    except DoesNotExist:
        return None


def _run(key: str, run_key: str) -> Run | None:
    try:
        return Run.get(key, run_key, consistent_read=True)
    except DoesNotExist:
        return None


def _release(guard: Entry) -> None:
    """Undo a guard write after the quota refused the run: the contact did not enter, so a
    later trigger may let them in (an older entry, already 24 hours old, blocks nothing)."""
    try:
        guard.delete(condition=Entry.trigger_key == guard.trigger_key)
    except Exception:  # the guard then blocks this contact for 24 h; nothing worse
        log.warning("could not release re-entry guard %s", guard.entry_key)


def _count_run(account_id: int, now) -> None:
    """Count one run against the plan's monthly quota, atomically; QuotaExceeded when full."""
    plan = _plan(account_id)
    quotas = settings().automation_runs_per_month
    limit = quotas.get(plan, quotas.get("free", 0))
    usage = RunUsage(f"{account_id}#{now:%Y-%m}")
    try:
        usage.update(
            actions=[RunUsage.runs.add(1), RunUsage.expires.set(now + timedelta(days=62))],
            condition=RunUsage.runs.does_not_exist() | (RunUsage.runs < limit),
        )
    except UpdateError:
        raise QuotaExceeded(
            f"Automation run quota reached for your plan ({plan.title()}: {limit} runs per month)") from None


def _create_run(automation: Automation, record: AutomationVersion, contact: ContactView, run_key: str,
                entered, trigger_type: str, trigger_data: dict[str, Any]) -> Run | None:
    first = compiler.next_info(record.steps or [])  # the first step and the delays before it
    wait = first["wait_seconds"] if first else 0
    name = execution_name(automation.automation_id, int(record.version), contact.id,
                          int(entered.timestamp()) // 86400)
    run = Run(
        automation.key, run_key, run_id=name, account_id=automation.account_id,
        automation_id=automation.automation_id, version=int(record.version), contact_id=contact.id,
        contact_email=contact.email, status=RUNNING,
        status_key=status_key(automation.account_id, automation.automation_id, RUNNING),
        trigger_type=trigger_type, trigger_data=trigger_data, entered_at=entered, updated_at=entered,
        current_step_id=first["id"] if first else None,
        next_action_at=entered + timedelta(seconds=wait) if wait else None,
        execution_arn=record.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}",
    )
    try:
        run.save(condition=Run.run_key.does_not_exist())
    except PutError:
        return None
    return run


def _execution_input(run: Run, record: AutomationVersion) -> dict[str, Any]:
    return {
        "run": {
            "account_id": run.account_id,
            "automation_id": run.automation_id,
            "version": run.version,
            "automation_key": automation_key(run.account_id, run.automation_id),
            "run_key": run.run_key,
            "run_id": run.run_id,
            "contact_id": run.contact_id,
            "failed_status_key": status_key(run.account_id, run.automation_id, "failed"),
        },
        "delays": compiler.delays(record.steps or [], settings().automation_time_scale),
    }


def resolve_contact(account_id: int, contact_id: Any = None, email: Any = None) -> ContactView | None:
    return adapters.contacts.get(account_id, contact_id=contact_id, email=email)


@redrive.register("automations")
def resume_running_runs() -> int:
    """Local stack restart: Step Functions forgot every execution, DynamoDB kept the runs.

    Each run still ``running`` gets its execution started again under the same name (and its
    state machine created again if it is gone). The worker answers the steps the run already
    did from its record (``done_steps``, the branches it took, emails already handed over)
    without doing them again, so the run carries on where it was; a delay it was in is
    waited again in full. Where the execution still exists, starting it is a no-op.
    """
    resumed = 0
    for run in Run.scan(Run.status == RUNNING):
        try:
            automation = Automation.get(run.account_id, run.automation_id)
            record = version_record(automation, int(run.version))
        except DoesNotExist:
            continue
        _start(automation, record, run)
        resumed += 1
    return resumed
