"""Automation routes: definitions, lifecycle, manual trigger, runs, stats, compiled ASL."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.automations import runs, service
from chalicelib.automations.request_models import (
    AutomationActivate,
    AutomationCreate,
    AutomationDefinitionQuery,
    AutomationListQuery,
    AutomationRunsQuery,
    AutomationTrigger,
    AutomationUpdate,
)
from chalicelib.core.http import (
    api_route,
    created,
    no_content,
    principal,
    request_body,
    request_body_later,
    request_query,
)

bp = Blueprint(__name__)


@api_route(bp, "/automations", ["GET"], query=AutomationListQuery)
def list_automations(account_id=None):
    who = principal(bp, account_id)
    return service.list_automations(who, request_query(bp))


@api_route(bp, "/automations", ["POST"], body=AutomationCreate)
def create_automation(account_id=None):
    who = principal(bp, account_id)
    return created(service.create(who, request_body(bp)))


@api_route(bp, "/automations/{automation_id}", ["GET"])
def get_automation(automation_id, account_id=None):
    return service.get(principal(bp, account_id), automation_id)


@api_route(bp, "/automations/{automation_id}", ["PATCH"], body=AutomationUpdate)
def update_automation(automation_id, account_id=None):
    who = principal(bp, account_id)
    body = request_body_later(bp)  # unreadable JSON is a 400 first; then 403, 404, and the body's 422s
    automation = service.editable(who, automation_id)
    return service.update(automation, body())


@api_route(bp, "/automations/{automation_id}", ["DELETE"])
def delete_automation(automation_id, account_id=None):
    service.archive(principal(bp, account_id), automation_id)
    return no_content()


@api_route(bp, "/automations/{automation_id}/activate", ["POST"], body=AutomationActivate)
def activate_automation(automation_id, account_id=None):
    who = principal(bp, account_id)
    body = request_body_later(bp)
    automation = service.editable(who, automation_id)
    return service.set_active(automation, body().active)


@api_route(bp, "/automations/{automation_id}/trigger", ["POST"], body=AutomationTrigger)
def trigger_automation(automation_id, account_id=None):
    who = principal(bp, account_id)
    body = request_body_later(bp)
    automation = service.editable(who, automation_id)
    result, was_created = runs.trigger(automation, body())
    return Response(body=result, status_code=201 if was_created else 200)


@api_route(bp, "/automations/{automation_id}/runs", ["GET"], query=AutomationRunsQuery)
def list_runs(automation_id, account_id=None):
    who = principal(bp, account_id)
    return runs.list_runs(who, automation_id, request_query(bp))


@api_route(bp, "/automations/{automation_id}/stats", ["GET"])
def automation_stats(automation_id, account_id=None):
    return runs.stats(principal(bp, account_id), automation_id)


@api_route(bp, "/automations/{automation_id}/definition", ["GET"], query=AutomationDefinitionQuery)
def automation_definition(automation_id, account_id=None):
    who = principal(bp, account_id)
    return service.asl(who, automation_id, request_query(bp).version)
