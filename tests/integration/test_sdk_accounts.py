"""The official mailtrap SDK manages accounts and API tokens against Postline."""

from __future__ import annotations

import mailtrap as mt
import pytest
from mailtrap.exceptions import APIError, AuthorizationError
from mailtrap.models.api_tokens import ApiTokenResource, CreateApiTokenParams

from tests.sdk import sdk_session


def test_sdk_lists_accounts_and_manages_tokens(sdk):
    mc, acct = sdk
    accounts = mc.general_api.accounts.get_list()
    assert [(a.id, a.name) for a in accounts] == [(acct.account_id, "Test Co")]
    assert accounts[0].access_levels == [100]

    tokens = mc.general_api.api_tokens
    created = tokens.create(acct.account_id, CreateApiTokenParams(
        name="sdk token", resources=[ApiTokenResource("account", acct.account_id, 10)]))
    assert created.token and created.last_4_digits == created.token[-4:]
    assert created.id in [t.id for t in tokens.get_list(acct.account_id)]
    assert tokens.get_by_id(acct.account_id, created.id).name == "sdk token"

    reset = tokens.reset(acct.account_id, created.id)
    assert reset.token != created.token and reset.name == f"sdk token token {reset.id}"
    assert tokens.get_by_id(acct.account_id, created.id).expires_at is not None

    tokens.delete(acct.account_id, reset.id)
    with pytest.raises(APIError) as err:
        tokens.get_by_id(acct.account_id, reset.id)
    assert err.value.status == 404


def test_sdk_permissions_and_accesses(sdk):
    mc, acct = sdk
    tree = mc.general_api.permissions.get_resources(acct.account_id)
    assert tree[0].type == "account" and tree[0].id == acct.account_id and tree[0].access_level == 100
    accesses = mc.general_api.account_accesses.get_list(acct.account_id)
    assert accesses[0].specifier_type == "User"
    assert accesses[0].specifier.email == "owner@test.example"


def test_sdk_bad_token_is_authorization_error(client, account):
    acct, _ = account
    with sdk_session(client):
        mc = mt.MailtrapClient(token="nope", account_id=str(acct.account_id))
        with pytest.raises(AuthorizationError) as err:
            mc.general_api.accounts.get_list()
    assert "Incorrect API token" in str(err.value)



def test_query_lists_read_both_bracket_and_plain_forms():
    from types import SimpleNamespace

    from chalice.app import MultiDict

    from chalicelib.core.http import query_list

    params = MultiDict({"domain_ids[]": ["4", "5"], "inbox_ids": ["7"]})
    bp = SimpleNamespace(current_request=SimpleNamespace(query_params=params))
    assert query_list(bp, "domain_ids") == ["4", "5"]
    assert query_list(bp, "inbox_ids") == ["7"]
    assert query_list(bp, "project_ids") == []
    assert query_list(SimpleNamespace(current_request=SimpleNamespace(query_params=None)), "x") == []
