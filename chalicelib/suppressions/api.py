"""Suppressions routes: list (by email, with a ``last_id`` cursor), add, import, export, reactivate."""

from __future__ import annotations

import json

from chalice import Blueprint, Response

from chalicelib.core.errors import BadRequest, PayloadTooLarge
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
    raw = request.raw_body or b""
    if len(raw) > service.MAX_IMPORT_BYTES:
        raise PayloadTooLarge()
    defaults = _params("domain_id", "sending_stream", "type")
    kind = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if kind in ("text/csv", "text/plain"):
        try:
            rows = service.parse_csv(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise BadRequest("The CSV file must be UTF-8") from None
    else:
        try:
            body = json.loads(raw) if raw.strip() else None
        except (ValueError, UnicodeDecodeError):
            raise BadRequest("Malformed JSON in request body") from None
        if isinstance(body, dict):  # {"domain_id", "sending_stream", "type", "emails" | "suppressions"}
            defaults.update({k: body[k] for k in ("domain_id", "sending_stream", "type") if body.get(k) is not None})
            body = body.get("suppressions", body.get("emails"))
        if not isinstance(body, list):
            raise BadRequest("Send a JSON array of rows (or {\"emails\": [...]}), or a text/csv file")
        rows = body
    return service.import_rows(who, rows, defaults)


@api_route(bp, "/suppressions/export", ["GET"])
def export_suppressions(account_id=None):
    body = service.export_csv(principal(bp, account_id))
    return Response(body=body, status_code=200, headers={
        "Content-Type": "text/csv; charset=utf-8", "Content-Disposition": 'attachment; filename="suppressions.csv"'})
