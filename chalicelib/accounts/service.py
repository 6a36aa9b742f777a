"""Accounts, API tokens and access rules.

Token values are shown once (create, reset) and stored only as SHA-256 hashes: a token is
32 random bytes, so a slow password hash would add latency to every request and no safety.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from pynamodb.exceptions import DoesNotExist, UpdateError

from chalicelib.accounts import throttle
from chalicelib.accounts.models import Account, ApiToken, GrantAttribute
from chalicelib.accounts.request_models import (
    LEVEL_MESSAGE,
    PermissionChange,
    PermissionGrant,
    PermissionsBulk,
    TokenCreate,
    TokenReset,
)
from chalicelib.core import clock, db, ids, resources
from chalicelib.core.config import settings
from chalicelib.core.errors import Forbidden, NotFound, Unauthorized, Unprocessable
from chalicelib.core.permissions import ADMIN, OWNER, VIEWER, Grant, Principal

MAX_TOKEN_LIFETIME = timedelta(days=5 * 365)
_NAME_SUFFIX = re.compile(r"\s+token\s+\d+$")
_ALREADY_RESET = "Token has already been reset"
_NO_PERMISSIONS = "No permissions selected. Please choose at least one."
RESET_TOKEN_CANT_MANAGE = ("This API token was reset: until it expires it can send and read, but API tokens, "
                           "accesses and permissions can only be managed with its replacement")


def hash_token(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _new_token_value() -> str:
    return secrets.token_hex(16)


# ---------------------------------------------------------------- accounts


def create_account(name: str, owner_email: str, owner_name: str | None = None) -> tuple[Account, str]:
    """Create an account with its owner and a full-access token; returns the token value."""
    account = Account(
        ids.next_id("account"),
        name=name,
        owner_email=owner_email,
        owner_name=owner_name or owner_email.split("@")[0],
        owner_user_id=ids.next_id("user"),
        owner_access_id=ids.next_id("account_access"),
    )
    account.save()
    _, value = _issue_token(
        account.account_id,
        name=f"{name} owner token",
        grants=[Grant("account", account.account_id, ADMIN)],
        created_by=account.owner_email,
        expires_at=None,
    )
    return account, value


def get_account(account_id: int) -> Account:
    try:
        return Account.get(int(account_id))
    except DoesNotExist:
        raise NotFound() from None


def owners() -> Iterator[Account]:
    """Every account, with only its id and owner's email read (a schedule that mails owners)."""
    return Account.scan(attributes_to_get=["account_id", "owner_email"])


def list_accounts(principal: Principal) -> list[dict[str, Any]]:
    account = get_account(principal.account_id)
    levels = sorted({g.access_level for g in principal.grants}, reverse=True)
    return [{"id": account.account_id, "name": account.name, "access_levels": levels}]


# ---------------------------------------------------------------- authentication


def authenticate(token_value: str | None, client_ip: str | None = None) -> Principal:
    """The caller a token value stands for. Unauthorized when it stands for none, and
    TooManyFailures (429 / SMTP 454) once its IP or its prefix has failed too often."""
    throttle.check(client_ip, token_value)
    try:
        if not token_value:
            raise Unauthorized()
        return principal_for(hash_token(token_value))
    except Unauthorized:
        throttle.failed(client_ip, token_value)
        raise


def principal_for(token_hash: str) -> Principal:
    """The caller of a live token by its hash (Unauthorized once deleted or expired): what
    a long SMTP session asks again to notice a token revoked after it logged in."""
    try:
        token = ApiToken.get(token_hash, consistent_read=True)
    except DoesNotExist:
        raise Unauthorized() from None
    if token.expires_at is not None and token.expires_at <= clock.now():
        raise Unauthorized()
    return Principal(token.account_id, token.token_id, token.name, token.grants(), reset=token.reset_at is not None)


def require(principal: Principal, level: int, resource_type: str = "account",
            resource_id: int | None = None, parents: tuple[tuple[str, int], ...] = ()) -> None:
    if not principal.can(level, resource_type, resource_id, parents):
        raise Forbidden("Access forbidden")


