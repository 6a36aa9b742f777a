"""The segment condition grammar (chalicelib/core/conditions.py): validation and evaluation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chalicelib.core import conditions
from chalicelib.core.conditions import Subject
from chalicelib.core.errors import Unprocessable

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def check(raw, **subject) -> bool:
    return conditions.evaluate(conditions.validate(raw), Subject(now=NOW, **subject))


def test_field_is_compares_values_and_a_missing_field_is_false():
    cond = [{"field": "plan", "operator": "is", "value": "pro"}]
    assert check(cond, fields={"plan": "pro"})
    assert check(cond, fields={"plan": "Pro"})  # "Is" is not case sensitive
    assert not check(cond, fields={"plan": "free"})
    assert not check(cond, fields={})  # seed-E G5: missing -> No
    assert not check([{"field": "plan", "operator": "is_not", "value": "pro"}], fields={})


def test_numbers_and_dates():
    assert check([{"field": "purchases", "operator": "gt", "value": 1000}], fields={"purchases": 1500})
    assert not check([{"field": "purchases", "operator": "gt", "value": 1000}], fields={"purchases": "500"})
    assert check([{"field": "purchases", "operator": "lt", "value": 10}], fields={"purchases": "5"})
    signup = [{"field": "signup_date", "operator": "after", "value": {"days_ago": 30}}]
    assert check(signup, fields={"signup_date": "2026-05-22"})
    assert not check(signup, fields={"signup_date": "2026-04-22"})
    assert check([{"field": "signup_date", "operator": "before", "value": "2026-01-01"}],
                 fields={"signup_date": "2025-12-31"})


def test_any_and_all_and_nested_groups():
    vip_or_big = {"match": "any", "conditions": [
        {"field": "tier", "operator": "is", "value": "VIP"},
        {"field": "purchases", "operator": "gt", "value": 1000}]}
    assert check(vip_or_big, fields={"tier": "VIP", "purchases": 5})
    assert check(vip_or_big, fields={"tier": "Gold", "purchases": 1500})
    assert not check(vip_or_big, fields={"tier": "Gold", "purchases": 500})
    nested = {"match": "all", "conditions": [
        {"source": "subscription_status", "operator": "is", "value": "subscribed"}, vip_or_big]}
    assert check(nested, status="subscribed", fields={"tier": "VIP"})
    assert not check(nested, status="unsubscribed", fields={"tier": "VIP"})


def test_lists_email_and_event_params():
    assert check([{"source": "list", "operator": "is", "value": 7}], list_ids={7, 8})
    assert check([{"field": "list_id", "operator": "is_not", "value": [1, 2]}], list_ids={7})
    assert check([{"field": "email", "operator": "contains", "value": "@acme."}], email="a@acme.io")
    amount = [{"field": "event.params.amount", "operator": "gt", "value": 50}]
    assert check(amount, event_params={"amount": 99.99})
    assert not check(amount, event_params={"amount": 10})
    assert not check(amount, event_params={})
    assert check([{"source": "event", "field": "product", "operator": "contains", "value": "premium"}],
                 event_params={"product": "Premium Plan"})


@pytest.mark.parametrize("raw,path", [
    ([], "conditions.conditions"),
    ({"match": "some", "conditions": [{"field": "a", "operator": "is", "value": 1}]}, "conditions.match"),
    ([{"field": "a", "operator": "near", "value": 1}], "conditions.conditions[0].operator"),
    ([{"field": "a", "operator": "gt", "value": "ten"}], "conditions.conditions[0].value"),
    ([{"field": "a", "operator": "contains", "value": 5}], "conditions.conditions[0].value"),
    ([{"field": "d", "operator": "before", "value": "yesterday"}], "conditions.conditions[0].value"),
    ([{"source": "list", "operator": "contains", "value": 1}], "conditions.conditions[0].operator"),
    ([{"source": "list", "operator": "is", "value": "abc"}], "conditions.conditions[0].value"),
    ([{"source": "subscription_status", "operator": "is", "value": "gone"}], "conditions.conditions[0].value"),
    ([{"operator": "is", "value": 1}], "conditions.conditions[0].field"),
    ([{"field": "a", "operator": "is"}], "conditions.conditions[0].value"),
])
def test_invalid_conditions_name_the_bad_part(raw, path):
    with pytest.raises(Unprocessable) as err:
        conditions.validate(raw)
    assert path in err.value.errors
