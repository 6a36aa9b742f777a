"""Email logs: listing newest first, the spec's filters, search_after paging, isolation."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

import pytest

from chalicelib.accounts import service as accounts
from chalicelib.core import clock
from chalicelib.sending import email_logs, events
from tests.conftest import Api
from tests.sending_support import pump, verified_domain

SEND, BULK = "send.postline.test", "bulk.postline.test"


@pytest.fixture()
def domain(account):
    return verified_domain(account[0].account_id)


def send(api, domain, to, host=SEND, **fields) -> str:
    body = {"from": {"email": f"app@{domain.domain_name}"}, "to": [{"email": to}], "subject": "Hello",
            "text": "Hi", **fields}
    r = api.post("/api/send", body, host=host)
    assert r.status == 200, r
    return r.json["message_ids"][0]


def logs(api, **filters) -> dict:
    params = []
    for key, value in filters.items():
        if key in ("sent_after", "sent_before"):
            params.append((f"filters[{key}]", value))
            continue
        operator, values = value
        params.append((f"filters[{key}][operator]", operator))
        if isinstance(values, list):
            params += [(f"filters[{key}][value][]", v) for v in values]
        elif values is not None:
            params.append((f"filters[{key}][value]", values))
    r = api.get("/api/email_logs" + ("?" + urlencode(params) if params else ""))
    assert r.status == 200, r
    return r.json


def test_list_shape_and_order(api, client, domain, account):
    first = send(api, domain, "one@logs.test", category="welcome", custom_variables={"user_id": "7"})
    clock.advance(timedelta(seconds=1))
    second = send(api, domain, "two@logs.test", host=BULK)
    page = logs(api)
    assert [m["message_id"] for m in page["messages"]] == [second, first]
    assert page["total_count"] == 2 and page["next_page_cursor"] is None
    newest, oldest = page["messages"]
    assert newest["status"] == "enqueued" and newest["sending_stream"] == "bulk" and newest["to"] == "two@logs.test"
    assert oldest["category"] == "welcome" and oldest["custom_variables"] == {"user_id": "7"}
    assert oldest["from"] == f"app@{domain.domain_name}" and oldest["subject"] == "Hello"
    assert oldest["sending_domain_id"] == domain.domain_id == oldest["domain_id"]
    assert oldest["sent_at"].endswith("Z") and oldest["opens_count"] == 0 and oldest["template_id"] is None
    # the SDK's path style answers the same
    same = api.get(f"/api/accounts/{account[0].account_id}/email_logs").json
    assert [m["message_id"] for m in same["messages"]] == [second, first]


def test_detail_has_events_and_reasons(api, client, domain):
    message_id = send(api, domain, "detail@logs.test")
    detail = api.get(f"/api/email_logs/{message_id}").json
    assert detail["events"] == [] and detail["raw_message_url"] is None  # "sending" is no MessageEvent
    pump(client)
    detail = api.get(f"/api/email_logs/{message_id}").json
    assert detail["events"] == [] and detail["raw_message_url"]  # SES's id and configuration set stay inside
    # later events (SES notifications, a later capability) move the status
    events.apply(message_id, "delivery", {"sending_ip": "192.0.2.1"})
    events.apply(message_id, "open", {"web_ip_address": "198.51.100.7"})
    detail = api.get(f"/api/email_logs/{message_id}").json
    assert detail["status"] == "delivered" and detail["opens_count"] == 1
    events.apply(message_id, "spam", {"spam_feedback_type": "abuse"})
    events.apply(message_id, "click", {"click_url": "https://x.test"})  # an opt-out stays the status
    detail = api.get(f"/api/email_logs/{message_id}").json
    assert detail["status"] == "opted_out" and detail["clicks_count"] == 1
    assert [e["event_type"] for e in detail["events"]][-4:] == ["delivery", "open", "spam", "click"]


def test_filters(api, client, domain, account):
    other = verified_domain(account[0].account_id)
    a = send(api, domain, "Ann@Filters.test", subject="Product Update Q3", category="Newsletter")
    b = send(api, domain, "bob@filters.test", subject="Password reset", category="security", host=BULK)
    c = send(api, other, "cid@filters.test", subject="Invoice", custom_variables={"x": "1"})
    pump(client)
    events.apply(a, "delivery")
    events.apply(a, "click", {"click_url": "https://x.test"})
    events.apply(a, "click", {"click_url": "https://x.test"})

    def ids(**f):
        return {m["message_id"] for m in logs(api, **f)["messages"]}

    assert ids(subject=("ci_contain", "product update")) == {a}  # seed-C 13: case-insensitive
    assert ids(subject=("ci_not_contain", "product")) == {b, c}
    assert ids(to=("ci_equal", "ann@filters.TEST")) == {a}
    assert ids(to=("ci_equal", ["ann@filters.test", "cid@filters.test"])) == {a, c}
    assert ids(**{"from": ("ci_contain", other.domain_name)}) == {c}
    assert ids(category=("equal", "Newsletter")) == {a}
    assert ids(category=("not_equal", ["Newsletter", "security"])) == {c}
    assert ids(status=("equal", "delivered")) == {a}
    assert ids(status=("equal", ["enqueued", "delivered"])) == {a, b, c}
    assert ids(status=("not_equal", "delivered")) == {b, c}
    assert ids(events=("include_event", "click")) == {a}
    assert ids(events=("not_include_event", ["delivery", "click"])) == {b, c}
    assert ids(clicks_count=("greater_than", 1)) == {a} and ids(clicks_count=("equal", 0)) == {b, c}
    assert ids(sending_stream=("equal", "bulk")) == {b}
    assert ids(domain_id=("equal", [str(other.domain_id)])) == {c}
    assert ids(sending_domain_id=("not_equal", str(other.domain_id))) == {a, b}
    assert ids(client_ip=("equal", "127.0.0.1")) == {a, b, c}
    # filters combine with AND; unknown or malformed ones are ignored (spec)
    assert ids(status=("equal", "delivered"), sending_stream=("equal", "bulk")) == set()
    assert ids(nonsense=("equal", "x"), subject=("bogus_operator", "x")) == {a, b, c}
    assert logs(api, to=("ci_equal", "ann@filters.test"))["total_count"] == 1
    # custom variables are kept on each message and can be searched by name
    assert ids(**{"custom_variables.x": ("equal", "1")}) == {c}
    assert ids(**{"custom_variables.x": ("not_empty", None)}) == {c}
    assert ids(**{"custom_variables.x": ("empty", None)}) == {a, b}


def test_time_range(api, client, domain):
    early = send(api, domain, "early@range.test")
    clock.advance(timedelta(hours=2))
    late = send(api, domain, "late@range.test")
    middle = clock.iso(clock.now() - timedelta(hours=1))
    ids = lambda **f: [m["message_id"] for m in logs(api, **f)["messages"]]  # noqa: E731
    assert ids(sent_after=middle) == [late]
    assert ids(sent_before=middle) == [early]
    assert ids(sent_after="not a date") == [late, early]


def test_search_after_pages_through_everything(api, client, domain, monkeypatch):
    monkeypatch.setattr(email_logs, "PAGE_SIZE", 2)
    sent = []
    for i in range(5):
        sent.append(send(api, domain, f"p{i}@pages.test"))
        clock.advance(timedelta(milliseconds=5))
    seen, cursor, totals = [], None, set()
    while True:
        r = api.get("/api/email_logs" + (f"?search_after={cursor}" if cursor else "")).json
        seen += [m["message_id"] for m in r["messages"]]
        totals.add(r["total_count"])
        cursor = r["next_page_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(sent)) and totals == {5}
    r = api.get("/api/email_logs?search_after=00000000-0000-0000-0000-000000000000")
    assert r.status == 400


def test_logs_are_isolated_between_accounts_and_domains(api, client, domain, account):
    message_id = send(api, domain, "secret@iso.test")
    _, token_b = accounts.create_account("Other", "other@iso.example")
    other = Api(client, token_b)
    assert other.get(f"/api/email_logs/{message_id}").status == 404
    assert other.get("/api/email_logs").json["messages"] == []
    assert other.get(f"/api/email_logs?search_after={message_id}").status == 400
    assert other.get(f"/api/accounts/{account[0].account_id}/email_logs").status == 403
    # a token scoped to another domain of the same account sees none of this domain's mail
    elsewhere = verified_domain(account[0].account_id)
    scoped = api.post("/api/api_tokens", {"name": "elsewhere", "resources": [
        {"resource_type": "domain", "resource_id": elsewhere.domain_id, "access_level": 10}]}).json["token"]
    assert api.get(f"/api/email_logs/{message_id}", token=scoped).status == 404
    assert api.get("/api/email_logs", token=scoped).json["messages"] == []
    assert api.get(f"/api/email_logs/{message_id}").status == 200
