"""Account management routes: accounts, API tokens, accesses, permission resources."""

from __future__ import annotations

from chalice import Blueprint

from chalicelib.accounts import service
from chalicelib.accounts.request_models import PermissionsBulk, TokenCreate, TokenReset
from chalicelib.activity import service as activity
from chalicelib.core import ids
from chalicelib.core.http import api_route, authenticator, no_content, principal, request_body
from chalicelib.core.permissions import VIEWER

bp = Blueprint(__name__)
authenticator(service.authenticate)  # every route's principal() asks accounts who a token is


@api_route(bp, "/api/accounts", ["GET"], prefixed=False)
def list_accounts():
    return service.list_accounts(principal(bp))


@api_route(bp, "/api_tokens", ["GET"])
def list_api_tokens(account_id=None):
    return [service.token_to_wire(t) for t in service.list_tokens(principal(bp, account_id))]


@api_route(bp, "/api_tokens", ["POST"], body=TokenCreate)
def create_api_token(account_id=None):
    who = principal(bp, account_id)
    token, value = service.create_token(who, request_body(bp))
    return service.token_to_wire(token, value)


@api_route(bp, "/api_tokens/{token_id}", ["GET"])
def get_api_token(token_id, account_id=None):
    return service.token_to_wire(service.get_token(principal(bp, account_id), token_id))


@api_route(bp, "/api_tokens/{token_id}", ["DELETE"])
def delete_api_token(token_id, account_id=None):
    service.delete_token(principal(bp, account_id), token_id)
    return no_content()


@api_route(bp, "/api_tokens/{token_id}/reset", ["POST"], body=TokenReset)
def reset_api_token(token_id, account_id=None):
    who = principal(bp, account_id)
    token, value = service.reset_token(who, token_id, request_body(bp, allow_empty=True))
    return service.token_to_wire(token, value)


@api_route(bp, "/permissions/resources", ["GET"])
def permission_resources(account_id=None):
    return service.permission_resources(principal(bp, account_id))


@api_route(bp, "/account_accesses", ["GET"])
def list_account_accesses(account_id=None):
    return service.list_account_accesses(principal(bp, account_id))


@api_route(bp, "/account_accesses/{access_id}", ["DELETE"])
def delete_account_access(access_id, account_id=None):
    service.delete_account_access(principal(bp, account_id), access_id)
    return {"id": ids.path_id(access_id)}


@api_route(bp, "/account_accesses/{access_id}/permissions/bulk", ["PUT"], body=PermissionsBulk)
def bulk_update_permissions(access_id, account_id=None):
    who = principal(bp, account_id)
    return service.bulk_update_permissions(who, access_id, request_body(bp))


@api_route(bp, "/activity_log", ["GET"])
def list_activity(account_id=None):
    """The account's last activities (its viewers may read them; the activity package keeps them)."""
    who = principal(bp, account_id)
    service.require(who, VIEWER)
    return {"data": activity.list_entries(who.account_id)}
