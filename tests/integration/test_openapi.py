"""The served OpenAPI document: valid OpenAPI 3.0.3, and it declares what every route answers.

The completeness of paths is tests/integration/test_http_edge.py's; here every operation must declare the
status codes core/http.py gives every route of its kind (401/403/429 for a token, 400/413
for a JSON body, 404 for an id in the path), checked on the document and by calling each
route the ways that produce them.
"""

from __future__ import annotations

import re

from openapi_spec_validator import OpenAPIV30SpecValidator

from chalicelib.core import hosts, openapi
from tests.conftest import Api


def _operations(doc):
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method in openapi.METHODS:
                yield path, method, op


def _public(doc, op) -> bool:
    return op.get("security", doc.get("security")) == []


def _declared(op) -> set[str]:
    return set(op["responses"])


def _nulls(node, where=""):
    """Keys whose value is null: in these fragments, the mark of an unquoted comma in a
    YAML flow mapping (``{description: a, b}`` makes a key ``b``)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if value is None and key not in ("example", "default"):
                yield f"{where}/{key}"
            yield from _nulls(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _nulls(value, f"{where}/{i}")


def test_served_document_is_valid_openapi_3_0_3(client):
    doc = Api(client).get("/api/openapi.json", token=None).json
    assert doc["openapi"] == "3.0.3"
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}"
              for e in OpenAPIV30SpecValidator(doc).iter_errors()]
    assert errors == []
    assert list(_nulls(doc)) == []


def test_every_operation_declares_the_errors_of_its_kind():
    doc = openapi.document()
    missing = []
    for path, method, op in _operations(doc):
        needs = set()
        if not _public(doc, op):
            needs |= {"401", "403", "429"}
        if "requestBody" in op:
            needs |= {"400", "413"}
        if re.search(r"\{(?!account_id\})[^}]+\}", path):
            needs.add("404")
        if lacking := needs - _declared(op):
            missing.append(f"{method.upper()} {path}: {sorted(lacking)}")
    assert missing == []


# ------------------------------------------------------------------ every route, called


def _host(route: str) -> str:
    return "send.postline.test" if route in hosts.SENDING_ROUTES else "postline.test"


NO_SUCH_ID = "987654321"  # names nothing, so no probe changes a real resource


def _fill(route: str, account_id: int, other: str = NO_SUCH_ID) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: str(account_id) if m.group(1) == "account_id" else other, route)


def test_what_each_route_answers_to_common_mistakes_is_declared(app, client, account, settings_env):
    """No token, another account's path, malformed JSON, an empty or oversize body, an id
    that names nothing: whatever status each route gives is in its operation's responses."""
    doc = openapi.document()
    acct, token = account
    api = Api(client, token)
    settings_env(POSTLINE_MAX_BODY_BYTES=4096, POSTLINE_RATE_LIMIT_REQUESTS=10**6,
                 POSTLINE_CONTACTS_RATE_LIMIT_REQUESTS=10**6)
    undeclared = []
    for route, methods in sorted(app.routes.items()):
        for method in sorted(methods):
            op = doc["paths"][route][method.lower()]
            url, host = _fill(route, acct.account_id), _host(route)
            probes = {
                "no token": dict(token=None),
                "empty body": {},
                "malformed JSON": dict(raw="{not json"),
                "JSON array": dict(raw="[1]"),
                "oversize body": dict(body={"name": "x" * 5000}),
            }
            if "{account_id}" in route:
                probes["another account"] = dict(path=_fill(route, acct.account_id + 10_000_000))
            if "{" in route.replace("{account_id}", ""):
                probes["non-integer id"] = dict(path=_fill(route, acct.account_id, "x"))
            for probe, kwargs in probes.items():
                path = kwargs.pop("path", url)
                status = api.call(method, path, host=host, **kwargs).status
                if str(status) not in _declared(op):
                    undeclared.append(f"{method} {route} ({probe}): {status}")
    assert undeclared == []
