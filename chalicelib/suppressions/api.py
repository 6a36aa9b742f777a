"""Suppressions routes: list (by email, with a ``last_id`` cursor), add, import, export, reactivate."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.core.http import api_route, created, json_object, principal
from chalicelib.suppressions import service

bp = Blueprint(__name__)
IMPORT_TYPES = ["application/json", "text/csv", "text/plain"]
_LIST_PARAMS = ("email", "last_id", "start_time", "end_time", "domain_id", "type", "sending_stream")


def _params(*names: str) -> dict[str, str]:
    query = bp.current_request.query_params or {}
    return {name: query[name] for name in names if query.get(name) not in (None, "")}


@api_route(bp, "/suppressions", ["GET"])
def list_suppressions(account_id=None):
    return service.list_suppressions(principal(bp, account_id), _params(*_LIST_PARAMS))


@api_route(bp, "/suppressions", ["POST"])
def create_suppression(account_id=None):
    who = principal(bp, account_id)
    body, new = service.create(who, json_object(bp))
    return created({"data": body}) if new else {"data": body}


@api_route(bp, "/suppressions/{suppression_id}", ["DELETE"])
def delete_suppression(suppression_id, account_id=None):
    return service.delete(principal(bp, account_id), suppression_id)


@api_route(bp, "/suppressions/import", ["POST"], content_types=IMPORT_TYPES)
def import_suppressions(account_id=None):
    who = principal(bp, account_id)
    request = bp.current_request
    return service.import_request(who, request.raw_body or b"", request.headers.get("content-type"),
                                  _params(*service.IMPORT_DEFAULTS))


@api_route(bp, "/suppressions/export", ["GET"])
def export_suppressions(account_id=None):
    body = service.export_csv(principal(bp, account_id))
    return Response(body=body, status_code=200, headers={
        "Content-Type": "text/csv; charset=utf-8", "Content-Disposition": 'attachment; filename="suppressions.csv"'})