def require_domain_admin(principal: Principal, domain_id: int) -> None:
    """Changing a record of a sending domain: a domain the caller can't see is 404 (its ids
    can't be probed), one it sees but doesn't administer 403."""
    visible = principal.resource_ids("domain", VIEWER)
    if visible is not None and domain_id not in visible:
        raise NotFound()
    require(principal, ADMIN, "domain", domain_id)


def require_manager(principal: Principal) -> None:
    """Account admin, with a token that was not reset: during its grace a reset token still
    sends and reads, but can't make tokens, accesses or permissions (which would let whoever
    holds a leaked token outlive the reset, or delete its replacement)."""
    require(principal, ADMIN)
    if principal.reset:
        raise Forbidden(RESET_TOKEN_CANT_MANAGE)


# ---------------------------------------------------------------- tokens


def token_to_wire(token: ApiToken, value: str | None = None) -> dict[str, Any]:
    body = {
        "id": token.token_id,
        "name": token.name,
        "last_4_digits": token.last_4_digits,
        "created_by": token.created_by,
        "expires_at": clock.iso(token.expires_at),
        "resources": [g.to_wire() for g in token.grants()],
    }
    if value is not None:
        body["token"] = value
    return body


def list_tokens(principal: Principal) -> list[ApiToken]:
    require(principal, ADMIN)
    return list(ApiToken.by_account.query(principal.account_id))


def get_token(principal: Principal, token_id: int) -> ApiToken:
    require(principal, ADMIN)
    found = list(ApiToken.by_account.query(principal.account_id, ApiToken.token_id == ids.path_id(token_id)))
    if not found:
        raise NotFound()
    return found[0]


def create_token(principal: Principal, params: TokenCreate) -> tuple[ApiToken, str]:
    require_manager(principal)
    grants = parse_grants(principal, params.resources)
    issued = _issue_token(
        principal.account_id,
        name=params.name,
        grants=grants,
        created_by=principal.token_name,
        expires_at=_expiry(params),
    )
    _activity(principal, "created", "created an API token", issued[0])
    return issued


def issue_domain_token(account_id: int, domain_id: int, domain_name: str,
                       created_by: str) -> tuple[ApiToken, str]:
    """The token every new sending domain gets (seed-B §3.2): named "<domain> token <id>",
    admin on that domain only, no expiry (it doubles as the domain's SMTP password)."""
    return _issue_token(account_id, name=domain_name, grants=[Grant("domain", int(domain_id), ADMIN)],
                        created_by=created_by, expires_at=None, suffix_id=True)


def reset_token(principal: Principal, token_id: int, params: TokenReset) -> tuple[ApiToken, str]:
    """Expire a token after the grace period and issue a new one with the same permissions."""
    require_manager(principal)
    old = get_token(principal, token_id)
    now = clock.now()
    if old.expires_at is not None and old.expires_at <= now:
        raise Unprocessable("Token has already expired")
    if old.reset_at is not None:
        raise Unprocessable(_ALREADY_RESET)
    new_expiry = _expiry(params)
    grace_end = now + timedelta(hours=settings().token_reset_grace_hours)
    try:
        old.update(
            actions=[
                ApiToken.reset_at.set(now),
                ApiToken.expires_at.set(min(old.expires_at, grace_end) if old.expires_at else grace_end),
            ],
            condition=ApiToken.reset_at.does_not_exist(),  # two concurrent resets: one wins
        )
    except UpdateError as exc:
        if db.condition_failed(exc):
            raise Unprocessable(_ALREADY_RESET) from None  # the other reset won
        raise
    base_name = _NAME_SUFFIX.sub("", old.name)
    issued = _issue_token(
        principal.account_id,
        name=base_name,
        grants=list(old.grants()),
        created_by=principal.token_name,
        expires_at=new_expiry,
        suffix_id=True,
    )
    _activity(principal, "reset", "reset an API token", old)
    return issued


def delete_token(principal: Principal, token_id: int) -> None:
    require_manager(principal)
    token_id = ids.path_id(token_id)
    tokens = list(ApiToken.by_account.query(principal.account_id))  # one read: the token and its siblings
    token = next((t for t in tokens if t.token_id == token_id), None)
    if token is None:
        raise NotFound()
    _refuse_if_last_token(token, tokens)
    token.delete()
    _activity(principal, "deleted", "deleted an API token", token)


