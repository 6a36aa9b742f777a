"""The sending routes on request models (chalicelib/sending/request_models.py): the query
strings of email logs, stats and tracking opt-outs, and the tracking opt-out body, answer
as the hand-written checks did; the send and batch bodies keep validation.parse_send's
answers (test_sending_validation.py, test_sending_api.py, test_hardening_input.py)."""

from __future__ import annotations

import pytest
from chalice.app import MultiDict

from chalicelib.core.request_models import parse_query
from chalicelib.sending.request_models import EmailLogQuery
from tests.sending_support import verified_domain


@pytest.fixture()
def domain(account):
    return verified_domain(account[0].account_id)


def test_email_log_filters_are_read_as_a_deep_object():
    params = MultiDict({
        "filters[to][operator]": ["ci_equal"], "filters[to][value]": ["A@x.test"],
        "filters[events][operator]": ["include_event"], "filters[events][value][]": ["open", "click"],
        "filters[status][value]": ["delivered", "enqueued"],  # repeated without []: a list too
        "filters[sent_after]": ["2026-01-01T00:00:00Z"],
        "search_after": ["0c7fd939-02cf-11ed-88c2-0a58a9feac02"], "other": ["ignored"],
    })
    query = parse_query(EmailLogQuery, params)
    assert query.search_after == "0c7fd939-02cf-11ed-88c2-0a58a9feac02"
    assert query.filters == {
        "to": {"operator": "ci_equal", "value": "A@x.test"},
        "events": {"operator": "include_event", "value": ["open", "click"]},
        "status": {"value": ["delivered", "enqueued"]},
        "sent_after": "2026-01-01T00:00:00Z",
    }
    assert parse_query(EmailLogQuery, None).filters == {}


def test_stats_query_errors_keep_their_words(api, domain):
    for query, message in [("start_date=soon", "start_date must be a date (YYYY-MM-DD)"),
                           ("end_date=2026-02-30", "end_date must be a date (YYYY-MM-DD)"),
                           ("sending_domain_ids[]=1&sending_domain_ids[]=x", "sending_domain_ids must be integers"),
                           ("start_date=2026-02-01&end_date=2026-01-01", "start_date must not be after end_date"),
                           ("start_date=2024-01-01&end_date=2026-01-01", "the period is at most 366 days")]:
        r = api.get(f"/api/stats/domains?{query}")
        assert (r.status, r.json) == (400, {"errors": message}), query
    # a date-time counts by its date; the lists read name[]= and name= alike
    ok = api.get(f"/api/stats?start_date=2026-01-01T10:00:00Z&end_date=2026-01-02"
                 f"&sending_domain_ids={domain.domain_id}&sending_streams[]=bulk&categories=x")
    assert ok.status == 200 and ok.json["delivery_count"] == 0


def test_stats_refuse_a_stream_that_does_not_exist(api):
    r = api.get("/api/stats?sending_streams[]=marketing")
    assert r.status == 400 and r.json == {"errors": "sending_streams[0] is not included in the list"}


def test_tracking_opt_out_query_and_body(api, domain):
    r = api.get("/api/tracking_opt_outs?start_time=yesterday")
    assert (r.status, r.json) == (400, {"errors": "start_time must be an ISO 8601 date-time"})
    wrapped = api.post("/api/tracking_opt_outs", {"tracking_opt_out": {"email": "Someone@Opt.test",
                                                                       "domain_id": str(domain.domain_id)}})
    assert wrapped.status == 201 and wrapped.json["data"]["email"] == "someone@opt.test"
    listed = api.get("/api/tracking_opt_outs?email=SOMEONE@opt.test&start_time=2000-01-01T00:00:00Z").json["data"]
    assert [o["id"] for o in listed] == [wrapped.json["data"]["id"]]
    for body, errors in [({"email": "a@opt.test"}, {"domain_id": ["can't be blank"]}),
                         ({"email": "a@opt.test", "domain_id": "first"},
                          {"domain_id": ["is not a sending domain of this account"]}),
                         ({"email": "", "domain_id": domain.domain_id}, {"email": ["can't be blank"]})]:
        r = api.post("/api/tracking_opt_outs", body)
        assert (r.status, r.json) == (422, {"errors": errors}), body
