"""Automation routes: definitions, lifecycle, manual trigger, runs, stats, compiled ASL."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.automations import runs, service
from chalicelib.core.http import api_route, created, json_object, no_content, principal, query_param

bp = Blueprint(__name__)


@api_route(bp, "/automations", ["GET"])
def list_automations(account_id=None):
    who = principal(bp, account_id)
    return service.list_automations(who, query_param(bp, "status"), query_param(bp, "limit"),
                                    query_param(bp, "offset"), query_param(bp, "page"))


@api_route(bp, "/automations", ["POST"])
def create_automation(account_id=None):
    who = principal(bp, account_id)
    return created(service.create(who, json_object(bp)))


@api_route(bp, "/automations/{automation_id}", ["GET"])
def get_automation(automation_id, account_id=None):
    return service.get(principal(bp, account_id), automation_id)


@api_route(bp, "/automations/{automation_id}", ["PATCH"])
def update_automation(automation_id, account_id=None):
    who = principal(bp, account_id)
    return service.update(who, automation_id, json_object(bp))


@api_route(bp, "/automations/{automation_id}", ["DELETE"])
def delete_automation(automation_id, account_id=None):
    service.archive(principal(bp, account_id), automation_id)
    return no_content()


@api_route(bp, "/automations/{automation_id}/activate", ["POST"])
def activate_automation(automation_id, account_id=None):
    who = principal(bp, account_id)
    return service.set_active(who, automation_id, json_object(bp).get("active"))


@api_route(bp, "/automations/{automation_id}/trigger", ["POST"])
def trigger_automation(automation_id, account_id=None):
    who = principal(bp, account_id)
    body, was_created = runs.trigger(who, automation_id, json_object(bp))
    return Response(body=body, status_code=201 if was_created else 200)


@api_route(bp, "/automations/{automation_id}/runs", ["GET"])
def list_runs(automation_id, account_id=None):
    who = principal(bp, account_id)
    return runs.list_runs(who, automation_id, query_param(bp, "status"), query_param(bp, "limit"),
                          query_param(bp, "offset"), query_param(bp, "page"),
                          contact_id=query_param(bp, "contact_id"), email=query_param(bp, "email"))


@api_route(bp, "/automations/{automation_id}/stats", ["GET"])
def automation_stats(automation_id, account_id=None):
    return runs.stats(principal(bp, account_id), automation_id)


@api_route(bp, "/automations/{automation_id}/definition", ["GET"])
def automation_definition(automation_id, account_id=None):
    who = principal(bp, account_id)
    return service.asl(who, automation_id, query_param(bp, "version"))