def _activity(principal: Principal, what: str, description: str, token: ApiToken) -> None:
    from chalicelib.activity import service as activity  # the audit log (and its webhooks)

    activity.record(principal.account_id, principal, f"api_token.{what}", description,
                    {"id": token.token_id, "type": "api_token", "name": token.name})


def purge_expired_tokens(older_than: timedelta = timedelta(hours=24)) -> int:
    """Delete tokens whose expiry passed more than ``older_than`` ago (the seeds: within 24 h)."""
    cutoff = clock.now() - older_than
    purged = 0
    for token in ApiToken.scan(ApiToken.expires_at < cutoff):
        token.delete()
        purged += 1
    return purged


def _issue_token(account_id: int, *, name: str, grants: list[Grant], created_by: str,
                 expires_at: Any, suffix_id: bool = False) -> tuple[ApiToken, str]:
    value = _new_token_value()
    token_id = ids.next_id("api_token")
    token = ApiToken(
        hash_token(value),
        account_id=account_id,
        token_id=token_id,
        access_id=ids.next_id("account_access"),
        name=f"{name} token {token_id}" if suffix_id else name,
        last_4_digits=value[-4:],
        created_by=created_by,
        expires_at=expires_at,
        resources=[GrantAttribute.from_grant(g) for g in grants],
    )
    token.save(condition=ApiToken.token_hash.does_not_exist())
    return token, value


def _expiry(params: TokenCreate | TokenReset) -> Any:
    """The expiry asked for: left out is the standard lifetime, ``null`` never."""
    now = clock.now()
    if "expires_at" not in params.model_fields_set:
        return now + timedelta(days=settings().default_token_lifetime_days)
    when = params.expires_at
    if when is None:
        return None
    if when <= now:
        raise Unprocessable.field("expires_at", "must be in the future")
    if when > now + MAX_TOKEN_LIFETIME:
        raise Unprocessable.field("expires_at", "must be at most 5 years ahead")
    return when


def parse_grants(principal: Principal, requested: list[PermissionGrant] | list[PermissionChange]) -> list[Grant]:
    """The grants requested, if allowed: known types, resources of this account, no escalation."""
    if not requested:
        raise Unprocessable(_NO_PERMISSIONS)
    grants: dict[tuple[str, int], Grant] = {}
    for item in requested:
        rtype, rid, level = item.resource_type, item.resource_id, item.access_level
        if level is None:  # a bulk change may leave it out only to remove the permission
            raise Unprocessable.field("access_level", LEVEL_MESSAGE)
        if rtype == "account":
            if rid != principal.account_id:
                raise Forbidden("Account access forbidden")
        else:
            kind = resources.get(rtype)
            if kind is None:
                raise Unprocessable.field("resource_type", f"'{rtype}' is not a known resource type")
            if not kind.exists(principal.account_id, rid):
                raise Unprocessable.field("resource_id", f"{rtype} {rid} does not exist")
        if not principal.can(level, rtype, rid):
            raise Forbidden("Access forbidden")
        grants[(rtype, rid)] = Grant(rtype, rid, level)
    return list(grants.values())


def _active(token: ApiToken) -> bool:
    return token.reset_at is None and (token.expires_at is None or token.expires_at > clock.now())


def _resource_exists(resource_type: str, account_id: int, resource_id: int) -> bool:
    kind = resources.get(resource_type)
    return kind is not None and kind.exists(account_id, resource_id)


def _refuse_if_last_token(token: ApiToken, account_tokens: list[ApiToken]) -> None:
    """The seeds: the last token of a domain can't be deleted. Likewise the last account admin
    token, or the account would be locked out of its own API. ``account_tokens`` is every token
    of the account (the caller has already read them to find ``token``)."""
    others = [t for t in account_tokens if t.token_id != token.token_id and _active(t)]
    for grant in token.grants():
        if grant.access_level < ADMIN:
            continue
        if grant.resource_type == "account":
            if not any(Principal(t.account_id, t.token_id, t.name, t.grants()).is_account_admin()
                       for t in others):
                raise Unprocessable("You can't delete the last account admin token")
        elif grant.resource_type == "domain" and _resource_exists("domain", token.account_id, grant.resource_id):
            if not any(g.resource_type == "domain" and g.resource_id == grant.resource_id
                       and g.access_level >= ADMIN for t in others for g in t.grants()):
                raise Unprocessable("You can't delete the last token of a domain")


