"""Template sends: the templates capability renders, sending asks it through one function."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.core.errors import NotFound, PostlineError


class TemplateUnavailable(Exception):
    """The template can't be rendered: deleted, or its variables don't fit."""


@dataclass(frozen=True)
class Rendered:
    subject: str
    html: str | None
    text: str | None
    category: str | None
    template_id: int | None


def render(account_id: int, template_uuid: str, variables: dict[str, Any]) -> Rendered:
    from chalicelib.templates import service as templates  # the templates capability owns rendering

    try:
        result = templates.render_template(account_id, template_uuid, variables)
    except NotFound:
        raise TemplateUnavailable(f"template {template_uuid} does not exist (it may have been deleted)") from None
    except PostlineError as exc:
        raise TemplateUnavailable(f"template {template_uuid} could not be rendered: {exc.message}") from None
    return Rendered(
        subject=result.subject or "",
        html=result.html or None,
        text=result.text or None,
        category=result.category or None,
        template_id=getattr(result, "template_id", None) or None,
    )
