"""Suppressions routes: list (by email, with a ``last_id`` cursor), add, import, export, reactivate."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.core.http import api_route, created, principal, request_body, request_query
from chalicelib.suppressions import service
from chalicelib.suppressions.request_models import SuppressionCreate, SuppressionImportDefaults, SuppressionList

bp = Blueprint(__name__)
IMPORT_TYPES = ["application/json", "text/csv", "text/plain"]


@api_route(bp, "/suppressions", ["GET"], query=SuppressionList)
def list_suppressions(account_id=None):
    who = principal(bp, account_id)
    return service.list_suppressions(who, request_query(bp))


@api_route(bp, "/suppressions", ["POST"], body=SuppressionCreate)
def create_suppression(account_id=None):
    who = principal(bp, account_id)
    body, new = service.create(who, request_body(bp))
    return created({"data": body}) if new else {"data": body}


@api_route(bp, "/suppressions/{suppression_id}", ["DELETE"])
def delete_suppression(suppression_id, account_id=None):
    return service.delete(principal(bp, account_id), suppression_id)


@api_route(bp, "/suppressions/import", ["POST"], query=SuppressionImportDefaults, content_types=IMPORT_TYPES)
def import_suppressions(account_id=None):
    who = principal(bp, account_id)
    defaults: SuppressionImportDefaults = request_query(bp)
    request = bp.current_request
    return service.import_request(who, request.raw_body or b"", request.headers.get("content-type"),
                                  defaults.model_dump(exclude_none=True))


@api_route(bp, "/suppressions/export", ["GET"])
def export_suppressions(account_id=None):
    body = service.export_csv(principal(bp, account_id))
    return Response(body=body, status_code=200, headers={
        "Content-Type": "text/csv; charset=utf-8", "Content-Disposition": 'attachment; filename="suppressions.csv"'})
