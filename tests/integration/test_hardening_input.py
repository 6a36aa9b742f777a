"""Hostile JSON at the edge (issue 13): every route that reads a JSON body refuses deep
nesting with a 400 and a lone UTF-16 surrogate with a 422 naming where it is, in the error
shape of its route family, before anything is stored or queued."""

from __future__ import annotations

import json
import re

import pytest

from chalicelib.core import jsonbody
from chalicelib.sending.models import Message
from tests.contacts_support import fresh_events, make_field, run_workers  # noqa: F401
from tests.sending_support import take, verified_domain

SEND = "send.postline.test"
# Write routes that never read a JSON body: the CSV-or-JSON imports read theirs through the
# same parser (tested below), the one-click unsubscribe takes a form, a reset and verify take none.
NO_JSON_BODY = {"/api/unsubscribe/{token}", "/api/api_tokens/{token_id}/reset", "/api/domains/{domain_id}/verify",
                *(f"/api/webhooks/{{webhook_id}}/{action}" for action in ("test", "reset_secret", "pause", "resume"))}


def write_routes(app) -> list[tuple[str, str]]:
    """(method, path) of every POST/PUT/PATCH route, in its short /api form."""
    out = []
    for path, methods in sorted(app.routes.items()):
        if path.startswith("/api/accounts/{account_id}") or path in NO_JSON_BODY:
            continue
        out += [(method, path) for method in methods if method in ("POST", "PUT", "PATCH")]
    return out


def concrete(path: str, ids: dict[str, int]) -> str:
    return re.sub(r"\{([a-z_]+)\}", lambda m: str(ids.get(m.group(1), 1)), path)


@pytest.fixture(scope="module")
def routes():
    import app as app_module

    return write_routes(app_module.app)


def test_every_json_route_is_covered(routes):
    assert ("POST", "/api/send") in routes and ("PATCH", "/api/contacts/{contact_identifier}") in routes
    assert len(routes) >= 30


@pytest.fixture()
def ids(api, account):
    """Things the routes act on exist (some answer 404 for an unknown id before reading the body)."""
    verified_domain(account[0].account_id)
    field_id = make_field(api, "Plan", "text", "plan")
    list_id = api.post("/api/contacts/lists", {"name": "L"}).json["id"]
    segment_id = api.post("/api/contacts/segments", {"name": "S", "conditions": [
        {"field": "plan", "operator": "is", "value": "pro"}]}).json["id"]
    return {"field_id": field_id, "list_id": list_id, "segment_id": segment_id}


def call(api, method, path, raw, ids):
    host = SEND if path in ("/api/send", "/api/batch") else None
    return api.call(method, concrete(path, ids), raw=raw, host=host)


def test_deeply_nested_json_is_400_on_every_route(api, routes, ids):
    for method, path in routes:
        for raw in ("[" * 1000 + "]" * 1000, '{"a":' * 65 + "1" + "}" * 65):
            r = call(api, method, path, raw, ids)
            assert r.status == 400, (method, path, r)
            errors = r.json.get("errors")
            assert (errors if isinstance(errors, str) else errors[0]) == jsonbody.TOO_DEEP, (method, path, r)


def test_a_lone_surrogate_is_422_naming_the_field_on_every_route(api, routes, ids):
    for method, path in routes:
        r = call(api, method, path, json.dumps({"name": "ok", "probe": {"deep": ["fine", "bad \ud800 text"]}}), ids)
        assert r.status == 422, (method, path, r)
        if path in ("/api/send", "/api/batch"):
            assert r.json == {"success": False, "errors": [
                "'probe.deep[1]' must not contain a lone UTF-16 surrogate (U+D800)"]}, (method, path)
        else:
            assert r.json == {"errors": {"probe.deep[1]": [
                "must not contain a lone UTF-16 surrogate (U+D800)"]}}, (method, path)


def test_nesting_of_64_levels_and_surrogate_pairs_are_fine():
    assert jsonbody.parse("[" * 64 + "]" * 64) is not None
    with pytest.raises(Exception, match="nested more than 64"):
        jsonbody.parse("[" * 65 + "]" * 65)
    assert jsonbody.parse(json.dumps({"emoji": "\U0001F600", "k\U0001F600": 1})) == {
        "emoji": "\U0001F600", "k\U0001F600": 1}
    assert jsonbody.parse('"\\ud83d\\ude00"') == "\U0001F600"  # an escaped pair is one character
    assert jsonbody.parse(r'"\\ud800"') == "\\ud800"  # an escaped backslash and text, not a surrogate


