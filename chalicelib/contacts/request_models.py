"""What the contacts routes accept: one model per body and per query string.

The models check what a request says on its own (types, lengths, allowed words), in
Mailtrap's messages; what needs the account's data (its fields, lists, the contact itself)
stays in the services: an unknown merge tag or list id, a taken name, a status change.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar

from pydantic import BeforeValidator, Field, ValidationInfo, WithJsonSchema, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from chalicelib.contacts.changes import STATUSES
from chalicelib.contacts.common import MAX_BULK, MAX_TEXT, email_errors
from chalicelib.contacts.fields import DATA_TYPES
from chalicelib.core.errors import PostlineError
from chalicelib.core.request_models import Invalid, RequestModel, UnprocessableQuery, choice, required_text

STATUS_ON_CREATE = "can only be set to subscribed or pending when a contact is created"
FIELD_NAME_MAX = 50  # seed 001 (the OpenAPI says 80; the seeds win, decisions.md C4)
MERGE_TAG_MAX = 50
RESERVED_MERGE_TAGS = {"email", "status", "list", "lists", "created_at", "updated_at", "id"}
_MERGE_TAG = re.compile(r"^[a-z][a-z0-9_]*$")
LIST_NAME_MAX = 100  # seed 001 (the OpenAPI says 255; the seeds win, decisions.md C5)
SEGMENT_NAME_MAX = 100
EVENT_PARAMS_MAX = 50
CONTACTS_PER_PAGE_MAX = 100
SEGMENT_PER_PAGE_MAX = 1000
BULK_ACTIONS = ("add_to_lists", "remove_from_lists", "unsubscribe", "delete")
BULK_CONFIRMATION = {"unsubscribe": "unsubscribe", "delete": "delete"}  # irreversible: the word typed
_ONE_OF = "must be one of: {allowed}"


def _ref(name: str, **extra: Any) -> WithJsonSchema:
    """The schema is the YAML component ``name`` (its prose stays there); in an ``allOf``, as
    pydantic tries to resolve a bare ``$ref`` among its own definitions."""
    return WithJsonSchema({"allOf": [{"$ref": f"#/components/schemas/{name}"}], **extra})


# ---------------------------------------------------------------- shared field rules


def _email(value: Any) -> str:
    problems = email_errors(value)
    if problems:
        raise Invalid(problems[0])
    return value.strip()


def _optional_email(value: Any) -> Any:
    return None if value is None else _email(value)


def _list_ids(value: Any) -> list[int] | None:
    """Ids as JSON integers or strings of digits; which of them exist is the service's check."""
    if value is None:
        return None
    if not isinstance(value, list):
        raise Invalid("must be an array of list ids")
    out = []
    for item in value:
        try:
            if isinstance(item, bool):
                raise ValueError
            out.append(int(item))
        except (TypeError, ValueError):
            raise Invalid("contains invalid data") from None
    return out


def _integer(low: int, high: int) -> Any:
    """Before-validator for a query parameter: an integer from ``low`` to ``high``."""

    def check(value: Any) -> int:
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise Invalid("must be an integer") from None
        if not low <= number <= high:
            raise Invalid(f"must be between {low} and {high}")
        return number

    return check


