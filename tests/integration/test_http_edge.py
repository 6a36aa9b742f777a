"""The HTTP edge: error shapes, rate limiting, host routing, health, OpenAPI completeness."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from chalicelib.core import clock, config, openapi
from chalicelib.core import http as core_http
from tests.conftest import Api


def _with_settings(monkeypatch, **changes):
    patched = dataclasses.replace(config.settings(), **changes)
    monkeypatch.setattr(core_http, "settings", lambda: patched)


def test_malformed_json_is_400_not_500(api):
    r = api.post("/api/api_tokens", raw="{not json")
    assert r.status == 400 and r.json == {"errors": "Malformed JSON in request body"}
    r = api.post("/api/api_tokens", raw="[1, 2]")
    assert r.status == 400 and r.json == {"errors": "Request body must be a JSON object"}
    r = api.post("/api/api_tokens", raw="")
    assert r.status == 400


def test_wrong_types_are_422(api):
    r = api.post("/api/api_tokens", {"name": 12, "resources": "all"})
    assert r.status == 422 and "name" in r.json["errors"]
    r = api.post("/api/api_tokens", {"name": "x", "resources": "all"})
    assert r.status == 422 and r.json["errors"] == {"resources": ["must be an array"]}


def test_oversize_body_is_413(api, monkeypatch):
    _with_settings(monkeypatch, max_body_bytes=100)
    r = api.post("/api/api_tokens", raw='{"name": "' + "x" * 200 + '"}')
    assert r.status == 413 and r.json == {"errors": "Request body is too large"}


def test_rate_limit_per_token_with_retry_after(api, account, client, monkeypatch):
    acct, _ = account
    _with_settings(monkeypatch, rate_limit_requests=3, rate_limit_window_seconds=60)
    # start at the beginning of a window so a slow machine cannot cross into the next one
    clock.advance(timedelta(seconds=60 - clock.now().timestamp() % 60 + 0.01))
    other = api.post("/api/api_tokens", {"name": "other", "resources": [
        {"resource_type": "account", "resource_id": acct.account_id, "access_level": 10}]}).json["token"]
    # the call above counted once; two more pass, the next is refused
    assert api.get("/api/accounts").status == 200
    assert api.get("/api/accounts").status == 200
    r = api.get("/api/accounts")
    assert r.status == 429 and r.json == {"errors": "Rate limit exceeded"}
    assert 1 <= int(r.headers["retry-after"]) <= 61  # a hit counts up to a slice (1/60) past the window
    # another token has its own budget
    assert api.get("/api/accounts", token=other).status == 200
    # the next window is open again
    clock.advance(timedelta(seconds=61))
    assert api.get("/api/accounts").status == 200


@pytest.mark.parametrize("host,status", [
    ("postline.example.com", 200),
    ("mailtrap.io", 200),
    ("send.postline.example.com", 404),
    ("bulk.postline.example.com", 404),
    ("sandbox.postline.example.com", 404),
])
def test_management_routes_answer_only_on_the_general_host(api, host, status):
    r = api.get("/api/accounts", host=host)
    assert r.status == status
    if status == 404:
        assert r.json == {"error": "Not Found"}


@pytest.mark.parametrize("host", ["postline.test", "send.postline.test", "bulk.postline.test"])
def test_health_reports_each_resource_on_every_host(client, host):
    r = Api(client).get("/api/health", host=host, token=None)
    assert r.status == 200, r
    body = r.json
    assert body["status"] == "ok" and body["api"] == "ok"
    assert "postline-dev-accounts" in body["tables"]
    assert all(v == "ok" for v in body["tables"].values())
    assert body["buckets"] == {"postline-dev-data": "ok"}


def test_openapi_documents_every_route(app, client):
    doc = Api(client).get("/api/openapi.json", token=None).json
    assert doc["openapi"].startswith("3.")
    missing = [
        f"{method} {path}"
        for path, methods in app.routes.items()
        for method in methods
        if method.lower() not in (doc["paths"].get(path) or {})
    ]
    assert missing == [], f"routes missing from the OpenAPI document: {missing}"


def test_openapi_has_no_phantom_routes(app):
    documented = {(p, m.upper()) for p, item in openapi.document()["paths"].items()
                  for m in item if m in openapi.METHODS}
    served = {(p, m) for p, methods in app.routes.items() for m in methods}
    assert documented - served == set()


def test_docs_page_lists_operations(client):
    r = Api(client).get("/api/docs", token=None)
    assert r.status == 200 and "text/html" in r.headers["content-type"]
    assert "/api/accounts/{account_id}/api_tokens" in r.body.decode()


def test_health_reports_are_reused_briefly_so_the_public_route_cannot_multiply_aws_calls(client, monkeypatch):
    import botocore.client

    from chalicelib.core import health

    calls = []
    original = botocore.client.BaseClient._make_api_call

    def counted(self, operation, params):
        calls.append(operation)
        return original(self, operation, params)

    health.report(max_age=0)  # warm: queue URLs and clients a first report in this process looks up
    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", counted)
    first = health.report(max_age=0)  # made now
    made = len(calls)
    assert made >= len(first["tables"]) + len(first["queues"]) + 1
    for _ in range(5):
        assert Api(client).get("/api/health", token=None).json == first
    assert len(calls) == made  # the five requests reused it
    health.report(max_age=0)
    assert len(calls) == 2 * made
