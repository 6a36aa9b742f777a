"""What the sending routes accept: one model per body and per query string.

The send body (``SendEmail``) and the batch (``BatchSend``) keep one rule-set,
``validation.parse_send`` (and ``parse_batch``), which the SMTP ingress runs on the body it
builds from a MIME message, so HTTP and SMTP accept and refuse the same things. Those rules
answer in the sending API's own shape: every problem at once, as a flat list of Mailtrap's
sentences, header-unsafe text (422) before everything else (400), rules across fields
(``'to', 'cc' or 'bcc' address is required``, nothing of the content beside
``template_uuid``) reported together with the per-field ones, and the size of the whole
message last. So these two models run those rules in place of pydantic's per-field checks
(their failure is the rules' ``SendError``, which the sending routes answer as it is), and
their fields describe the body for the OpenAPI document, with the limits taken from the
same constants the rules use.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BeforeValidator, Field, PrivateAttr, ValidationInfo, model_validator

from chalicelib.core.hosts import BULK, TRANSACTIONAL
from chalicelib.core.request_models import EmailAddress, Invalid, IsoDateTime, QueryModel, RequestModel, integer_id
from chalicelib.sending.validation import (
    MAX_BATCH_REQUESTS,
    MAX_CATEGORY_LENGTH,
    MAX_RECIPIENTS_PER_FIELD,
    MAX_SUBJECT_LENGTH,
    SendError,
    SendRequest,
    merge_batch_item,
    parse_batch,
    parse_send,
)

EmailFormat = Annotated[str, Field(json_schema_extra={"format": "email"})]


# ---------------------------------------------------------------- send and batch (sending hosts)


class SendAddress(RequestModel):
    email: EmailFormat
    name: str | None = None


class SendAttachment(RequestModel):
    content: str = Field(description="Base64")
    filename: str
    type: str | None = Field(None, description="MIME type (guessed from the file name when absent)")
    disposition: Literal["attachment", "inline"] = "attachment"
    content_id: str | None = Field(None, description='For inline images: <img src="cid:...">')


Recipients = Annotated[list[SendAddress], Field(max_length=MAX_RECIPIENTS_PER_FIELD)]
Content = Annotated[str, Field(min_length=1)]


class SendEmail(RequestModel):
    """One email: text, HTML or a template; one message per distinct recipient."""

    # ``request``: what ``validation.parse_send`` made of the body

    sender: SendAddress | None = Field(None, alias="from", description="Required (here or in a batch's base)")
    to: Recipients | None = None
    cc: Recipients | None = None
    bcc: Recipients | None = None
    reply_to: SendAddress | None = None
    subject: Annotated[Content, Field(max_length=MAX_SUBJECT_LENGTH)] | None = None
    text: Content | None = None
    html: Content | None = None
    attachments: list[SendAttachment] | None = None
    headers: dict[str, str] | None = None
    custom_variables: dict[str, Any] | None = Field(
        None, description="At most 1000 bytes as JSON; string, number or boolean values")
    category: Annotated[str, Field(max_length=MAX_CATEGORY_LENGTH)] | None = None
    template_uuid: str | None = Field(None, json_schema_extra={"format": "uuid"},
                                      description="With a template: no subject, text, html or category")
    template_variables: dict[str, Any] | None = None

    _request: SendRequest = PrivateAttr()

    @model_validator(mode="wrap")
    @classmethod
    def _rules(cls, data: Any, handler: Any) -> SendEmail:
        model = cls.model_construct()
        model._request = parse_send(data)  # SendError: the sending API's own answer
        return model

    @property
    def request(self) -> SendRequest:
        return self._request


class BatchSend(RequestModel):
    """Up to 500 emails; ``base`` holds the properties a request leaves out."""

    # ``items``: each request merged with the base, as ``parse_send`` made it, or the
    # ``SendError`` it gave (answered in that request's place of ``responses``)

    base: SendEmail | None = None
    requests: list[SendEmail] = Field(min_length=1, max_length=MAX_BATCH_REQUESTS)

    _items: list[SendRequest | SendError] = PrivateAttr()

    @model_validator(mode="wrap")
    @classmethod
    def _rules(cls, data: Any, handler: Any) -> BatchSend:
        base, requests = parse_batch(data)  # SendError(400) for the batch's own shape
        items: list[SendRequest | SendError] = []
        for request in requests:
            try:
                items.append(parse_send(merge_batch_item(base, request)))
            except SendError as exc:
                items.append(exc)
        model = cls.model_construct()
        model._items = items
        return model

    @property
    def items(self) -> list[SendRequest | SendError]:
        return self._items


# ---------------------------------------------------------------- email logs


class EmailLogQuery(QueryModel):
    search_after: str | None = Field(None, json_schema_extra={"format": "uuid"},
                                     description="The previous page's next_page_cursor")
    filters: dict[str, Any] = Field(
        default_factory=dict,
        description="`filters[field][operator]` and `filters[field][value]` (or `[value][]`); see the operation")


# ---------------------------------------------------------------- tracking opt-outs


class TrackingOptOutList(QueryModel):
    email: Annotated[str, Field(json_schema_extra={"format": "email"})] | None = Field(
        None, description="Exact address, case-insensitive")
    start_time: IsoDateTime | None = None
    end_time: IsoDateTime | None = None
    last_id: str | None = Field(None, json_schema_extra={"format": "uuid"},
                                description="Cursor (the previous page's last_id)")


_NOT_A_DOMAIN = "is not a sending domain of this account"


def _live_domain(domain_id: int, info: ValidationInfo) -> int:
    """With the account in the context, the domain must be one of its live domains: a 422
    beside the other fields' problems, as the hand-written check gave."""
    from chalicelib.core.errors import NotFound
    from chalicelib.domains import service as domains  # the domains capability owns domains

    account_id = (info.context or {}).get("account_id")
    if account_id is not None:
        try:
            domains.get_live(account_id, domain_id)
        except NotFound:
            raise Invalid(_NOT_A_DOMAIN) from None
    return domain_id


class TrackingOptOutCreate(RequestModel):
    """An address whose opens and clicks of a domain's mail are not tracked
    (``{"tracking_opt_out": {...}}`` or the bare fields)."""

    envelope: ClassVar[str] = "tracking_opt_out"
    email: Annotated[EmailAddress, AfterValidator(str.lower)]
    domain_id: Annotated[int, BeforeValidator(integer_id(_NOT_A_DOMAIN)), AfterValidator(_live_domain)] = Field(
        description="The sending domain whose mail to the address is not tracked")


# ---------------------------------------------------------------- stats


def _date(value: Any) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value[:10])  # a date-time counts by its date
    except (TypeError, ValueError):
        raise Invalid("must be a date (YYYY-MM-DD)") from None


def _integers(values: Any) -> list[int]:
    try:
        return [int(v) for v in values]
    except (TypeError, ValueError):
        raise Invalid("must be integers") from None


Day = Annotated[date, BeforeValidator(_date)]


class StatsQuery(QueryModel):
    """The period and filters of ``/stats`` and its groupings (``stats.summary``, ``stats.grouped``)."""

    start_date: Day | None = Field(None, description="Default: 7 days before end_date")
    end_date: Day | None = Field(None, description="Default: today (UTC)")
    sending_domain_ids: Annotated[list[int], BeforeValidator(_integers)] = []
    sending_streams: list[Literal[TRANSACTIONAL, BULK]] = []  # type: ignore[valid-type]
    categories: list[str] = []
    email_service_providers: list[str] = []
