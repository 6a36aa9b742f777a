"""Typed requests: one pydantic model per request body and per query string.

A route declares its models where it is registered::

    @api_route(bp, "/suppressions", ["POST"], body=SuppressionCreate)
    def create_suppression(account_id=None):
        who = principal(bp, account_id)           # 401/403 come before any 422
        params: SuppressionCreate = request_body(bp)

The declaration is the one source of the route's validation and of its request schema in
the OpenAPI document (``core.openapi`` reads ``DECLARED``); ``request_body`` and
``request_query`` (``core.http``) parse with the model the current route declared, so the
two cannot drift.

Validation failures keep Mailtrap's shape, ``422 {"errors": {"field": ["message"]}}``, with
messages in Mailtrap's (Rails') words: ``translate`` maps pydantic's error types to them, and
a validator that raises ``Invalid("message")`` gives its own message verbatim.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, ClassVar, TypeVar, get_args, get_origin

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, WithJsonSchema, model_validator
from pydantic_core import PydanticCustomError

from chalicelib.core.errors import BadRequest, PostlineError, Unprocessable

M = TypeVar("M", bound=BaseModel)


def Invalid(message: str, *more: str) -> PydanticCustomError:  # noqa: N802 (raised like an exception class)
    """A validation failure whose message reaches the client as written: ``raise Invalid("is invalid")``;
    ``more``: further messages for the same field (Mailtrap lists every problem of a field)."""
    return PydanticCustomError("postline", message, {"more_messages": list(more)} if more else None)


class RequestModel(BaseModel):
    """A JSON request body. Strict types (a JSON ``"5"`` is not the integer 5, as before these
    models); unknown fields are ignored, as Mailtrap ignores them; the schema is built on first
    use, not at import, so a cold start pays only for the models its function touches.

    ``envelope``: the key Mailtrap's clients may wrap the fields in (``{"suppression": {...}}``);
    the bare object is accepted too."""

    model_config = ConfigDict(strict=True, extra="ignore", defer_build=True, populate_by_name=True)
    envelope: ClassVar[str | None] = None
    # field -> the message an absent or blank value gets instead of "can't be blank", where
    # Mailtrap words it otherwise (a choice answering "must be one of: ..." even when missing)
    when_blank: ClassVar[dict[str, str]] = {}

    @model_validator(mode="before")
    @classmethod
    def _unwrap(cls, data: Any) -> Any:
        if cls.envelope and isinstance(data, dict) and isinstance(data.get(cls.envelope), dict):
            return data[cls.envelope]
        return data

    @classmethod
    def failure(cls, errors: dict[str, list[str]]) -> PostlineError:
        """The error a failed validation answers with (a model may answer otherwise)."""
        for field, message in cls.when_blank.items():
            if errors.get(field) == ["can't be blank"]:
                errors[field] = [message]
        return Unprocessable(errors)


class QueryModel(RequestModel):
    """A query string: every value arrives as text, so types are coerced (``?page=2``), and an
    empty value counts as absent. A ``list[...]`` field reads ``name[]=a&name[]=b`` or
    ``name=a&name=b``."""

    model_config = ConfigDict(strict=False, extra="ignore", defer_build=True, populate_by_name=True)

    @classmethod
    def failure(cls, errors: dict[str, list[str]]) -> PostlineError:
        """A bad query parameter is a 400 naming it (``domain_id must be an integer``), as the
        hand-written checks answered; a model may answer 422 instead where Mailtrap does."""
        return BadRequest("; ".join(f"{field} {message}" for field, messages in errors.items()
                                    for message in messages))


class UnprocessableQuery(QueryModel):
    """A query string whose bad parameters are a 422 per parameter, as a body's fields are
    (where the hand-written checks answered so)."""

    @classmethod
    def failure(cls, errors: dict[str, list[str]]) -> PostlineError:
        return Unprocessable(errors)


@dataclass(frozen=True)
class Declared:
    body: type[RequestModel] | None = None
    query: type[QueryModel] | None = None


# (METHOD, chalice path) -> the models that route declared; filled by ``api_route``.
DECLARED: dict[tuple[str, str], Declared] = {}


def declare(methods: list[str], paths: list[str], body: type[RequestModel] | None,
            query: type[QueryModel] | None) -> None:
    if body is None and query is None:
        return
    for path in paths:
        for method in methods:
            DECLARED[(method.upper(), path)] = Declared(body, query)


def declared(method: str, route: str) -> Declared:
    found = DECLARED.get((method.upper(), route))
    if found is None:
        raise RuntimeError(f"{method} {route} declares no request model")
    return found


def parse(model: type[M], data: Any, context: dict[str, Any] | None = None) -> M:
    """``data`` validated by ``model``, or the model's failure (a 422 in Mailtrap's shape).
    ``context``: what a validator may need beyond the data (``info.context``)."""
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise model.failure(translate(exc)) from None  # type: ignore[attr-defined]


def parse_query(model: type[M], params: Any) -> M:
    """A query string (chalice's MultiDict or None) parsed by ``model``. A ``dict`` field
    reads OpenAPI's deepObject form, ``name[a][b]=v`` (``name[a][b][]`` repeated is a list)."""
    data: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        key = field.alias or name
        if is_dict(field.annotation):
            nested = _nested(params, key)
            if nested:
                data[key] = nested
        elif is_list(field.annotation):
            values = _many(params, key)
            if values:
                data[key] = values
        elif params and params.get(key) not in (None, ""):
            data[key] = params.get(key)
    return parse(model, data)


def is_list(annotation: Any) -> bool:
    if get_origin(annotation) in (list, tuple, set):
        return True
    return any(is_list(arg) for arg in get_args(annotation) if arg is not type(None))


def is_dict(annotation: Any) -> bool:
    if annotation is dict or get_origin(annotation) is dict:
        return True
    return any(is_dict(arg) for arg in get_args(annotation) if arg is not type(None))


def _nested(params: Any, key: str) -> dict[str, Any]:
    """``key[a][b]=v`` -> ``{"a": {"b": "v"}}``; a repeated or ``[]`` name gives a list, else
    the last value counts; where a name is both a value and an object, the first seen wins."""
    out: dict[str, Any] = {}
    for name in params or ():
        values = list(params.getlist(name))
        if not name.startswith(key + "[") or not values:
            continue
        parts = name[len(key) + 1:].replace("]", "").split("[")
        many = parts[-1] == "" or len(values) > 1
        parts = [p for p in parts if p != ""]
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                break
        else:
            if parts:
                node.setdefault(parts[-1], values if many else values[-1])
    return out


def _many(params: Any, key: str) -> list[str]:
    for name in (f"{key}[]", key):
        if params and name in params:  # chalice's MultiDict.getlist raises on a missing key
            return [v for v in params.getlist(name) if v != ""]
    return []


# ------------------------------------------------------------------ pydantic -> Mailtrap words


def _message(error: dict[str, Any]) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "postline":
        return error["msg"]
    if kind == "missing":
        return "can't be blank"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    if kind in ("string_too_short", "too_short") and ctx.get("min_length") == 1:
        return "can't be blank"
    words = {
        "string_type": "must be a string",
        "int_type": "must be an integer", "int_parsing": "must be an integer",
        "int_from_float": "must be an integer",
        "float_type": "must be a number", "float_parsing": "must be a number",
        "bool_type": "must be true or false", "bool_parsing": "must be true or false",
        "list_type": "must be an array", "dict_type": "must be an object",
        "model_type": "must be an object", "model_attributes_type": "must be an object",
        "literal_error": "is not included in the list", "enum": "is not included in the list",
        "string_pattern_mismatch": "is invalid",
        "uuid_type": "is invalid", "uuid_parsing": "is invalid",
        "datetime_type": "is invalid", "datetime_parsing": "is invalid", "datetime_from_date_parsing": "is invalid",
        "date_type": "is invalid", "date_parsing": "is invalid", "date_from_datetime_parsing": "is invalid",
    }
    if kind in words:
        return words[kind]
    bounds = {
        "string_too_long": "is too long (maximum is {max_length} characters)",
        "string_too_short": "is too short (minimum is {min_length} characters)",
        "too_long": "is too long (maximum is {max_length} items)",
        "too_short": "is too short (minimum is {min_length} items)",
        "greater_than": "must be greater than {gt}", "greater_than_equal": "must be greater than or equal to {ge}",
        "less_than": "must be less than {lt}", "less_than_equal": "must be less than or equal to {le}",
    }
    if kind in bounds:
        return bounds[kind].format(**ctx)
    return error["msg"]


def _field(loc: tuple[Any, ...]) -> str:
    """``("to", 0, "email")`` -> ``to[0].email``; a model-level failure is ``base``."""
    name = ""
    for part in loc:
        if isinstance(part, int):
            name += f"[{part}]"
        elif not str(part).startswith(("function-", "tagged-union", "literal[")):
            name += ("." if name else "") + str(part)
    return name or "base"


def translate(exc: ValidationError) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for error in exc.errors(include_url=False):
        messages = errors.setdefault(_field(tuple(error["loc"])), [])
        more = (error.get("ctx") or {}).get("more_messages") if error["type"] == "postline" else None
        for message in [_message(error), *(more or [])]:
            if message not in messages:
                messages.append(message)
    return errors


# ------------------------------------------------------------------ shared field rules


def not_blank(value: Any) -> Any:
    """Before-validator: ``null`` and ``""`` are Mailtrap's "can't be blank", like a missing field."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise Invalid("can't be blank")
    return value


def _email(value: Any) -> str:
    from chalicelib.core.emails import valid_email

    not_blank(value)
    email = valid_email(value)
    if email is None:
        raise Invalid("is invalid")
    return email


_REQUIRED = object()


def required_text(max_length: int) -> Any:
    """Before-validator: a name-like string, stripped. Absent, ``null``, blank or not a string
    is "can't be blank"; longer than ``max_length`` (once stripped) "is too long"."""

    def check(value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise Invalid("can't be blank")
        if len(value.strip()) > max_length:
            raise Invalid(f"is too long (maximum is {max_length} characters)")
        return value.strip()

    return check


def choice(values: Iterable[str], message: str = "is not included in the list", *, default: Any = _REQUIRED) -> Any:
    """Before-validator: one of ``values`` exactly (``{allowed}`` in ``message`` lists them);
    blank is ``default`` when one is given, else "can't be blank"."""
    allowed = tuple(values)
    text = message.format(allowed=", ".join(allowed))

    def check(value: Any) -> Any:
        if value is None or value == "":
            if default is _REQUIRED:
                raise Invalid("can't be blank")
            return default
        if value not in allowed:
            raise Invalid(text)
        return value

    return check


def integer_id(message: str = "is invalid") -> Any:
    """Before-validator: an id as a JSON integer or a string of digits (both reach Mailtrap's API)."""

    def check(value: Any) -> int:
        not_blank(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().isdigit():
            return int(value)
        raise Invalid(message)

    return check


def _iso_datetime(value: Any) -> datetime:
    from chalicelib.core import clock

    try:
        return clock.parse_iso(value)
    except (TypeError, ValueError, AttributeError):
        raise Invalid("must be an ISO 8601 date-time") from None


# An ISO 8601 date-time (naive is UTC), e.g. a list's ``start_time``; anything else "must be an ISO 8601 date-time".
IsoDateTime = Annotated[datetime, BeforeValidator(_iso_datetime)]


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def omittable(description: str | None = None) -> Any:
    """A field a PATCH may leave out (it stays as it is) but not send as ``null``: its type has
    no None, so ``null`` fails validation, and the schema shows no ``default: null``. Read what
    was sent with ``model_fields_set`` or ``model_dump(exclude_unset=True)``."""
    return Field(None, description=description, json_schema_extra=_no_default)


def enveloped(data: Any, *names: str) -> Any:
    """Model-validator helper: the fields inside the first of ``names`` present in ``data``, or
    ``data`` itself. An envelope that is not an object is a 422 on its name alone (rather than
    "can't be blank" on every field): ``{"email_template": "x"}`` -> ``email_template must be an object``."""
    if isinstance(data, dict):
        for name in names:
            if name in data:
                if not isinstance(data[name], dict):
                    raise Unprocessable.field(name, "must be an object")
                return data[name]
    return data


# A mailbox address, normalised (IDN domain to punycode): blank or invalid is a 422.
EmailAddress = Annotated[str, BeforeValidator(_email), WithJsonSchema({"type": "string", "format": "email"})]
