"""Property-based tests of the whole API against its OpenAPI document (schemathesis).

For every documented operation schemathesis generates requests from the document, valid and
invalid, sends them to the app in-process (through chalice's local gateway, as a WSGI app)
as the owner of an account of its own, and checks each answer: no 5xx, a status the
operation documents, the documented content type, a body matching the documented schema.
Seeded (derandomized) so a run is the same every time; bounded by MAX_EXAMPLES per operation.

Strings are generated as valid UTF-8 (schemathesis' default codec), so no lone surrogates;
this run found nothing of issue 13's hardening items (surrogates, deep nesting, huge numbers,
control characters in headers) to leave out.
"""

from __future__ import annotations

import http
import importlib
import os
from urllib.parse import quote

import pytest
import schemathesis
from chalice.config import Config
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from chalicelib.core import config, hosts, openapi

MAX_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", 10))  # ~1,000 requests in all: about a minute of CPU
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# One operation per route: the account-scoped routes are served twice (with and without
# /accounts/{account_id}) by one view; the prefixed form also exercises the account check.
ACCOUNT_PREFIX = "/api/accounts/{account_id}"
importlib.import_module("app")  # its routes declare their request models: the document needs them
SCOPED = {p.removeprefix(ACCOUNT_PREFIX) for p in openapi.document()["paths"] if p.startswith(ACCOUNT_PREFIX)}

schema = schemathesis.openapi.from_dict(openapi.document()).exclude(
    path_regex=r"^/api(" + "|".join(p.replace("{", r"\{").replace("}", r"\}") for p in SCOPED) + r")$",
)


class Wsgi:
    """The Chalice app as a WSGI application, through the same local gateway as chalice.test."""

    def __init__(self, app):
        from local.server import PostlineGateway

        self.gateway = PostlineGateway(app, Config(chalice_stage="dev"))

    def __call__(self, environ, start_response):
        from chalice.local import LocalGatewayException

        # Re-quoted as sent; ';' and '%' too (urlparse would cut the path at a bare ';').
        path = quote(environ.get("PATH_INFO", ""), safe="/:@!$&'()*+,=-._~")
        if environ.get("QUERY_STRING"):
            path += "?" + environ["QUERY_STRING"]
        headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        try:
            response = self.gateway.handle_request(method=environ["REQUEST_METHOD"], path=path,
                                                   headers=headers, body=body)
            status, out_body = response["statusCode"], response["body"] or b""
            out_headers = list(response["headers"].items()) + [
                (name, value) for name, values in (response.get("multiValueHeaders") or {}).items()
                for value in values]
        except LocalGatewayException as exc:
            status, out_headers, out_body = exc.CODE, list(exc.headers.items()), exc.body or b""
        if isinstance(out_body, str):
            out_body = out_body.encode()
        if not any(name.lower() == "content-type" for name, _ in out_headers):
            out_headers.append(("Content-Type", "application/json"))  # API Gateway's default
        start_response(f"{status} {http.HTTPStatus(status).phrase}", out_headers)
        return [out_body]


@pytest.fixture(scope="module")
def fuzz_target(app):
    """An account of the fuzzer's own, and limits high enough that it is not mostly refused."""
    from chalicelib.accounts import service

    saved = {k: os.environ.get(k) for k in ("POSTLINE_RATE_LIMIT_REQUESTS", "POSTLINE_CONTACTS_RATE_LIMIT_REQUESTS")}
    os.environ.update({k: "1000000" for k in saved})
    config.reload()
    acct, token = service.create_account("Fuzz Co", "owner@fuzz.example")
    yield Wsgi(app), acct.account_id, token
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    config.reload()


def test_the_fuzzed_document_is_the_served_one(client):
    from tests.conftest import Api

    assert Api(client).get("/api/openapi.json", token=None).json == openapi.document()


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, derandomize=True, database=None, deadline=None,
          suppress_health_check=list(HealthCheck))
def test_api_answers_as_documented(case, fuzz_target):
    wsgi, account_id, token = fuzz_target
    if "account_id" in (case.path_parameters or {}):
        case.path_parameters["account_id"] = account_id
    route = case.operation.path
    host = "send.postline.test" if route in hosts.SENDING_ROUTES else "postline.test"
    case.call_and_validate(app=wsgi, headers={"Authorization": f"Bearer {token}", "Host": host}, checks=CHECKS)
