"""The typed request layer (chalicelib/core/request_models.py): every route's request body
and query string is parsed by the model it declares, failures answer in Mailtrap's words and
shape, and the OpenAPI document's request schemas are those models."""

from __future__ import annotations

from typing import Annotated

import pytest
import yaml
from pydantic import BeforeValidator, Field

from chalicelib.core import openapi, request_models
from chalicelib.core.errors import BadRequest, Unprocessable
from chalicelib.core.request_models import EmailAddress, QueryModel, RequestModel, choice, parse, parse_query

# Routes whose JSON body is not an object (an array of rows, or raw text): their schema stays in YAML.
NON_OBJECT_BODIES = {("post", "/suppressions/import"), ("post", "/contacts/imports")}


class Person(RequestModel):
    envelope = "person"
    email: EmailAddress
    age: int = Field(0, ge=0)
    role: Annotated[str, BeforeValidator(choice(("admin", "viewer"), "is invalid. Allowed values: {allowed}."))]
    tags: list[str] = []


def _errors(model, data):
    with pytest.raises(Unprocessable) as caught:
        parse(model, data)
    return caught.value.body()["errors"]


def test_failures_are_mailtraps_422_per_field_in_its_words():
    assert _errors(Person, {"age": -1, "role": "boss", "tags": ["a", 5]}) == {
        "email": ["can't be blank"],
        "age": ["must be greater than or equal to 0"],
        "role": ["is invalid. Allowed values: admin, viewer."],
        "tags[1]": ["must be a string"],
    }
    assert _errors(Person, {"email": "no-at-sign", "role": "admin"}) == {"email": ["is invalid"]}


def test_json_types_are_strict_and_the_envelope_is_optional():
    assert _errors(Person, {"email": "a@example.com", "role": "admin", "age": "5"}) == {"age": ["must be an integer"]}
    wrapped = parse(Person, {"person": {"email": "A@Example.com", "role": "admin"}})
    bare = parse(Person, {"email": "A@Example.com", "role": "admin"})
    assert wrapped == bare and wrapped.email == "A@Example.com"


def test_a_query_string_is_coerced_and_its_failure_is_a_400_naming_the_parameter():
    class Page(QueryModel):
        page: int = 1
        ids: list[int] = []

    class Params(dict):
        def getlist(self, key):
            return self[key].split(",")

    assert parse_query(Page, Params({"page": "3", "ids[]": "1,2"})) == Page(page=3, ids=[1, 2])
    assert parse_query(Page, Params({"page": ""})) == Page()
    with pytest.raises(BadRequest, match="page must be an integer"):
        parse_query(Page, Params({"page": "two"}))


def _short(path):
    for prefix in ("/api/accounts/{account_id}", "/api"):
        if path.startswith(prefix):
            return path[len(prefix):]
    return path


def test_every_route_with_a_json_body_or_a_query_string_declares_its_model():
    import app  # noqa: F401 (its routes declare their models)

    missing = []
    for path, item in openapi.document()["paths"].items():
        for method in openapi.METHODS:
            op = item.get(method)
            if op is None:
                continue
            declared = request_models.DECLARED.get((method.upper(), path))
            json_body = "application/json" in ((op.get("requestBody") or {}).get("content") or {})
            if json_body and (method, _short(path)) not in NON_OBJECT_BODIES and not (declared and declared.body):
                missing.append(f"{method.upper()} {path}: body")
            if any(p.get("in") == "query" for p in op.get("parameters", [])) and not (declared and declared.query):
                missing.append(f"{method.upper()} {path}: query")
    assert missing == []


def test_the_document_takes_request_schemas_from_the_models_not_from_yaml():
    """A request schema written by hand beside a model would be dead text that drifts."""
    hand_written = []
    for fragment in openapi.ROOT.glob("*/openapi.yaml"):
        for path, item in (yaml.safe_load(fragment.read_text()).get("paths") or {}).items():
            for method in openapi.METHODS:
                op = (item or {}).get(method) or {}
                full = "/api/accounts/{account_id}" + path if item.get("x-account-scoped") else path
                declared = request_models.DECLARED.get((method.upper(), full))
                if declared and declared.body and "schema" in (
                        (op.get("requestBody") or {}).get("content", {}).get("application/json") or {}):
                    hand_written.append(f"{fragment.parent.name}: {method.upper()} {path} body")
                if declared and declared.query and any(p.get("in") == "query" for p in op.get("parameters", [])):
                    hand_written.append(f"{fragment.parent.name}: {method.upper()} {path} query")
    assert hand_written == []
