"""What the suppressions routes accept: one model per body and per query string."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, BeforeValidator, Field

from chalicelib.core.request_models import (
    EmailAddress,
    IsoDateTime,
    QueryModel,
    RequestModel,
    choice,
    integer_id,
)
from chalicelib.suppressions.models import MANUAL_IMPORT, STREAMS, TYPES

_ALLOWED = "is invalid. Allowed values: {allowed}."
Stream = Literal[STREAMS]  # type: ignore[valid-type]
SuppressionType = Literal[TYPES]  # type: ignore[valid-type]


class SuppressionCreate(RequestModel):
    """One manual suppression (``{"suppression": {...}}`` or the bare fields)."""

    envelope: ClassVar[str] = "suppression"
    email: Annotated[EmailAddress, AfterValidator(str.lower)]
    domain_id: Annotated[int, BeforeValidator(integer_id("is not a sending domain of this account"))] = Field(
        description="The sending domain the address is suppressed on")
    sending_stream: Annotated[Stream, BeforeValidator(choice(STREAMS, _ALLOWED))]
    type: Annotated[SuppressionType, BeforeValidator(choice(TYPES, _ALLOWED, default=MANUAL_IMPORT))] = MANUAL_IMPORT


class SuppressionList(QueryModel):
    email: str | None = Field(None, description="Exact address, case-insensitive")
    start_time: IsoDateTime | None = None
    end_time: IsoDateTime | None = None
    last_id: str | None = Field(None, description="Cursor (the previous page's last id)")
    domain_id: int | None = None
    type: SuppressionType | None = None
    sending_stream: Stream | None = None


class SuppressionImportDefaults(QueryModel):
    """What every imported row that leaves them out gets."""

    domain_id: str | None = Field(None, description="A domain id, or `all`")
    sending_stream: Stream | None = None
    type: SuppressionType | None = None
