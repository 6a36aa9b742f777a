"""Tell contacts which fields and lists automations use, so deleting one in use is refused
(seed-E §18: "This field is used in the steps of automation(s): %{automation names}.").

Registered with the contacts capability's usage checks when this module is imported, which
the package's __init__ does, so every entry point that loads automations (the API, the
workers, scripts) gets the check, not only the route module.
"""

from __future__ import annotations

from typing import Any

from chalicelib.automations import definition as d
from chalicelib.automations.models import ARCHIVED, Automation
from chalicelib.contacts import fields as contact_fields
from chalicelib.contacts import lists as contact_lists


def _live(account_id: int) -> list[Automation]:
    return [a for a in Automation.query(int(account_id)) if a.status != ARCHIVED]


def _uses(automation: Automation) -> dict[str, set[Any]]:
    refs = d.referenced(automation.steps or [])
    config = automation.trigger_config or {}
    if automation.trigger_type == d.FIELD_UPDATED and config.get("field"):
        refs["fields"].add(config["field"])
    if automation.trigger_type in (d.ADDED_TO_LIST, d.REMOVED_FROM_LIST):
        refs["lists"].update(config.get("list_ids") or [])
    return refs


def field_usage(account_id: int, field: Any) -> str | None:
    names = [a.name for a in _live(account_id) if field.merge_tag in _uses(a)["fields"]]
    return f"This field is used in the steps of automation(s): {', '.join(names)}." if names else None


def list_usage(account_id: int, list_id: int) -> str | None:
    names = [a.name for a in _live(account_id) if int(list_id) in _uses(a)["lists"]]
    return f"This list is used in the steps of automation(s): {', '.join(names)}." if names else None


def register() -> None:
    if field_usage not in contact_fields.USAGE_CHECKS:
        contact_fields.USAGE_CHECKS.append(field_usage)
    if list_usage not in contact_lists.USAGE_CHECKS:
        contact_lists.USAGE_CHECKS.append(list_usage)


register()
