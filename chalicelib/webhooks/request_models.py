"""What the webhooks routes accept: one model per body and per query string."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import BeforeValidator, Field

from chalicelib.core.request_models import Invalid, RequestModel, choice, integer_id, not_blank
from chalicelib.webhooks.models import (
    EVENT_TYPE_ALIASES,
    EVENT_TYPES,
    FORMAT_ALIASES,
    JSON,
    PAYLOAD_FORMATS,
    STREAMS,
    WEBHOOK_TYPES,
)


def _url(value: Any) -> str:
    from chalicelib.webhooks import egress

    not_blank(value)
    if not isinstance(value, str):
        raise Invalid("must be a string")
    try:
        egress.check_url(value)
    except egress.Refused as exc:
        raise Invalid(str(exc)) from None
    return value.strip()


def _format(value: Any) -> Any:
    if value is None or value == "":
        return JSON
    return choice(PAYLOAD_FORMATS)(FORMAT_ALIASES.get(value, value) if isinstance(value, str) else value)


def _event_types(value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, list):
        raise Invalid("must be an array")
    out: list[str] = []
    for item in value:
        name = EVENT_TYPE_ALIASES.get(item, item) if isinstance(item, str) else None
        if name not in EVENT_TYPES:
            raise Invalid(f"is invalid. Allowed values: {', '.join(EVENT_TYPES)}.")
        if name not in out:
            out.append(name)
    return out


def _stream(value: Any) -> Any:
    return None if value is None or value == "" else choice(STREAMS)(value)


def _domain_id(value: Any) -> Any:
    return None if value is None else integer_id("is not a sending domain of this account")(value)


Url = Annotated[str, BeforeValidator(_url)]
Format = Annotated[str, BeforeValidator(_format)]
EventTypes = Annotated[list[str] | None, BeforeValidator(_event_types)]
Stream = Annotated[str | None, BeforeValidator(_stream)]
DomainId = Annotated[int | None, BeforeValidator(_domain_id)]


class WebhookCreate(RequestModel):
    """A new webhook (``{"webhook": {...}}`` or the bare fields)."""

    envelope: ClassVar[str] = "webhook"
    url: Url = Field(description="http(s) on port 80 or 443; user info is sent as basic auth")
    webhook_type: Annotated[str, BeforeValidator(choice(WEBHOOK_TYPES))]
    active: bool = True
    payload_format: Format = Field(JSON, description="`json` or `jsonlines` (`jsonl` is accepted)")
    sending_stream: Stream = Field(None, description="Required for `email_sending` webhooks")
    event_types: EventTypes = Field(None, description="Required for `email_sending` webhooks")
    domain_id: DomainId = Field(None, description="One sending domain; every domain when left out")


class WebhookUpdate(RequestModel):
    """Only the fields sent change."""

    envelope: ClassVar[str] = "webhook"
    url: Annotated[str | None, BeforeValidator(_url)] = None  # sent as null: "can't be blank"
    active: bool | None = None
    payload_format: Annotated[str | None, BeforeValidator(_format)] = None
    sending_stream: Stream = None
    event_types: EventTypes = None
    domain_id: DomainId = None