def _whole(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Invalid("must be an integer") from None


ListIds = Annotated[list[int] | None, BeforeValidator(_list_ids)]


# ---------------------------------------------------------------- contacts


def _field_values(value: Any) -> dict[str, Any] | None:
    if value is not None and not isinstance(value, dict):
        raise Invalid("must be an object of merge tags and values")
    return value


def _status(value: Any) -> str | None:
    if value is not None and value not in ("subscribed", "pending"):
        raise Invalid(STATUS_ON_CREATE)
    return value


def _not_an_object(value: Any) -> None:
    raise Invalid("must be an object")


class _ContactChange(RequestModel):
    """What creating and updating a contact share (``{"contact": {...}}`` or the bare fields)."""

    envelope: ClassVar[str] = "contact"
    # a "contact" key that is not an object (an object is unwrapped by ``envelope``)
    contact: SkipJsonSchema[Annotated[None, BeforeValidator(_not_an_object)]] = None
    fields: Annotated[dict[str, Any] | None, BeforeValidator(_field_values),
                      _ref("ContactFieldValues", nullable=True)] = None
    list_ids: ListIds = Field(None, description="Lists the contact joins")
    list_ids_included: ListIds = Field(None, description="Lists the contact joins")
    list_ids_excluded: ListIds = Field(None, description="Lists the contact leaves (an id in both is a 422)")
    unsubscribed: bool | None = Field(
        None, description="true unsubscribes; false on an unsubscribed or bounced contact is a 422")
    status: Annotated[str | None, BeforeValidator(_status),
                      WithJsonSchema({"type": "string", "enum": ["subscribed", "pending"], "nullable": True})] = Field(
        None, description="`subscribed` (default) or `pending` (double opt-in); only when the contact is created")

    @classmethod
    def failure(cls, errors: dict[str, list[str]]) -> PostlineError:
        if "contact" in errors:  # nothing else can be read
            errors = {"contact": errors["contact"]}
        return super().failure(errors)


class ContactCreate(_ContactChange):
    email: Annotated[str, BeforeValidator(_email)] = Field(max_length=254)


class ContactUpdate(_ContactChange):
    email: Annotated[str | None, BeforeValidator(_optional_email)] = Field(
        None, max_length=254, description="A new address for the contact")


class ContactSearchQuery(UnprocessableQuery):
    search: str | None = Field(None, description="Email or a text value containing this (case-insensitive)")
    status: Annotated[str | None, BeforeValidator(choice(STATUSES, _ONE_OF)),
                      WithJsonSchema({"type": "string", "enum": list(STATUSES), "nullable": True})] = None
    list_id: Annotated[int | None, BeforeValidator(_whole)] = Field(None, description="Members of this list")
    per_page: Annotated[int, BeforeValidator(_integer(1, CONTACTS_PER_PAGE_MAX))] = Field(
        20, ge=1, le=CONTACTS_PER_PAGE_MAX)
    cursor: str | None = Field(None, description="The previous page's `next_cursor`")


def _event_name(value: Any) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise Invalid("can't be blank")
    if not isinstance(value, str):
        raise Invalid("must be a string")
    if len(value) > MAX_TEXT:
        raise Invalid("is too long")
    return value.strip()


def _event_params(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Invalid("must be a hash")
    problems = []
    if len(value) > EVENT_PARAMS_MAX:
        problems.append(f"can have at most {EVENT_PARAMS_MAX} keys")
    for key, item in value.items():
        if len(key) > MAX_TEXT:
            problems.append(f"key '{key[:40]}' is too long")
        if isinstance(item, str):
            if len(item) > MAX_TEXT:
                problems.append(f"value for '{key}' is too long")
        elif item is not None and not isinstance(item, (bool, int, float)):
            problems.append(f"value for '{key}' must be a string, number, boolean or null")
    if problems:
        raise Invalid(*problems)
    return value


class ContactEventCreate(RequestModel):
    """``{name, params}``; ``{event, data}`` (the seed's older form) is accepted too."""

    name: Annotated[str, BeforeValidator(_event_name)] = Field(max_length=MAX_TEXT)
    params: Annotated[dict[str, Any], BeforeValidator(_event_params)] = Field(
        default_factory=dict, description=f"Up to {EVENT_PARAMS_MAX} keys; string, number, boolean or null values")

    @model_validator(mode="before")
    @classmethod
    def _older_form(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = {"name": data.get("name", data.get("event")), "params": data.get("params", data.get("data"))}
        return data


class ContactBulkAction(RequestModel):
    when_blank: ClassVar[dict[str, str]] = {"action": _ONE_OF.format(allowed=", ".join(BULK_ACTIONS)),
                                            "contacts": "must be a non-empty array of contact ids or emails"}

    action: Annotated[str, BeforeValidator(choice(BULK_ACTIONS, _ONE_OF))] = Field(
        json_schema_extra={"enum": list(BULK_ACTIONS)})
    contacts: list[str] = Field(max_length=MAX_BULK, description="UUIDs or emails")
    list_ids: ListIds = Field(None, validate_default=True, description="For add_to_lists and remove_from_lists")
    confirm: str | None = Field(None, validate_default=True,
                                description="The action's word, for the irreversible ones (unsubscribe, delete)")

    @field_validator("contacts", mode="before")
    @classmethod
    def _selection(cls, value: Any) -> list[str]:
        if not isinstance(value, list) or not value or not all(isinstance(c, str) for c in value):
            raise Invalid("must be a non-empty array of contact ids or emails")
        if len(value) > MAX_BULK:
            raise Invalid(f"bulk operations are limited to {MAX_BULK:,} contacts at once")
        return value

    @field_validator("list_ids", mode="after")
    @classmethod
    def _lists_chosen(cls, value: list[int] | None, info: ValidationInfo) -> list[int] | None:
        if info.data.get("action") in ("add_to_lists", "remove_from_lists") and not value:
            raise Invalid("choose at least one list")
        return value

    @field_validator("confirm", mode="before")
    @classmethod
    def _confirmed(cls, value: Any, info: ValidationInfo) -> str | None:
        word = BULK_CONFIRMATION.get(info.data.get("action", ""))
        if word and value != word:
            raise Invalid(f"type '{word}' to confirm; this can't be undone")
        return word


# ---------------------------------------------------------------- fields


def _merge_tag(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Invalid("can't be blank")
    tag = value.strip()
    if len(tag) > MERGE_TAG_MAX:
        raise Invalid(f"is too long (maximum is {MERGE_TAG_MAX} characters)")
    if not _MERGE_TAG.match(tag):
        raise Invalid("is invalid (use lower-case letters, digits and underscores, starting with a letter)")
    if tag in RESERVED_MERGE_TAGS:
        raise Invalid("is reserved")
    return tag


class ContactFieldCreate(RequestModel):
    when_blank: ClassVar[dict[str, str]] = {"data_type": _ONE_OF.format(allowed=", ".join(DATA_TYPES))}

    name: Annotated[str, BeforeValidator(required_text(FIELD_NAME_MAX))] = Field(max_length=FIELD_NAME_MAX)
    merge_tag: Annotated[str, BeforeValidator(_merge_tag)] = Field(
        max_length=MERGE_TAG_MAX, pattern=_MERGE_TAG.pattern,
        description="Lower-case letters, digits and underscores, starting with a letter; unique in the account "
                    f"({', '.join(sorted(RESERVED_MERGE_TAGS))} are reserved)")
    data_type: Annotated[str, BeforeValidator(choice(DATA_TYPES, _ONE_OF))] = Field(
        json_schema_extra={"enum": list(DATA_TYPES)})


class ContactFieldUpdate(RequestModel):
    """Absent keeps the value; ``null`` is "can't be blank"."""

    name: Annotated[str | None, BeforeValidator(required_text(FIELD_NAME_MAX))] = Field(
        None, max_length=FIELD_NAME_MAX)
    merge_tag: Annotated[str | None, BeforeValidator(_merge_tag)] = Field(
        None, max_length=MERGE_TAG_MAX, pattern=_MERGE_TAG.pattern)
    data_type: Annotated[Any, WithJsonSchema({"type": "string", "enum": list(DATA_TYPES), "nullable": True})] = Field(
        None, description="Can't be changed: anything but the field's type is a 422")


# ---------------------------------------------------------------- lists


class ContactListWrite(RequestModel):
    name: Annotated[str, BeforeValidator(required_text(LIST_NAME_MAX))] = Field(
        max_length=LIST_NAME_MAX, description="Unique in the account (case-insensitive)")


class ContactListsQuery(UnprocessableQuery):
    search: str | None = Field(None, description="Names starting with this (case-insensitive)")


# ---------------------------------------------------------------- segments


class ContactSegmentPreview(RequestModel):
    """The condition grammar (SegmentDefinition); checked against the account's fields and
    lists by the service, which answers ``{"conditions": [...]}`` naming each bad condition."""

    match: Annotated[Any, WithJsonSchema({"type": "string", "enum": ["all", "any"], "nullable": True})] = None
    groups: Annotated[Any, WithJsonSchema({"type": "array", "maxItems": 10, "nullable": True, "items": {
        "type": "object", "properties": {
            "match": {"type": "string", "enum": ["all", "any"], "default": "all"},
            "conditions": {"type": "array", "maxItems": 20,
                           "items": {"$ref": "#/components/schemas/SegmentCondition"}}}}})] = None
    conditions: Annotated[Any, WithJsonSchema({
        "type": "array", "maxItems": 20, "nullable": True,
        "items": {"$ref": "#/components/schemas/SegmentCondition"}})] = None

    def definition(self) -> dict[str, Any]:
        """The definition as sent (what was left out stays out: ``groups`` or ``conditions``)."""
        return self.model_dump(include={"match", "groups", "conditions"}, exclude_unset=True)


class ContactSegmentCreate(ContactSegmentPreview):
    name: Annotated[str, BeforeValidator(required_text(SEGMENT_NAME_MAX))] = Field(max_length=SEGMENT_NAME_MAX)


class ContactSegmentUpdate(ContactSegmentPreview):
    """Absent keeps the name or the conditions; a null name is "can't be blank"."""

    name: Annotated[str | None, BeforeValidator(required_text(SEGMENT_NAME_MAX))] = Field(
        None, max_length=SEGMENT_NAME_MAX)


class SegmentContactsQuery(UnprocessableQuery):
    per_page: Annotated[int, BeforeValidator(_integer(1, SEGMENT_PER_PAGE_MAX))] = Field(
        50, ge=1, le=SEGMENT_PER_PAGE_MAX)
    cursor: str | None = Field(None, description="The previous page's `next_cursor`")


# ---------------------------------------------------------------- imports and exports


class ContactImportQuery(UnprocessableQuery):
    consent: str | None = Field(None, description="CSV only; must be true")
    list_ids: str | None = Field(None, description="CSV only; comma-separated list ids")


_FILTER_SHAPE = "is invalid: each filter is {name, operator: equal, value}"


def _filters(value: Any) -> list[dict[str, Any]]:
    """``[{"name": "list_id", "operator": "equal", "value": [ids]},
    {"name": "subscription_status", "operator": "equal", "value": "subscribed"}]``, canonical."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise Invalid("must be an array")
    out = []
    for item in value:
        if not isinstance(item, dict) or item.get("operator", "equal") != "equal":
            raise Invalid(_FILTER_SHAPE)
        name, wanted = item.get("name"), item.get("value")
        if name == "list_id":
            values = wanted if isinstance(wanted, list) else [wanted]
            if not values or any(isinstance(v, bool) or not isinstance(v, int) for v in values):
                raise Invalid("is invalid: list_id takes an array of list ids")
            out.append({"name": "list_id", "operator": "equal", "value": sorted(set(values))})
        elif name == "subscription_status":
            if isinstance(wanted, list) and len(wanted) == 1:
                wanted = wanted[0]
            if wanted not in STATUSES:
                raise Invalid(f"is invalid: subscription_status is one of {', '.join(STATUSES)}")
            out.append({"name": "subscription_status", "operator": "equal", "value": wanted})
        else:
            raise Invalid("is invalid: filter by list_id or subscription_status")
    return out


class ContactExportCreate(RequestModel):
    filters: Annotated[list[dict[str, Any]], BeforeValidator(_filters), WithJsonSchema({
        "type": "array", "items": {"type": "object", "properties": {
            "name": {"type": "string", "enum": ["list_id", "subscription_status"]},
            "operator": {"type": "string", "enum": ["equal"]},
            "value": {}}}})] = Field(default_factory=list, description="All must match (none: every contact)")