@pytest.mark.parametrize("raw,status,field", [
    ('{"\\udfff": 1}', 422, "\\udfff"),  # in a key: shown escaped
    ('"\\uD800"', 422, "base"),
    (r'{"a": ["ok", "\\ud800\udc00"]}', 422, "a[1]"),  # text "\ud800", then a real lone low surrogate
    (r'{"a": "\ud83d\ude00\ude00"}', 422, "a"),  # a pair, then a lone low one
    (b'{"a": "\xed\xa0\x80"}', 400, None),  # a surrogate encoded as UTF-8 is not UTF-8
    ('{"a": NaN}', 400, None),
    ('{"a": Infinity}', 400, None),
])
def test_what_the_parser_refuses(raw, status, field):
    with pytest.raises(Exception) as refused:
        jsonbody.parse(raw)
    assert refused.value.status == status
    if field:
        assert list(refused.value.errors) == [field]


@pytest.mark.parametrize("where,field", [
    ({"from": {"email": "app@{domain}", "name": "\ud800"}}, "from.name"),
    ({"attachments": [{"filename": "a\udc00.txt", "content": "eA=="}]}, "attachments[0].filename"),
    ({"category": "\ud800"}, "category"),
    ({"subject": "s", "custom_variables": {"k": "\ud800"}}, "custom_variables.k"),
])
def test_a_send_with_a_lone_surrogate_is_refused_and_nothing_is_queued(api, account, where, field):
    domain = verified_domain(account[0].account_id)
    body = {"from": {"email": f"app@{domain.domain_name}"}, "to": ["a@rcpt.test"], "subject": "s", "text": "t"}
    body.update(json.loads(json.dumps(where).replace("{domain}", domain.domain_name)))
    r = api.post("/api/send", body, host=SEND)
    assert r.status == 422 and r.json["errors"][0].startswith(f"'{field}' must not contain a lone UTF-16 surrogate")
    assert [b for b in take("transactional") if b["account_id"] == account[0].account_id] == []
    assert list(Message.by_account.query(account[0].account_id)) == []


def test_a_template_send_with_a_lone_surrogate_in_its_variables_is_refused(api, account):
    domain = verified_domain(account[0].account_id)
    template = api.post("/api/email_templates", {"email_template": {
        "name": "T", "subject": "Hi {{name}}", "category": "c", "body_text": "{{name}}"}}).json
    r = api.post("/api/send", {"from": {"email": f"app@{domain.domain_name}"}, "to": ["a@rcpt.test"],
                               "template_uuid": template["uuid"], "template_variables": {"name": "\ud800"}},
                 host=SEND)
    assert r.status == 422 and r.json["errors"] == [
        "'template_variables.name' must not contain a lone UTF-16 surrogate (U+D800)"]


def test_a_contacts_import_with_a_lone_surrogate_is_refused_whole_not_left_started(api, account, client):
    make_field(api, "First name", "text", "first_name")
    r = api.post("/api/contacts/imports", {"contacts": [
        {"email": "ok@x.test"}, {"email": "bad@x.test", "fields": {"first_name": "\ud800"}}]})
    assert r.status == 422 and r.json == {"errors": {"contacts[1].fields.first_name": [
        "must not contain a lone UTF-16 surrogate (U+D800)"]}}
    run_workers(client)
    assert api.get("/api/contacts/ok@x.test").status == 404  # nothing of it was imported


def test_a_suppressions_import_reads_json_through_the_same_parser(api):
    r = api.post("/api/suppressions/import", raw='[{"email": "a@x.test", "note": "\\ud800"}]')
    assert r.status == 422 and r.json == {"errors": {"[0].note": ["must not contain a lone UTF-16 surrogate (U+D800)"]}}
    r = api.post("/api/suppressions/import", raw="[" * 1000 + "]" * 1000)
    assert r.status == 400 and r.json == {"errors": jsonbody.TOO_DEEP}
