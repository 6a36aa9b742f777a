"""Postline's OpenAPI 3 document, assembled from one fragment per capability.

Each capability keeps ``openapi.yaml`` beside its routes. Under ``paths`` a key is either a
full path (``/api/health``) or, for account resources, the path below the account
(``/api_tokens``) marked ``x-account-scoped: true``; such a path is published in both styles
the API serves: ``/api/accounts/{account_id}/...`` and ``/api/...`` (or ``x-unprefixed``).
"""

from __future__ import annotations

import copy
import html
from functools import lru_cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT_ID_PARAM = {
    "name": "account_id", "in": "path", "required": True,
    "schema": {"type": "integer"}, "description": "Account id (GET /api/accounts)",
}
BASE: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {
        "title": "Postline API",
        "version": "1.0.0",
        "description": (
            "Self-hosted, Mailtrap-compatible email platform. One API on four hosts: "
            "`send.<domain>` (transactional sending), `bulk.<domain>` (bulk sending), "
            "`sandbox.<domain>` (sandbox sending) and any other host for management. "
            "Account resources are served both as `/api/accounts/{account_id}/...` (as the "
            "official SDKs call them) and as `/api/...` (the account is the token's)."
        ),
    },
    "security": [{"BearerAuth": []}, {"HeaderAuth": []}],
    "paths": {},
    "components": {
        "securitySchemes": {
            "BearerAuth": {"type": "http", "scheme": "bearer"},
            "HeaderAuth": {"type": "apiKey", "in": "header", "name": "Api-Token"},
        },
        "responses": {
            # What core/http.py answers for any route: see tests/test_openapi.py for which
            # operations must declare which.
            "PAYLOAD_TOO_LARGE": {"description": "Request body too large", "content": {"application/json": {
                "schema": {"type": "object", "properties": {"errors": {"type": "string"}}},
                "example": {"errors": "Request body is too large"}}}},
            "UNAUTHENTICATED": {"description": "Missing or invalid token", "content": {"application/json": {
                "schema": {"type": "object", "properties": {"error": {"type": "string"}}},
                "example": {"error": "Incorrect API token"}}}},
            "PERMISSION_DENIED": {"description": "Token lacks access", "content": {"application/json": {
                "schema": {"type": "object", "properties": {"errors": {"type": "string"}}},
                "example": {"errors": "Account access forbidden"}}}},
            "NOT_FOUND": {"description": "No such resource in this account", "content": {"application/json": {
                "schema": {"type": "object", "properties": {"error": {"type": "string"}}},
                "example": {"error": "Not Found"}}}},
            "BAD_REQUEST": {"description": "Malformed request: the body is not JSON (malformed, not UTF-8, NaN), "
                            "not a JSON object, empty, or nested more than 64 levels deep", "content": {
                "application/json": {
                    "schema": {"type": "object", "properties": {"errors": {"type": "string"}}},
                    "example": {"errors": "Malformed JSON in request body"}}}},
            "UNPROCESSABLE_ENTITY": {"description": "Validation failed (also: a lone UTF-16 surrogate anywhere in "
                                                    "the body, named by its path)", "content": {"application/json": {
                "schema": {"type": "object", "properties": {"errors": {"type": "object", "additionalProperties": {
                    "type": "array", "items": {"type": "string"}}}}},
                "example": {"errors": {"name": ["can't be blank"]}}}}},
            "RATE_LIMITED": {"description": (
                "Too many requests (a sliding-window rate limit), or too many failed authentications "
                "from this IP address or with this token's prefix (`Too many failed authentication "
                "attempts, try again later`); Retry-After says when to try again"),
                "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}},
                "content": {"application/json": {
                "schema": {"type": "object", "properties": {"errors": {"type": "string"}}},
                "example": {"errors": "Rate limit exceeded"}}}},
        },
        "schemas": {},
    },
}


def _fragments() -> list[dict[str, Any]]:
    import yaml  # only the document's first request needs it, not every function's cold start

    return [yaml.safe_load(p.read_text()) or {} for p in sorted(ROOT.glob("*/openapi.yaml"))]


def _with_account_param(operations: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(operations)
    out["parameters"] = [ACCOUNT_ID_PARAM, *out.get("parameters", [])]
    return out


@lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    doc = copy.deepcopy(BASE)
    for fragment in _fragments():
        for path, item in (fragment.get("paths") or {}).items():
            item = dict(item)
            scoped = item.pop("x-account-scoped", False)
            unprefixed = item.pop("x-unprefixed", path)
            if not scoped:
                doc["paths"][path] = item
                continue
            doc["paths"]["/api/accounts/{account_id}" + path] = _with_account_param(item)
            if unprefixed:
                doc["paths"]["/api" + unprefixed] = copy.deepcopy(item)
        for section, entries in (fragment.get("components") or {}).items():
            doc["components"].setdefault(section, {}).update(entries)
        doc.setdefault("tags", []).extend(fragment.get("tags") or [])
    _edge_responses(doc)
    return doc


def _edge_responses(doc: dict[str, Any]) -> None:
    """What the edge answers for any JSON body (core.jsonbody), on every operation that takes
    one, and for the failed-auth throttle, on every authenticated one, unless its fragment
    says otherwise (the sending API has its own error shape)."""
    for item in doc["paths"].values():
        for method in METHODS:
            op = item.get(method)
            if op and "application/json" in ((op.get("requestBody") or {}).get("content") or {}):
                responses = op.setdefault("responses", {})
                responses.setdefault("400", {"$ref": "#/components/responses/BAD_REQUEST"})
                responses.setdefault("422", {"$ref": "#/components/responses/UNPROCESSABLE_ENTITY"})
            if op and op.get("security") != []:  # any authenticated call may meet the failed-auth throttle
                op.setdefault("responses", {}).setdefault("429", {"$ref": "#/components/responses/RATE_LIMITED"})


METHODS = ("get", "post", "put", "patch", "delete")


def docs_page() -> str:
    """A readable page of every operation, rendered here so it needs nothing from the internet."""
    doc = document()
    rows = []
    for path, item in sorted(doc["paths"].items()):
        for method in METHODS:
            op = item.get(method)
            if op:
                rows.append(
                    f"<tr><td><code>{method.upper()}</code></td><td><code>{html.escape(path)}</code></td>"
                    f"<td><b>{html.escape(op.get('summary', ''))}</b><br>"
                    f"{html.escape(op.get('description', '')).strip()}</td></tr>")
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Postline API</title>"
        "<style>body{font-family:sans-serif;margin:2em}td{vertical-align:top;padding:4px 8px;"
        "border-bottom:1px solid #ddd}code{white-space:nowrap}</style></head><body>"
        f"<h1>{html.escape(doc['info']['title'])}</h1><p>{html.escape(doc['info']['description'])}</p>"
        "<p>Machine-readable: <a href='/api/openapi.json'>/api/openapi.json</a></p>"
        f"<table>{''.join(rows)}</table></body></html>"
    )
