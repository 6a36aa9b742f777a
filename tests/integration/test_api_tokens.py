"""API tokens: shown once, stored hashed, reset with a 12-hour grace, deletion rules."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from chalicelib.accounts.models import ApiToken
from chalicelib.core import clock


def test_token_value_is_returned_once_and_stored_only_as_hash(api, account):
    acct, _ = account
    r = api.post(f"/api/accounts/{acct.account_id}/api_tokens", {
        "name": "CI", "resources": [{"resource_type": "account", "resource_id": acct.account_id, "access_level": 10}]})
    assert r.status == 200, r
    value = r.json["token"]
    assert r.json["last_4_digits"] == value[-4:]
    assert r.json["resources"] == [{"resource_type": "account", "resource_id": acct.account_id, "access_level": 10}]
    stored = ApiToken.get(hashlib.sha256(value.encode()).hexdigest())
    assert value not in str(stored.attribute_values)

    listed = api.get(f"/api/accounts/{acct.account_id}/api_tokens").json
    assert all("token" not in t for t in listed)
    assert {t["id"] for t in listed} >= {r.json["id"]}
    one = api.get(f"/api/accounts/{acct.account_id}/api_tokens/{r.json['id']}")
    assert one.status == 200 and "token" not in one.json
    # and it authenticates
    assert api.get("/api/accounts", token=value).status == 200


def test_unprefixed_paths_work_with_account_from_token(api, account):
    acct, _ = account
    grant = {"resource_type": "account", "resource_id": acct.account_id, "access_level": 100}
    r = api.post("/api/api_tokens", {"name": "short", "resources": [grant]})
    assert r.status == 200
    assert api.get(f"/api/api_tokens/{r.json['id']}").json["name"] == "short"


def test_default_expiry_one_year_null_means_never_past_rejected(api, account):
    acct, _ = account
    res = [{"resource_type": "account", "resource_id": acct.account_id, "access_level": 10}]
    default = api.post("/api/api_tokens", {"name": "a", "resources": res}).json
    expires = clock.parse_iso(default["expires_at"])
    assert timedelta(days=364) < expires - clock.now() <= timedelta(days=365)
    never = api.post("/api/api_tokens", {"name": "b", "resources": res, "expires_at": None}).json
    assert never["expires_at"] is None
    past = api.post("/api/api_tokens", {"name": "c", "resources": res, "expires_at": "2001-01-01T00:00:00Z"})
    assert past.status == 422 and "expires_at" in past.json["errors"]
    far = api.post("/api/api_tokens", {"name": "d", "resources": res,
                                        "expires_at": clock.iso(clock.now() + timedelta(days=6 * 365))})
    assert far.status == 422


def test_validation_errors_are_422_with_field_messages(api, account):
    acct, _ = account
    r = api.post("/api/api_tokens", {"resources": [
        {"resource_type": "account", "resource_id": acct.account_id, "access_level": 10}]})
    assert r.status == 422 and r.json == {"errors": {"name": ["can't be blank"]}}
    r = api.post("/api/api_tokens", {"name": "x", "resources": []})
    assert r.status == 422
    assert r.json == {"errors": {"base": ["No permissions selected. Please choose at least one."]}}
    r = api.post("/api/api_tokens", {"name": "x", "resources": [
        {"resource_type": "account", "resource_id": acct.account_id, "access_level": 55}]})
    assert r.status == 422 and "access_level" in r.json["errors"]
    r = api.post("/api/api_tokens", {"name": "x", "resources": [
        {"resource_type": "galaxy", "resource_id": 1, "access_level": 10}]})
    assert r.status == 422 and "resource_type" in r.json["errors"]


def test_a_malformed_permission_or_expiry_names_its_field(api, account):
    """The request models keep the words and the flat field names the hand-written checks had."""
    acct, _ = account
    grant = {"resource_type": "sending_domain", "resource_id": str(acct.account_id), "access_level": "Viewer"}
    r = api.post("/api/api_tokens", {"name": "x", "resources": [5]})
    assert (r.status, r.json) == (422, {"errors": {"resources": ["must be an array of objects"]}})
    r = api.post("/api/api_tokens", {"name": "x", "resources": [{**grant, "resource_id": "one"}]})
    assert (r.status, r.json) == (422, {"errors": {"resource_id": ["must be an integer"]}})
    r = api.post("/api/api_tokens", {"name": "x", "resources": [grant], "expires_at": 5})
    assert (r.status, r.json) == (422, {"errors": {"expires_at": ["must be an ISO 8601 date-time or null"]}})
    r = api.post("/api/api_tokens", {"name": "  " + "x" * 256, "resources": [grant]})
    assert (r.status, r.json) == (422, {"errors": {"name": ["is too long (maximum is 255 characters)"]}})
    r = api.post("/api/api_tokens", {"api_token": {"name": " wrapped ", "resources": [
        {**grant, "resource_type": "account"}]}})
    assert r.status == 200 and r.json["name"] == "wrapped"
    assert r.json["resources"] == [{"resource_type": "account", "resource_id": acct.account_id, "access_level": 10}]
    access = ApiToken.get(hashlib.sha256(r.json["token"].encode()).hexdigest()).access_id
    r = api.put(f"/api/account_accesses/{access}/permissions/bulk", {"permissions": [{**grant, "access_level": None}]})
    assert (r.status, r.json) == (422, {"errors": {"access_level": ["must be 100 (admin) or 10 (viewer)"]}})


def test_reset_keeps_old_token_for_12_hours_then_refuses_it(api, account):
    acct, _ = account
    res = [{"resource_type": "account", "resource_id": acct.account_id, "access_level": 100}]
    old = api.post("/api/api_tokens", {"name": "deploy", "resources": res}).json
    new = api.post(f"/api/api_tokens/{old['id']}/reset").json
    assert new["token"] != old["token"]
    assert new["name"] == f"deploy token {new['id']}"
    assert new["resources"] == old["resources"]

    clock.advance(timedelta(hours=11, minutes=59))
    assert api.get("/api/accounts", token=old["token"]).status == 200
    clock.advance(timedelta(minutes=2))
    r = api.get("/api/accounts", token=old["token"])
    assert r.status == 401 and r.json == {"error": "Incorrect API token"}
    assert api.get("/api/accounts", token=new["token"]).status == 200


def test_reset_twice_is_refused(api, account):
    acct, _ = account
    res = [{"resource_type": "account", "resource_id": acct.account_id, "access_level": 100}]
    old = api.post("/api/api_tokens", {"name": "x", "resources": res}).json
    assert api.post(f"/api/api_tokens/{old['id']}/reset").status == 200
    again = api.post(f"/api/api_tokens/{old['id']}/reset")
    assert again.status == 422


def test_expired_tokens_are_purged_a_day_after_expiry(api, account):
    from chalicelib.accounts import service

    acct, _ = account
    res = [{"resource_type": "account", "resource_id": acct.account_id, "access_level": 100}]
    old = api.post("/api/api_tokens", {"name": "x", "resources": res}).json
    api.post(f"/api/api_tokens/{old['id']}/reset")
    clock.advance(timedelta(hours=12 + 23))
    service.purge_expired_tokens()
    assert api.get(f"/api/api_tokens/{old['id']}").status == 200
    clock.advance(timedelta(hours=2))
    service.purge_expired_tokens()
    assert api.get(f"/api/api_tokens/{old['id']}").status == 404


def test_delete_takes_effect_at_once_but_not_for_last_admin(api, account):
    acct, owner_token = account
    owner_id = [t for t in api.get("/api/api_tokens").json][0]["id"]
    assert api.delete(f"/api/api_tokens/{owner_id}").status == 422  # the only admin token

    res = [{"resource_type": "account", "resource_id": acct.account_id, "access_level": 100}]
    second = api.post("/api/api_tokens", {"name": "second", "resources": res}).json
    assert api.delete(f"/api/api_tokens/{second['id']}").status == 204
    assert api.get("/api/accounts", token=second["token"]).status == 401
    assert api.get(f"/api/api_tokens/{second['id']}").status == 404


def test_viewer_token_cannot_manage_tokens(api, account):
    acct, _ = account
    viewer = api.post("/api/api_tokens", {"name": "v", "resources": [
        {"resource_type": "account", "resource_id": acct.account_id, "access_level": 10}]}).json
    r = api.get("/api/api_tokens", token=viewer["token"])
    assert r.status == 403 and r.json == {"errors": "Access forbidden"}
    r = api.post("/api/api_tokens", {"name": "escalate", "resources": [
        {"resource_type": "account", "resource_id": acct.account_id, "access_level": 100}]}, token=viewer["token"])
    assert r.status == 403


def test_both_auth_headers_are_accepted(api, account):
    _, token = account
    assert api.get("/api/accounts", token=None, headers={"Api-Token": token}).status == 200
    assert api.get("/api/accounts", token=None, headers={"Authorization": f"Bearer {token}"}).status == 200
    assert api.get("/api/accounts", token=None).status == 401
    assert api.get("/api/accounts", token=None, headers={"Authorization": "Basic abc"}).status == 401


def test_non_integer_ids_in_urls_are_404_not_500(api, account):
    acct, _ = account
    assert api.get("/api/api_tokens/abc").status == 404
    assert api.get(f"/api/accounts/{acct.account_id}/api_tokens/abc").status == 404
    assert api.delete("/api/api_tokens/abc").status == 404
    assert api.post("/api/api_tokens/abc/reset").status == 404
    assert api.delete("/api/account_accesses/abc").status == 404
    grant = {"resource_type": "account", "resource_id": acct.account_id, "access_level": 10}
    assert api.put("/api/account_accesses/abc/permissions/bulk", {"permissions": [grant]}).status == 404


def test_concurrent_resets_of_one_token_give_one_new_token_and_a_422(api, account, monkeypatch):
    """Two resets that both read the token before either wrote: the conditional update lets one
    through; the other answers like a sequential second reset (422), not with a 500."""
    from chalicelib.accounts import service

    acct, _ = account
    res = [{"resource_type": "account", "resource_id": acct.account_id, "access_level": 100}]
    old = api.post("/api/api_tokens", {"name": "race", "resources": res}).json
    stale = ApiToken.get(hashlib.sha256(old["token"].encode()).hexdigest())  # read before either reset
    assert stale.reset_at is None
    assert api.post(f"/api/api_tokens/{old['id']}/reset").status == 200  # the winner
    before = {t["id"] for t in api.get("/api/api_tokens").json}

    monkeypatch.setattr(service, "get_token", lambda principal, token_id: stale)
    loser = api.post(f"/api/api_tokens/{old['id']}/reset")
    assert loser.status == 422, loser
    assert loser.json == {"errors": {"base": ["Token has already been reset"]}}
    monkeypatch.undo()
    assert {t["id"] for t in api.get("/api/api_tokens").json} == before  # no second new token


def test_deleting_an_access_removes_its_token_but_not_the_last_admin(api, account):
    acct, owner_token = account
    res = [{"resource_type": "account", "resource_id": acct.account_id, "access_level": 100}]
    second = api.post("/api/api_tokens", {"name": "second", "resources": res}).json
    owner_access = ApiToken.get(hashlib.sha256(owner_token.encode()).hexdigest()).access_id
    second_access = ApiToken.get(hashlib.sha256(second["token"].encode()).hexdigest()).access_id

    r = api.delete(f"/api/account_accesses/{second_access}")
    assert r.status == 200 and r.json == {"id": second_access}
    assert api.get("/api/accounts", token=second["token"]).status == 401
    assert api.delete(f"/api/account_accesses/{second_access}").status == 404
    r = api.delete(f"/api/account_accesses/{owner_access}")  # now the only admin token
    assert r.status == 422 and "last account admin token" in r.body.decode()
    assert api.delete(f"/api/account_accesses/{acct.owner_access_id}").status == 422  # the owner


def test_account_accesses_accepts_and_ignores_sdk_filter_params(api, account):
    # The SDK may send domain_ids[]/inbox_ids[]/project_ids[]; Postline lists only the owner
    # (no invites), so they narrow nothing and must not break the call.
    plain = api.get("/api/account_accesses")
    assert plain.status == 200 and len(plain.json) == 1
    filtered = api.get("/api/account_accesses?domain_ids[]=1&inbox_ids[]=2&project_ids[]=3")
    assert filtered.status == 200 and filtered.json == plain.json


def test_bulk_permissions_update_by_level_name_and_destroy(api, account):
    acct, _ = account
    viewer = api.post("/api/api_tokens", {"name": "v", "resources": [
        {"resource_type": "account", "resource_id": acct.account_id, "access_level": 10}]}).json
    access = ApiToken.get(hashlib.sha256(viewer["token"].encode()).hexdigest()).access_id
    bulk = f"/api/account_accesses/{access}/permissions/bulk"
    account_grant = {"resource_type": "account", "resource_id": str(acct.account_id)}

    r = api.put(bulk, {"permissions": [{**account_grant, "access_level": "Admin"}]})
    assert r.status == 200 and r.json == {"message": "Permissions have been updated!"}
    assert api.get(f"/api/api_tokens/{viewer['id']}").json["resources"] == [
        {"resource_type": "account", "resource_id": acct.account_id, "access_level": 100}]
    assert api.put(bulk, {"permissions": [{**account_grant, "access_level": "owner"}]}).status == 422
    r = api.put(bulk, {"permissions": [{"resource_type": "account", "resource_id": "x", "_destroy": True}]})
    assert r.status == 422 and "resource_id" in r.json["errors"]
    r = api.put(bulk, {"permissions": [{**account_grant, "_destroy": True}]})  # would leave none
    assert r.status == 422
    assert r.json == {"errors": {"base": ["No permissions selected. Please choose at least one."]}}
    assert api.get("/api/api_tokens", token=viewer["token"]).status == 200  # still admin


def test_a_reset_token_sends_and_reads_in_its_grace_but_manages_nothing(api, account):
    from chalicelib.accounts.service import RESET_TOKEN_CANT_MANAGE
    from tests.sending_support import take, verified_domain

    acct, _ = account
    domain = verified_domain(acct.account_id)
    res = [{"resource_type": "account", "resource_id": acct.account_id, "access_level": 100}]
    old = api.post("/api/api_tokens", {"name": "leaked", "resources": res}).json
    new = api.post(f"/api/api_tokens/{old['id']}/reset").json
    new_access = ApiToken.get(hashlib.sha256(new["token"].encode()).hexdigest()).access_id
    before = api.get("/api/api_tokens").json
    stale = old["token"]

    refused = {
        "create a never-expiring admin token": api.post(
            "/api/api_tokens", {"name": "backdoor", "resources": res, "expires_at": None}, token=stale),
        "delete its replacement": api.delete(f"/api/api_tokens/{new['id']}", token=stale),
        "reset its replacement": api.post(f"/api/api_tokens/{new['id']}/reset", token=stale),
        "delete its replacement's access": api.delete(f"/api/account_accesses/{new_access}", token=stale),
        "downgrade its replacement": api.put(f"/api/account_accesses/{new_access}/permissions/bulk", {"permissions": [
            {"resource_type": "account", "resource_id": acct.account_id, "access_level": 10}]}, token=stale),
        "create a domain (which makes a token)": api.post(
            "/api/domains", {"domain": {"domain_name": "backdoor-example.com"}}, token=stale),
    }
    for what, r in refused.items():
        assert (r.status, r.json) == (403, {"errors": RESET_TOKEN_CANT_MANAGE}), what
    assert "was reset" in RESET_TOKEN_CANT_MANAGE
    assert api.get("/api/api_tokens").json == before  # nothing was made, changed or deleted
    # it still reads and sends until its grace ends; its replacement manages
    assert api.get("/api/api_tokens", token=stale).status == 200
    sent = api.post("/api/send", {"from": {"email": f"app@{domain.domain_name}"}, "to": [{"email": "a@rcpt.test"}],
                                  "subject": "Hi", "text": "Hi"}, token=stale, host="send.postline.test")
    assert sent.status == 200 and sent.json["success"] is True
    take("transactional")
    assert api.post("/api/api_tokens", {"name": "fine", "resources": res}, token=new["token"]).status == 200
