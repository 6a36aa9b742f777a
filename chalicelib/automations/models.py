"""Automations in DynamoDB (access patterns in docs/data-model.md, "Automations").

- ``automations``: one item per definition, listed per account (query on the hash key).
- ``automation_versions``: the immutable tree each version was activated with; runs pin one.
- ``automation_runs``: one item per enrollment (= one Step Functions execution), listed per
  automation in entry order, per status through ``by_status``, per contact through
  ``by_contact``; the action worker keeps
  it current, so the runs API never scans Step Functions.
- ``automation_entries``: the 24-hour re-entry guard, one item per (automation, contact).
- ``automation_stats``: per-step counters (step 0 holds run-level counters).
- ``automation_usage``: runs started per account per month (the plan's run quota), and how
  many automations each account has (the per-account limit, claimed before a create).
- ``automation_activity``: when each contact last did something, for re-engagement triggers.
"""

from __future__ import annotations

from pynamodb.attributes import (
    JSONAttribute,
    NumberAttribute,
    NumberSetAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
    VersionAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.core import clock
from chalicelib.core.db import BaseModel, TimestampedModel, table_name

# Definition statuses (seed-E §6.4/6.5).
DRAFT, ACTIVE, PAUSED, DISABLED, ARCHIVED = "draft", "active", "paused", "disabled", "archived"
STATUSES = (DRAFT, ACTIVE, PAUSED, DISABLED, ARCHIVED)
# Run statuses (TopMail's three, plus "removed" for Mailtrap's Disable).
RUNNING, COMPLETED, FAILED, REMOVED = "running", "completed", "failed", "removed"
RUN_STATUSES = (RUNNING, COMPLETED, FAILED, REMOVED)


def automation_key(account_id: int, automation_id: int) -> str:
    return f"{int(account_id)}#{int(automation_id)}"


class Automation(TimestampedModel):
    class Meta:
        table_name = table_name("automations")

    account_id = NumberAttribute(hash_key=True)
    automation_id = NumberAttribute(range_key=True)
    name = UnicodeAttribute()
    status = UnicodeAttribute(default=DRAFT)
    trigger_type = UnicodeAttribute()
    trigger_config = JSONAttribute(default=dict)
    steps = JSONAttribute(default=list)  # the latest version's tree (canonical form)
    version = NumberAttribute(default=1)  # latest version
    active_version = NumberAttribute(null=True)  # the version new entries get (compiled)
    next_step_id = NumberAttribute(default=1)
    activated_at = UTCDateTimeAttribute(null=True)
    active_periods = JSONAttribute(null=True)  # which version took contacts when (periods.py)
    paused_at = UTCDateTimeAttribute(null=True)
    disabled_at = UTCDateTimeAttribute(null=True)  # runs that entered before it are removed
    archived_at = UTCDateTimeAttribute(null=True)
    revision = VersionAttribute(null=True)  # checked and bumped by every save: concurrent edits can't both land

    @property
    def key(self) -> str:
        return automation_key(self.account_id, self.automation_id)


class AutomationVersion(BaseModel):
    class Meta:
        table_name = table_name("automation_versions")

    automation_key = UnicodeAttribute(hash_key=True)
    version = NumberAttribute(range_key=True)
    account_id = NumberAttribute()
    automation_id = NumberAttribute()
    trigger_type = UnicodeAttribute()
    trigger_config = JSONAttribute(default=dict)
    steps = JSONAttribute(default=list)
    state_machine_arn = UnicodeAttribute(null=True)  # set when the version is first activated
    created_at = UTCDateTimeAttribute(default_for_new=clock.now)


class RunsByStatus(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_status"
        projection = AllProjection()

    status_key = UnicodeAttribute(hash_key=True)  # "<account>#<automation>#<status>"
    run_key = UnicodeAttribute(range_key=True)


class RunsByContact(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_contact"
        projection = AllProjection()

    contact_id = UnicodeAttribute(hash_key=True)
    automation_key = UnicodeAttribute(range_key=True)  # a contact's runs of one automation


class Run(BaseModel):
    class Meta:
        table_name = table_name("automation_runs")

    automation_key = UnicodeAttribute(hash_key=True)
    run_key = UnicodeAttribute(range_key=True)  # "<entered epoch ms, 13 digits>#<contact id>"
    run_id = UnicodeAttribute()  # the execution name
    account_id = NumberAttribute()
    automation_id = NumberAttribute()
    version = NumberAttribute()
    contact_id = UnicodeAttribute()
    contact_email = UnicodeAttribute(null=True)
    status = UnicodeAttribute(default=RUNNING)
    status_key = UnicodeAttribute()
    trigger_type = UnicodeAttribute()
    trigger_data = JSONAttribute(default=dict)
    entered_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    current_step_id = NumberAttribute(null=True)
    next_action_at = UTCDateTimeAttribute(null=True)  # while waiting in a delay
    ended_at = UTCDateTimeAttribute(null=True)
    error = UnicodeAttribute(null=True)
    done_steps = NumberSetAttribute(null=True)  # idempotency: a step is done once per run
    sending_steps = NumberSetAttribute(null=True)  # email steps handed to sending (at most once)
    branches = JSONAttribute(null=True)  # {step id: "yes"|"no"} for splits taken
    sent_messages = JSONAttribute(null=True)  # {step id: message id} of the emails this run sent
    execution_arn = UnicodeAttribute(null=True)

    by_status = RunsByStatus()
    by_contact = RunsByContact()


def status_key(account_id: int, automation_id: int, status: str) -> str:
    return f"{automation_key(account_id, automation_id)}#{status}"


class Entry(BaseModel):
    """The 24-hour re-entry guard of one contact in one automation."""

    class Meta:
        table_name = table_name("automation_entries")

    entry_key = UnicodeAttribute(hash_key=True)  # "<account>#<automation>#<contact id>"
    last_entered_at = UTCDateTimeAttribute()
    trigger_key = UnicodeAttribute()  # what caused the entry; a retry of it may resume
    run_key = UnicodeAttribute()
    version = NumberAttribute()
    expires = TTLAttribute(null=True)


class StepStat(BaseModel):
    class Meta:
        table_name = table_name("automation_stats")

    automation_key = UnicodeAttribute(hash_key=True)
    step_id = NumberAttribute(range_key=True)  # 0: run-level counters
    completed = NumberAttribute(default=0)
    emails_sent = NumberAttribute(default=0)
    skipped = NumberAttribute(default=0)
    opens = NumberAttribute(default=0)
    clicks = NumberAttribute(default=0)
    enrolled = NumberAttribute(default=0)
    runs_completed = NumberAttribute(default=0)
    runs_failed = NumberAttribute(default=0)
    runs_removed = NumberAttribute(default=0)


class RunUsage(BaseModel):
    """Runs started by one account in one calendar month (UTC); under "<account>#defined",
    how many automations (not archived) the account has."""

    class Meta:
        table_name = table_name("automation_usage")

    usage_key = UnicodeAttribute(hash_key=True)  # "<account>#<YYYY-MM>" or "<account>#defined"
    runs = NumberAttribute(default=0)
    automations = NumberAttribute(null=True)
    expires = TTLAttribute(null=True)


class ActivityByTime(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_activity"
        projection = AllProjection()

    account_id = NumberAttribute(hash_key=True)
    last_activity_at = UTCDateTimeAttribute(range_key=True)


class ContactActivity(BaseModel):
    """Last time a contact did anything (from the contact-events stream)."""

    class Meta:
        table_name = table_name("automation_activity")

    account_id = NumberAttribute(hash_key=True)
    contact_id = UnicodeAttribute(range_key=True)
    email = UnicodeAttribute(null=True)
    last_activity_at = UTCDateTimeAttribute()

    by_activity = ActivityByTime()
