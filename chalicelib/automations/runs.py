"""Runs seen from the API: the manual trigger, the run list, per-step stats.

Everything here reads the run records and counters the action worker keeps current; no
call goes to Step Functions to find out where a run is.
"""

from __future__ import annotations

from typing import Any

from chalicelib.accounts import service as accounts
from chalicelib.automations import definition, enrollment
from chalicelib.automations import service as automations
from chalicelib.automations.counters import run_counts
from chalicelib.automations.models import Automation, Run, StepStat, status_key
from chalicelib.automations.request_models import AutomationRunsQuery, AutomationTrigger
from chalicelib.core import clock
from chalicelib.core.errors import BadRequest, NotFound, Unprocessable
from chalicelib.core.permissions import VIEWER, Principal


def trigger(automation: Automation, params: AutomationTrigger) -> tuple[dict[str, Any], bool]:
    """``POST /automations/{id}/trigger`` (on ``service.editable``'s automation): enroll one
    contact whatever the trigger type (TopMail).

    Returns (body, created). Within 24 hours of the contact's last entry no run is started
    and the body names the existing run.
    """
    contact_id, email = params.contact_id, params.email
    if not contact_id and not email:
        raise BadRequest("Provide either contact_id or email")
    trigger_data = params.trigger_data or {}
    contact = enrollment.resolve_contact(automation.account_id, contact_id or None, email or None)
    if contact is None:
        raise NotFound("Contact not found")
    result = enrollment.enroll(automation, contact, trigger_type="manual", trigger_data=trigger_data)
    if result.reason == "not_active":  # enrollment's rule: only an active automation takes contacts
        raise Unprocessable.field("status", f"the automation is {automation.status}; only an active "
                                            "automation takes new contacts")
    if not result.created:  # "reentry" (a manual trigger is never a retry of an earlier one)
        return {
            "created": False,
            "message": "This contact already entered this automation in the last 24 hours",
            "run": run_to_wire(result.run, automation.steps) if result.run else None,
        }, False
    return {"created": True, "run": run_to_wire(result.run, automation.steps)}, True


def list_runs(principal: Principal, automation_id: Any, query: AutomationRunsQuery) -> dict[str, Any]:
    """Newest first; by status and/or one contact (``contact_id``, or ``email`` naming a contact)."""
    accounts.require(principal, VIEWER)
    automation = automations.load(principal.account_id, automation_id)
    limit_n, offset_n = query.window()
    status, contact_id, email = query.status, query.contact_id, query.email
    if contact_id or email:
        query = _contact_runs(automation.account_id, automation.key, contact_id, email, status)
    elif status:
        query = Run.by_status.query(status_key(automation.account_id, automation.automation_id, status),
                                    scan_index_forward=False)
    else:
        query = Run.query(automation.key, scan_index_forward=False)
    page_items: list[Run] = []
    total = 0
    for run in query:  # newest first
        if offset_n <= total < offset_n + limit_n:
            page_items.append(run)
        total += 1
    steps_by_version: dict[int, list[dict[str, Any]]] = {}
    data = []
    for run in page_items:
        version = int(run.version)
        if version not in steps_by_version:
            steps_by_version[version] = automations.version_record(
                automation.account_id, automation.automation_id, version).steps or []
        data.append(run_to_wire(run, steps_by_version[version]))
    return {"data": data, "total": total, "limit": limit_n, "offset": offset_n}


def _contact_runs(account_id: int, key: str, contact_id: Any, email: Any, status: str | None) -> list[Run]:
    """One contact's runs of one automation (a few: one a day at most), newest first. An email
    names the contact who has it now; an unknown one has no runs."""
    if contact_id in (None, ""):
        contact = enrollment.resolve_contact(account_id, email=str(email))
        if contact is None:
            return []
        contact_id = contact.id
    runs = [r for r in Run.by_contact.query(str(contact_id), Run.automation_key == key)
            if not status or r.status == status]
    return sorted(runs, key=lambda r: r.run_key, reverse=True)


def run_to_wire(run: Run, steps: list[dict[str, Any]]) -> dict[str, Any]:
    current = None
    if run.current_step_id is not None:
        step = next((s for s in definition.walk(steps) if s["id"] == int(run.current_step_id)), None)
        current = {"id": int(run.current_step_id), "type": step["type"] if step else None,
                   "name": definition.label(step) if step else None}
    return {
        "id": run.run_id,
        "automation_id": run.automation_id,
        "version": run.version,
        "contact_id": run.contact_id,
        "email": run.contact_email,
        "status": run.status,
        "current_step": current,
        "steps_done": sorted(int(s) for s in (run.done_steps or set())),
        "branches": run.branches or {},
        "trigger_type": run.trigger_type,
        "trigger_data": run.trigger_data or {},
        "entered_at": clock.iso(run.entered_at),
        "updated_at": clock.iso(run.updated_at),
        "next_action_at": clock.iso(run.next_action_at),
        "ended_at": clock.iso(run.ended_at),
        "error": run.error,
    }


def stats(principal: Principal, automation_id: Any) -> dict[str, Any]:
    """Per step of the current tree: contacts that completed it; for emails sent, opens, clicks."""
    accounts.require(principal, VIEWER)
    automation = automations.load(principal.account_id, automation_id)
    rows = {int(s.step_id): s for s in StepStat.query(automation.key)}
    counts = run_counts(rows.get(0))
    steps = []
    for step in definition.walk(automation.steps or []):
        row = rows.get(int(step["id"]))
        item: dict[str, Any] = {"id": step["id"], "type": step["type"], "name": definition.label(step),
                                "completed": int(row.completed) if row else 0}
        if step["type"] == definition.SEND_EMAIL:
            sent = int(row.emails_sent) if row else 0
            opens, clicks = (int(row.opens), int(row.clicks)) if row else (0, 0)
            item.update(emails_sent=sent, skipped=int(row.skipped) if row else 0, opens=opens, clicks=clicks,
                        open_rate=round(opens / sent, 4) if sent else 0.0,
                        click_rate=round(clicks / sent, 4) if sent else 0.0)
        steps.append(item)
    return {
        "automation_id": automation.automation_id,
        "enrolled": counts["enrolled"],
        "runs": counts["runs"],
        "steps": steps,
    }
