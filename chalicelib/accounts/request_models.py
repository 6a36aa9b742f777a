"""What the account routes accept: API tokens (create, reset) and an access's permissions."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema

from chalicelib.core.errors import PostlineError, Unprocessable
from chalicelib.core.permissions import GRANTABLE_LEVELS, LEVEL_NAMES, RESOURCE_ALIASES
from chalicelib.core.request_models import Invalid, RequestModel, integer_id, not_blank

LEVEL_MESSAGE = "must be 100 (admin) or 10 (viewer)"
_GRANTABLE_BY_NAME = {LEVEL_NAMES[level]: level for level in GRANTABLE_LEVELS}  # "admin", "viewer"


def _access_level(value: Any) -> int | None:
    """100 or 10, as a number, a string of digits or the level's name in any case."""
    if value is None:
        return None
    if isinstance(value, str) and value.strip().lower() in _GRANTABLE_BY_NAME:
        return _GRANTABLE_BY_NAME[value.strip().lower()]
    level = value if isinstance(value, int) and not isinstance(value, bool) else None
    if isinstance(value, str) and value.strip().isdigit():
        level = int(value)
    if level not in GRANTABLE_LEVELS:
        raise Invalid(LEVEL_MESSAGE)
    return level


def _required_level(value: Any) -> int:
    level = _access_level(value)
    if level is None:
        raise Invalid(LEVEL_MESSAGE)
    return level


def _expiry(value: Any) -> datetime | None:
    from chalicelib.core import clock

    if value is None:
        return None
    try:
        return clock.parse_iso(value)
    except (TypeError, ValueError, AttributeError):
        raise Invalid("must be an ISO 8601 date-time or null") from None


Level = Annotated[int, BeforeValidator(_required_level),
                  WithJsonSchema({"description": "100 (admin) or 10 (viewer), or the name: admin, viewer",
                                  "anyOf": [{"type": "integer", "enum": [100, 10]}, {"type": "string"}]})]
ResourceType = Annotated[str, AfterValidator(lambda named: RESOURCE_ALIASES.get(named, named))]
ResourceId = Annotated[int, BeforeValidator(integer_id("must be an integer")),
                       WithJsonSchema({"anyOf": [{"type": "integer"}, {"type": "string"}]})]
Expiry = Annotated[datetime | None, BeforeValidator(_expiry)]


def _flat(errors: dict[str, list[str]], listed: str) -> Unprocessable:
    """Errors of one listed permission name its field alone (``access_level``), as before."""
    out: dict[str, list[str]] = {}
    for key, messages in errors.items():
        inner = re.fullmatch(rf"{listed}\[\d+\](?:\.(.+))?", key)
        if inner:
            key = inner.group(1) or listed
            messages = ["must be an array of objects" if m == "must be an object" else m for m in messages]
        out.setdefault(key, []).extend(m for m in messages if m not in out.get(key, []))
    return Unprocessable(out)


class PermissionGrant(RequestModel):
    """One permission a token gets: a resource of the account and a level on it."""

    resource_type: ResourceType = Field(description="account, domain (sending_domain), project or inbox (sandbox)")
    resource_id: ResourceId
    access_level: Level


class TokenCreate(RequestModel):
    """A new API token (``{"api_token": {...}}`` or the bare fields). ``expires_at`` left out
    means the standard lifetime (one year), ``null`` never."""

    envelope: ClassVar[str] = "api_token"
    # the length constraint goes before the BeforeValidator, or pydantic reports it in "items"
    name: Annotated[str, Field(max_length=255), BeforeValidator(not_blank), AfterValidator(str.strip)]
    resources: Annotated[list[PermissionGrant], BeforeValidator(lambda v: [] if v is None else v)] = Field(
        default_factory=list, description="At least one")
    expires_at: Expiry = Field(None, description="At most five years ahead; null: never expires")

    @classmethod
    def failure(cls, errors: dict[str, list[str]]) -> PostlineError:
        return _flat(errors, "resources")


class TokenReset(RequestModel):
    """A reset's optional new expiry (left out: the standard lifetime, ``null``: never)."""

    expires_at: Expiry = Field(None, description="At most five years ahead; null: never expires")


class PermissionChange(RequestModel):
    """Create or update (same type and id) a permission, or remove it with ``_destroy``."""

    resource_type: ResourceType
    resource_id: ResourceId
    access_level: Annotated[int | None, BeforeValidator(_access_level),
                            WithJsonSchema({"anyOf": [{"type": "integer", "enum": [100, 10]}, {"type": "string"},
                                                      {"type": "null"}],
                                            "description": "Needed unless `_destroy`"})] = None
    destroy: Annotated[bool, BeforeValidator(bool)] = Field(False, alias="_destroy")


class PermissionsBulk(RequestModel):
    permissions: Annotated[list[PermissionChange], BeforeValidator(lambda v: [] if v is None else v)] = Field(
        default_factory=list)

    @classmethod
    def failure(cls, errors: dict[str, list[str]]) -> PostlineError:
        return _flat(errors, "permissions")