# ---------------------------------------------------------------- accesses and resources


def list_account_accesses(principal: Principal) -> list[dict]:
    """Users and invites with access to the account (the owner; Postline has no invites yet)."""
    require(principal, ADMIN)
    account = get_account(principal.account_id)
    return [{
        "id": account.owner_access_id,
        "specifier_type": "User",
        "specifier": {
            "id": account.owner_user_id,
            "email": account.owner_email,
            "name": account.owner_name,
            "two_factor_authentication_enabled": False,
        },
        "resources": [{"resource_id": account.account_id, "resource_type": "account", "access_level": OWNER}],
        "permissions": {"can_read": True, "can_update": False, "can_destroy": False, "can_leave": False},
    }]


def _token_by_access_id(tokens: list[ApiToken], access_id: int) -> ApiToken:
    for token in tokens:
        if token.access_id == access_id:
            return token
    raise NotFound()


def delete_account_access(principal: Principal, access_id: int) -> None:
    require_manager(principal)
    access_id = ids.path_id(access_id)
    account = get_account(principal.account_id)
    if access_id == account.owner_access_id:
        raise Unprocessable("The account owner's access can't be removed")
    tokens = list(ApiToken.by_account.query(principal.account_id))
    token = _token_by_access_id(tokens, access_id)
    _refuse_if_last_token(token, tokens)
    token.delete()
    _activity(principal, "deleted", "deleted an API token", token)


def _activity(principal: Principal, what: str, description: str, token: ApiToken) -> None:
    from chalicelib.activity import service as activity  # the audit log (and its webhooks)

    activity.record(principal.account_id, principal, f"api_token.{what}", description,
                    {"id": token.token_id, "type": "api_token", "name": token.name})


def bulk_update_permissions(principal: Principal, access_id: int, params: PermissionsBulk) -> dict[str, str]:
    """Create, update (same type and id) or remove (``_destroy``) a token's permissions."""
    require_manager(principal)
    access_id = ids.path_id(access_id)
    account = get_account(principal.account_id)
    if access_id == account.owner_access_id:
        raise Unprocessable("The account owner's permissions can't be changed")
    token = _token_by_access_id(list(ApiToken.by_account.query(principal.account_id)), access_id)
    if not params.permissions:
        raise Unprocessable(_NO_PERMISSIONS)
    current = {(g.resource_type, g.resource_id): g for g in token.grants()}
    keep = [p for p in params.permissions if not p.destroy]
    for grant in parse_grants(principal, keep) if keep else []:
        current[(grant.resource_type, grant.resource_id)] = grant
    for item in params.permissions:
        if item.destroy:
            current.pop((item.resource_type, item.resource_id), None)
    if not current:
        raise Unprocessable(_NO_PERMISSIONS)
    token.update(actions=[ApiToken.resources.set([GrantAttribute.from_grant(g) for g in current.values()])])
    return {"message": "Permissions have been updated!"}


def permission_resources(principal: Principal) -> list[dict[str, Any]]:
    """The account's resources the token has admin access to, nested by hierarchy."""
    account = get_account(principal.account_id)

    def node(n: resources.ResourceNode, parents: tuple[tuple[str, int], ...]) -> dict[str, Any] | None:
        level = principal.level_for(n.type, n.id, parents)
        children = [c for c in (node(ch, parents + ((n.type, n.id),)) for ch in n.children) if c]
        if level < ADMIN and not children:
            return None
        return {"id": n.id, "name": n.name, "type": n.type, "access_level": level, "resources": children}

    root = resources.ResourceNode(account.account_id, account.name, "account",
                                  [n for kind in resources.all_types() for n in kind.nodes(account.account_id)])
    tree = node(root, ())
    return [tree] if tree else []
