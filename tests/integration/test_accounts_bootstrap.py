"""The deployment's first owner account, made by the bootstrap function (`make bootstrap`)."""

from __future__ import annotations

import io
import logging

import pytest

from chalicelib.accounts import service as accounts
from chalicelib.core import logs
from chalicelib.core.ids import Counter


@pytest.fixture()
def fresh_deployment():
    """As if nothing was bootstrapped yet (the claim is one item for the whole deployment)."""
    Counter("bootstrap").delete()
    yield
    Counter("bootstrap").delete()


def test_the_first_owner_is_made_once_and_its_token_is_returned_but_never_logged(client, fresh_deployment):
    out = io.StringIO()
    handler = logs.prepare(logging.StreamHandler(out), as_json=True)
    logging.getLogger().addHandler(handler)
    try:
        bad = client.lambda_.invoke("bootstrap", {"owner_email": "not an address"}).payload
        made = client.lambda_.invoke("bootstrap", {"owner_email": "ops@acme.test", "account_name": "Acme"}).payload
        again = client.lambda_.invoke("bootstrap", {"owner_email": "mallory@evil.test"}).payload
    finally:
        logging.getLogger().removeHandler(handler)
    assert bad == {"error": "'not an address' is not a valid email address"}  # and it did not use up the claim
    principal = accounts.authenticate(made["api_token"])
    assert principal.account_id == made["account_id"] and made["owner_email"] == "ops@acme.test"
    assert accounts.get_account(made["account_id"]).name == "Acme"
    assert "already has its owner account" in again["error"] and "api_token" not in again
    logged = out.getvalue()
    assert made["api_token"] not in logged
    assert f"bootstrap: owner account {made['account_id']} created" in logged
    assert logged.count('"message": "function bootstrap: done') == 3  # one line per invocation, no result
