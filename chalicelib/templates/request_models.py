"""What the templates routes accept: a template (create, update), a page, a preview, an image."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema, model_validator

from chalicelib.core.errors import PostlineError
from chalicelib.core.request_models import Invalid, QueryModel, RequestModel, enveloped, omittable
from chalicelib.templates.errors import OutOfRange

MAX_SHORT_FIELD = 255
MAX_BODY = 10_000_000
DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 100
MAX_IMAGE_BYTES = 2 * 1024 * 1024  # "2 MB"
EXTENSIONS = {"png": "png", "jpg": "jpg", "jpeg": "jpg", "gif": "gif"}
_HANDLEBARS = "A Handlebars template"


def _filled(value: str) -> str:
    if not value.strip():
        raise Invalid("can't be blank")
    return value


def _header_safe(value: str) -> str:
    """Subject and category become headers of every message sent with the template."""
    from chalicelib.core import header_safety

    if reason := header_safety.problem(value):
        raise Invalid(reason)
    return value


def _handlebars(value: str | None) -> str | None:
    """A template Postline can render (the engine loads on the first check, not at import)."""
    from chalicelib.templates import engine

    if value:
        try:
            engine.check(value)
        except engine.TemplateError as exc:
            raise Invalid(exc.reason) from None
    return value


ShortText = Annotated[str, Field(max_length=MAX_SHORT_FIELD), AfterValidator(_filled)]
Body = Annotated[str | None, Field(max_length=MAX_BODY), AfterValidator(_handlebars)]
Name = ShortText
Subject = Annotated[ShortText, AfterValidator(_header_safe), AfterValidator(_handlebars)]
Category = Annotated[ShortText, AfterValidator(_header_safe)]


class TemplateCreate(RequestModel):
    """A new template (``{"email_template": {...}}`` or the bare fields). The subject and the
    bodies are Handlebars templates, checked here so a broken one is never saved."""

    envelope: ClassVar[str] = "email_template"
    name: Name
    subject: Subject = Field(description=_HANDLEBARS)
    category: Category = Field(description="Becomes the category of every message sent with it")
    body_html: Body = Field(None, description=_HANDLEBARS)
    body_text: Body = Field(None, description=_HANDLEBARS)

    @model_validator(mode="before")
    @classmethod
    def _unwrap(cls, data: Any) -> Any:
        return enveloped(data, "email_template")


class TemplateUpdate(TemplateCreate):
    """The fields to change; those left out stay as they are."""

    name: Name = omittable()
    subject: Subject = omittable(_HANDLEBARS)
    category: Category = omittable()


class TemplatePage(QueryModel):
    per_page: int = Field(DEFAULT_PER_PAGE, ge=1, description=f"At most {MAX_PER_PAGE} (more is {MAX_PER_PAGE})")
    token: int = Field(1, ge=1, description="The page number, from 1")

    @classmethod
    def failure(cls, errors: dict[str, list[str]]) -> PostlineError:
        """Mailtrap answers a bad page parameter with a 422 and a plain message."""
        return OutOfRange(f"{next(iter(errors))} is out of range")


def _variables(value: Any) -> Any:
    if value is not None and not isinstance(value, dict):
        raise Invalid("template_variables must be a JSON object")
    return value


class TemplatePreview(RequestModel):
    template_variables: Annotated[dict[str, Any] | None, BeforeValidator(_variables)] = Field(
        None, description="Left out: the template's test data")


def _image_name(value: str) -> str:
    _filled(value)
    extension = value.rsplit(".", 1)[-1].lower() if "." in value else ""
    if extension not in EXTENSIONS:
        raise Invalid("has an unsupported format (use JPG, PNG or GIF)")
    return value


def _image_bytes(value: Any) -> bytes:
    if not isinstance(value, str) or not value:
        raise Invalid("can't be blank")
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise Invalid("must be base64-encoded") from None
    if len(data) > MAX_IMAGE_BYTES:
        raise Invalid("is too big (maximum is 2 MB)")
    return data


class ImageUpload(RequestModel):
    """A JPG, PNG or GIF image up to 2 MB (``{"image": {...}}`` or the bare fields)."""

    envelope: ClassVar[str] = "image"
    filename: Annotated[str, AfterValidator(_image_name)] = Field(description="Ends in .jpg, .jpeg, .png or .gif")
    content: Annotated[bytes, BeforeValidator(_image_bytes),
                       WithJsonSchema({"type": "string", "format": "byte", "description": "Base64, at most 2 MB"})]
