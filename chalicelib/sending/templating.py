"""Template sends: the templates capability renders, sending asks it through its service.

A ``Renderer`` lives for one API call or one dispatch: it looks each template up once
(``get_template_by_uuid``) and renders it per request (``render``), so a batch of 500
requests on one template costs one lookup, not 500 (``render_template`` does both per call).
The API only needs the subject for the email log (``headline``); the worker renders it all.
"""

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


class Renderer:
    def __init__(self, account_id: int) -> None:
        self.account_id = account_id
        self._templates: dict[str, Any] = {}

    def _template(self, template_uuid: str) -> Any:
        from chalicelib.templates import service as templates  # the templates capability owns templates

        template = self._templates.get(template_uuid)
        if template is None:
            try:
                template = templates.get_template_by_uuid(self.account_id, template_uuid)
            except NotFound:
                raise TemplateUnavailable(
                    f"template {template_uuid} does not exist (it may have been deleted)") from None
            self._templates[template_uuid] = template
        return template

    def headline(self, template_uuid: str, variables: dict[str, Any]) -> Rendered:
        """The template's subject rendered, its category and id (no bodies): what a record shows."""
        from chalicelib.templates import engine

        template = self._template(template_uuid)
        try:
            subject = engine.render_string(template.subject, variables)
        except PostlineError as exc:
            raise TemplateUnavailable(f"template {template_uuid} could not be rendered: {exc.message}") from None
        return Rendered(subject, None, None, template.category or None, template.template_id or None)

    def render(self, template_uuid: str, variables: dict[str, Any]) -> Rendered:
        from chalicelib.templates import service as templates

        template = self._template(template_uuid)
        try:
            result = templates.render(template, variables)
        except PostlineError as exc:
            raise TemplateUnavailable(f"template {template_uuid} could not be rendered: {exc.message}") from None
        return Rendered(
            subject=result.subject or "",
            html=result.html or None,
            text=result.text or None,
            category=result.category or None,
            template_id=getattr(result, "template_id", None) or None,
        )
