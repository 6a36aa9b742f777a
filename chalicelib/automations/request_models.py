"""What the automations routes accept: one model per body and per query string.

The envelope (name, status, trigger, paging) is typed here; the step tree and the trigger's
configuration stay checked by the definition compiler (``definition.parse_steps`` and
``parse_trigger``), which names the bad key (``steps[0].yes[1].template_id``) and numbers new
steps after the automation's own, so it runs in the service.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import BeforeValidator, Field, WithJsonSchema

from chalicelib.automations.definition import TRIGGER_TYPES
from chalicelib.automations.models import ACTIVE, DISABLED, PAUSED, RUN_STATUSES, STATUSES
from chalicelib.core.request_models import Invalid, RequestModel, UnprocessableQuery, choice, required_text

NAME_MAX = 255
LIMIT_MAX = 1000  # TopMail's paging (003)
_ONE_OF = "must be one of: {allowed}"


def _trigger_type(value: Any) -> str | None:
    """Text, or null (which the compiler calls blank); anything else is blank too."""
    if value is not None and not isinstance(value, str):
        raise Invalid("can't be blank")
    return value


def _trigger(value: Any) -> dict[str, Any] | None:
    if value is not None and not isinstance(value, dict):
        raise Invalid("must be an object with a 'type'")
    return value


def _target_status(value: Any) -> str | None:
    if value is not None and value not in STATUSES:
        raise Invalid(f"must be one of: {', '.join((ACTIVE, PAUSED, DISABLED))}")
    return value


class AutomationCreate(RequestModel):
    """``{"automation": {...}}`` or the bare fields. The trigger is ``trigger_type`` and
    ``trigger_config``, or one ``trigger`` object (``{"type", ...config}``)."""

    envelope: ClassVar[str] = "automation"
    name: Annotated[str, BeforeValidator(required_text(NAME_MAX))] = Field(max_length=NAME_MAX)
    trigger_type: Annotated[str | None, BeforeValidator(_trigger_type), WithJsonSchema(
        {"type": "string", "enum": list(TRIGGER_TYPES), "nullable": True})] = Field(
        None, description="Misar's (welcome_email, custom_event, abandoned_cart, re_engagement) and TopMail's "
                          "(signup, added_to_list, custom) names are accepted too")
    trigger_config: dict[str, Any] | None = Field(
        None, description="contact_field_updated {field}; contact_added_to_list / contact_removed_from_list "
                          "{list_ids} (empty: any list); contact_custom_event {event_name}; re_engagement "
                          "{inactive_days}")
    trigger: Annotated[dict[str, Any] | None, BeforeValidator(_trigger)] = Field(
        None, description="The trigger as one object: `{type, config}` or `{type, ...config}`")
    steps: Annotated[list[Any] | None, WithJsonSchema({
        "type": "array", "nullable": True, "items": {"$ref": "#/components/schemas/AutomationStep"}})] = None

    def trigger_sent(self) -> bool:
        return bool({"trigger_type", "trigger", "trigger_config"} & self.model_fields_set)


class AutomationUpdate(AutomationCreate):
    """What is left out stays; a changed trigger or steps make a new version."""

    name: Annotated[str | None, BeforeValidator(required_text(NAME_MAX))] = Field(None, max_length=NAME_MAX)
    status: Annotated[str | None, BeforeValidator(_target_status), WithJsonSchema(
        {"type": "string", "enum": [ACTIVE, PAUSED, DISABLED], "nullable": True})] = Field(
        None, description="A lifecycle transition")


class AutomationActivate(RequestModel):
    when_blank: ClassVar[dict[str, str]] = {"active": "must be true or false"}

    active: bool = Field(description="true activates, false pauses")


class AutomationTrigger(RequestModel):
    """One contact, by ``contact_id`` or ``email`` (one of them is needed: a 400 without)."""

    contact_id: str | None = None
    email: str | None = None
    trigger_data: dict[str, Any] | None = Field(
        None, description="Passed to the run; conditional splits test it as `event.params.<key>`")


def _whole(low: int | None = None, high: int | None = None) -> Any:
    """Before-validator for a query parameter: an integer (from ``low``, to ``high``)."""

    def check(value: Any) -> int:
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise Invalid("must be an integer") from None
        if low is not None and number < low:
            raise Invalid(f"must be at least {low}")
        if high is not None and number > high:
            raise Invalid(f"must be at most {high}")
        return number

    return check


class _Paging(UnprocessableQuery):
    """``limit``/``offset`` (TopMail) or ``limit``/``page`` (Misar)."""

    limit: Annotated[int, BeforeValidator(_whole(1, LIMIT_MAX))] = Field(100, ge=1, le=LIMIT_MAX)
    offset: Annotated[int | None, BeforeValidator(_whole(0))] = Field(None, ge=0)
    page: Annotated[int | None, BeforeValidator(_whole(1))] = Field(
        None, ge=1, description="From 1 (instead of offset)")

    def window(self) -> tuple[int, int]:
        """(limit, offset): ``page`` counts only when ``offset`` is not given."""
        if self.page is not None and self.offset is None:
            return self.limit, (self.page - 1) * self.limit
        return self.limit, self.offset or 0


class AutomationListQuery(_Paging):
    status: Annotated[str | None, BeforeValidator(choice(STATUSES, _ONE_OF)), WithJsonSchema(
        {"type": "string", "enum": list(STATUSES)})] = Field(
        None, description="Archived automations are listed only when asked for")


class AutomationRunsQuery(_Paging):
    status: Annotated[str | None, BeforeValidator(choice(RUN_STATUSES, _ONE_OF)), WithJsonSchema(
        {"type": "string", "enum": list(RUN_STATUSES)})] = None
    contact_id: str | None = Field(None, description="Only this contact's runs")
    email: str | None = Field(None, description="Only the runs of the contact with this email")


class AutomationDefinitionQuery(UnprocessableQuery):
    version: Annotated[int | None, BeforeValidator(_whole())] = Field(
        None, description="The active version when left out")
