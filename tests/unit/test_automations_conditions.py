"""Event-param conditions of conditional splits (chalicelib/automations/conditions.py); the
contact side is the contacts' segment grammar, exercised end to end in the runs tests."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chalicelib.automations import conditions
from chalicelib.automations.adapters import ContactView
from chalicelib.core.errors import Unprocessable

NOW = datetime(2026, 6, 1, tzinfo=UTC)
NOBODY = ContactView("c", "c@x.io")


def check(raw, **params) -> bool:
    return conditions.evaluate(1, conditions.parse(raw, "conditions"), NOBODY, params, NOW)


def cond(op, value=None, key="amount"):
    out = {"field": f"event.params.{key}", "operator": op}
    if value is not None:
        out["value"] = value
    return out


def test_numbers_text_and_presence():
    assert check([cond("greater_than", 50)], amount=99.99)
    assert not check([cond("gt", 50)], amount=10)
    assert check([cond("less_than", 50)], amount="10")
    assert not check([cond("greater_than", 50)])  # missing param -> No (seed-E G5)
    assert not check([cond("is_not", 5)])
    assert check([cond("is_not_set")]) and not check([cond("is_set")])
    assert check([cond("is", "Premium plan", "product")], product="premium PLAN")
    assert check([cond("contains", "prem", "product")], product="Premium Plan")
    assert check([cond("does_not_contain", "basic", "product")], product="Premium Plan")
    assert check([cond("is", True, "trial")], trial=True) and not check([cond("is", True, "trial")], trial=False)


def test_dates_and_days_ago():
    assert check([cond("after", {"days_ago": 30}, "at")], at="2026-05-20")
    assert not check([cond("after", {"days_ago": 30}, "at")], at="2026-04-20")
    assert check([cond("before", "2026-01-01", "at")], at="2025-12-31T23:00:00Z")


def test_any_all_and_groups():
    either = {"match": "any", "conditions": [cond("greater_than", 100), cond("is", "vip", "tier")]}
    assert check(either, amount=5, tier="vip") and check(either, amount=500) and not check(either, amount=5)
    both = {"match": "all", "groups": [{"match": "any", "conditions": [cond("greater_than", 100)]},
                                       {"match": "all", "conditions": [cond("is", "web", "source")]}]}
    assert check(both, amount=101, source="web") and not check(both, amount=101, source="api")


@pytest.mark.parametrize("raw,path", [
    ([], "conditions.conditions"),
    ({"match": "some", "conditions": [cond("is", 1)]}, "conditions.match"),
    ({"match": "all", "groups": []}, "conditions.groups"),
    ([cond("near", 1)], "conditions.conditions[0].operator"),
    ([cond("greater_than", "ten")], "conditions.conditions[0].value"),
    ([cond("contains", 5)], "conditions.conditions[0].value"),
    ([cond("before", "yesterday")], "conditions.conditions[0].value"),
    ([cond("is")], "conditions.conditions[0].value"),
    ([{"field": "event.params.", "operator": "is", "value": 1}], "conditions.conditions[0].field"),
    (["plan is pro"], "conditions.conditions[0]"),
])
def test_invalid_conditions_name_the_bad_part(raw, path):
    with pytest.raises(Unprocessable) as err:
        conditions.parse(raw, "conditions")
    assert path in err.value.errors


def test_opened_and_clicked_read_the_runs_emails():
    def engaged(raw, seen):
        return conditions.evaluate(1, conditions.parse(raw, "conditions"), NOBODY, {}, NOW, seen)

    opened, clicked = {"field": "email.opened", "step_id": 2}, {"field": "email.clicked", "step_id": 2}
    assert engaged([opened], {2: {"opened"}}) and not engaged([clicked], {2: {"opened"}})
    assert not engaged([opened], {}) and not engaged([opened], {5: {"opened"}})  # not sent, or another email
    assert engaged([{**opened, "operator": "is_not"}], {}) and engaged([{**opened, "value": False}], {2: set()})
    assert engaged({"match": "any", "conditions": [clicked, cond("is", 1)]}, {2: {"clicked"}})
    with pytest.raises(Unprocessable):
        conditions.parse([{**opened, "operator": "contains"}], "conditions")
