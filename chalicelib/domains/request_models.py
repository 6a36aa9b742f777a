"""What the sending-domain routes accept: a domain (create, settings), setup instructions,
company info. The SDK wraps a domain's fields in ``sending_domain``, the spec in ``domain``;
bare fields work too."""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from chalicelib.core.errors import Unprocessable
from chalicelib.core.request_models import Invalid, RequestModel, enveloped, omittable

MAX_AUTO_BCC = 10
MAX_AUTO_BCC_HEADERS = 20
HEADER_NAME = re.compile(r"^X-[A-Za-z0-9-]{1,70}$")
INFO_LEVELS = ("business", "individual")
MAX_COMPANY_FIELD = 500


def _domain_name(value: Any) -> str:
    """The name as DNS and SES use it (punycode, lower case), or the reason it can't be one."""
    from chalicelib.domains import names

    try:
        return names.normalize(value)
    except Unprocessable as exc:
        raise Invalid(exc.errors[names.FIELD][0]) from None


def address(value: Any) -> str:
    """A valid mailbox, normalised, or the domains API's message naming what was given."""
    from chalicelib.core.emails import valid_email

    email = valid_email(value)
    if email is None:
        raise Invalid(f"'{value}' is not a valid email address")
    return email


def _required_address(value: Any) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise Invalid("can't be blank")
    return address(value)


class _Domain(RequestModel):
    envelope: ClassVar[str] = "sending_domain"

    @model_validator(mode="before")
    @classmethod
    def _unwrap(cls, data: Any) -> Any:
        return enveloped(data, "sending_domain", "domain")


class DomainCreate(_Domain):
    domain_name: Annotated[str, BeforeValidator(_domain_name)] = Field(
        description="A domain you own, such as example.com (no www., no scheme); IDN names are stored as punycode")


class AutoBccHeaderSetting(RequestModel):
    name: str = Field(description="A custom X- header")
    value: str = Field(description="One line, at most 900 characters")


class AutoBccSettings(RequestModel):
    emails: list[str] = omittable(f"At most {MAX_AUTO_BCC}; left out: unchanged")
    headers: list[AutoBccHeaderSetting] = omittable(f"At most {MAX_AUTO_BCC_HEADERS}; left out: unchanged")


def _auto_bcc(raw: Any) -> Any:
    """Checked as one setting: every problem is a 422 on ``auto_bcc``, saying which part."""
    if not isinstance(raw, dict):
        raise Invalid("must be an object with emails and headers")
    checked: dict[str, Any] = {}
    if "emails" in raw:
        emails = raw["emails"]
        if not isinstance(emails, list) or len(emails) > MAX_AUTO_BCC:
            raise Invalid(f"emails must be an array of at most {MAX_AUTO_BCC} addresses")
        checked["emails"] = list(dict.fromkeys(address(e).lower() for e in emails))
    if "headers" in raw:
        headers = raw["headers"]
        if not isinstance(headers, list) or len(headers) > MAX_AUTO_BCC_HEADERS:
            raise Invalid(f"headers must be an array of at most {MAX_AUTO_BCC_HEADERS} {{name, value}} objects")
        for h in headers:
            if not isinstance(h, dict) or not isinstance(h.get("name"), str) or not isinstance(h.get("value"), str):
                raise Invalid("each header needs a string name and value")
            if not HEADER_NAME.match(h["name"]):
                raise Invalid(f"header '{h['name']}' must be a custom X- header")
            if "\r" in h["value"] or "\n" in h["value"] or len(h["value"]) > 900:
                raise Invalid(f"header '{h['name']}' must be one line of at most 900 characters")
        checked["headers"] = [{"name": h["name"], "value": h["value"]} for h in headers]
    return checked


def _alert_address(value: Any) -> str | None:
    return None if value in (None, "") else address(value)


def _no_inbound(value: bool) -> bool:
    if value:
        raise Invalid("inbound email is not available in Postline")
    return value


class DomainUpdate(_Domain):
    """Tracking, unsubscribe, alert and auto-BCC settings; the fields left out stay as they are."""

    open_tracking_enabled: bool = omittable()
    click_tracking_enabled: bool = omittable("Switching it on switches custom_domain_tracking_enabled on")
    custom_domain_tracking_enabled: bool = omittable()
    auto_unsubscribe_link_enabled: bool = omittable()
    tracking_opt_out_enabled: bool = omittable()
    health_alerts_enabled: bool = omittable()
    critical_alerts_enabled: bool = omittable()
    inbound_enabled: Annotated[bool, AfterValidator(_no_inbound)] = omittable("Only false: Postline has no inbound")
    alert_recipient_email: Annotated[str | None, BeforeValidator(_alert_address)] = Field(
        None, description="null or empty: the account owner")
    auto_bcc: Annotated[AutoBccSettings, BeforeValidator(_auto_bcc)] = omittable("Not on the demo domain")


class SetupInstructions(RequestModel):
    email: Annotated[str, BeforeValidator(_required_address)] = Field(
        description="Where to send the DNS records to publish")


def _company_text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Invalid("can't be blank")
    value = value.strip()
    if len(value) > MAX_COMPANY_FIELD:
        raise Invalid(f"is too long (maximum is {MAX_COMPANY_FIELD} characters)")
    return value


def _url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or " " in value:
        raise Invalid("must be an http or https URL")
    return value


def _info_level(value: str) -> str:
    if value not in INFO_LEVELS:
        raise Invalid(f"must be one of: {', '.join(INFO_LEVELS)}")
    return value


Text = Annotated[str, BeforeValidator(_company_text)]
Url = Annotated[str, BeforeValidator(_company_text), AfterValidator(_url)]
OptionalText = Annotated[str | None, BeforeValidator(lambda v: v if v is None else _company_text(v))]
OptionalUrl = Annotated[OptionalText, AfterValidator(lambda v: v if v is None else _url(v))]
InfoLevel = Annotated[OptionalText, AfterValidator(lambda v: v if v is None else _info_level(v))]


class CompanyInfoUpdate(RequestModel):
    """Company (or personal) information for compliance; the fields left out stay as they are."""

    envelope: ClassVar[str] = "company_info"
    name: Text = omittable()
    address: Text = omittable()
    city: Text = omittable()
    country: Text = omittable()
    zip_code: Text = omittable()
    website_url: Url = omittable()
    phone: OptionalText = None
    privacy_policy_url: OptionalUrl = None
    terms_of_service_url: OptionalUrl = None
    info_level: InfoLevel = Field(None, description="business (left out on create) or individual; "
                                                    "can be switched once")

    @model_validator(mode="before")
    @classmethod
    def _unwrap(cls, data: Any) -> Any:
        return enveloped(data, "company_info")


class CompanyInfoCreate(CompanyInfoUpdate):
    name: Text
    address: Text
    city: Text
    country: Text
    zip_code: Text
    website_url: Url
