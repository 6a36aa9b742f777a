"""Postline's OpenAPI 3 document, assembled from one fragment per capability.

Each capability keeps ``openapi.yaml`` beside its routes: the prose, the responses and the
response schemas. Request bodies and query parameters come from the request models the
routes declare (``core.request_models``), so what is documented is what is validated. Under ``paths`` a key is either a
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
            # What core/http.py answers for any route: see tests/integration/test_openapi.py for which
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


def document() -> dict[str, Any]:
    """The whole document. Cached per set of declared routes: one built before a blueprint
    registered its request models (a test importing this module first) is not served stale."""
    from chalicelib.core.request_models import DECLARED

    return _document(len(DECLARED))


@lru_cache(maxsize=1)
def _document(declared_routes: int) -> dict[str, Any]:
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
    _request_models(doc)
    _edge_responses(doc)
    return doc


def _request_models(doc: dict[str, Any]) -> None:
    """Each declared route's request body and query parameters, from its models."""
    from pydantic.json_schema import models_json_schema

    from chalicelib.core.request_models import DECLARED

    bodies = {d.body for d in DECLARED.values() if d.body}
    queries = {d.query for d in DECLARED.values() if d.query}
    keys, schema = models_json_schema([(m, "validation") for m in sorted(bodies | queries, key=_qualname)],
                                      ref_template="#/components/schemas/{model}")
    defs = {name: openapi30(s) for name, s in schema.get("$defs", {}).items()}
    query_defs = {keys[(m, "validation")]["$ref"].rsplit("/", 1)[1] for m in queries}
    doc["components"]["schemas"].update({k: v for k, v in defs.items() if k not in query_defs})
    for (method, path), declared in DECLARED.items():
        op = (doc["paths"].get(path) or {}).get(method.lower())
        if op is None:
            continue  # tests/integration/test_openapi.py fails on an undocumented route
        if declared.body:
            ref = keys[(declared.body, "validation")]
            _body_schema(op, ref, declared.body.envelope)
        if declared.query:
            name = keys[(declared.query, "validation")]["$ref"].rsplit("/", 1)[1]
            _query_parameters(op, defs[name], declared.query)


def _qualname(model: type) -> str:
    return f"{model.__module__}.{model.__qualname__}"


def _body_schema(op: dict[str, Any], ref: dict[str, str], envelope: str | None) -> None:
    schema: dict[str, Any] = dict(ref)
    if envelope:  # Mailtrap's clients may wrap the fields in one key; both forms are accepted
        schema = {"anyOf": [dict(ref), {"type": "object", "required": [envelope],
                                        "properties": {envelope: dict(ref)}}]}
    body = op.setdefault("requestBody", {"required": True})
    media = body.setdefault("content", {}).setdefault("application/json", {})
    media["schema"] = schema


def _query_parameters(op: dict[str, Any], schema: dict[str, Any], model: type) -> None:
    from chalicelib.core.request_models import is_dict, is_list

    written = {p.get("name"): p for p in op.get("parameters", []) if p.get("in") == "query"}
    params = [p for p in op.get("parameters", []) if p.get("in") != "query"]
    required = set(schema.get("required", []))
    for name, field in model.model_fields.items():  # type: ignore[attr-defined]
        key = field.alias or name
        prop = dict(schema["properties"][key])
        prose = written.get(key) or written.get(f"{key}[]") or {}
        description = prop.pop("description", None) or prose.get("description")
        prop.pop("title", None)
        prop.pop("nullable", None)  # an absent parameter is the "null"; a query has no null
        if prop.get("default", 0) is None:
            prop.pop("default")
        param: dict[str, Any] = {"name": f"{key}[]" if is_list(field.annotation) else key, "in": "query",
                                 "required": key in required, "schema": prop}
        if is_list(field.annotation):
            param.update(style="form", explode=True)
        elif is_dict(field.annotation):  # name[key][...]=value
            param.update(style="deepObject", explode=True)
        if description:
            param["description"] = description
        params.append(param)
    op["parameters"] = params


def openapi30(node: Any) -> Any:
    """A pydantic (JSON Schema 2020-12) schema in OpenAPI 3.0's dialect: ``nullable`` for
    ``null`` in a union, ``enum`` for ``const``, one ``example``, boolean exclusive bounds,
    and no siblings beside a ``$ref`` (3.0 ignores them)."""
    if isinstance(node, list):
        return [openapi30(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: openapi30(v) for k, v in node.items()}
    for union in ("anyOf", "oneOf"):
        options = node.get(union)
        if options and {"type": "null"} in options:
            rest = [o for o in options if o != {"type": "null"}]
            node.pop(union)
            if len(rest) == 1:
                merged = rest[0] if "$ref" not in rest[0] else {"allOf": [rest[0]]}
                node = {**merged, **node}
            else:
                node[union] = rest
            node["nullable"] = True
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if "examples" in node:
        examples = node.pop("examples")
        node["example"] = examples[0] if isinstance(examples, list) and examples else examples
    for bound, inclusive in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(node.get(bound), int | float) and not isinstance(node.get(bound), bool):
            node[inclusive] = node.pop(bound)
            node[bound] = True
    if "$ref" in node and len(node) > 1:
        node = {**{k: v for k, v in node.items() if k != "$ref"}, "allOf": [{"$ref": node["$ref"]}]}
    return node


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
