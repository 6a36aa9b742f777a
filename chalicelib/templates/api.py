"""Templates routes, in the two shapes the official SDK uses.

- ``/email_templates`` (``email_templates_api``, the spec's Templates API): body wrapped in
  ``{"email_template": {...}}``, list returns every template, objects come bare.
- ``/templates`` (``templates_api``, Mailtrap's newer paginated API): flat body, list pages
  by ``per_page`` and page-number ``token``, objects come in ``{"data": ...}``.
Both serve the same templates. Either body shape is accepted on either path.
"""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Response

from chalicelib.core.config import settings
from chalicelib.core.http import api_route, created, no_content, principal, request_body, request_query
from chalicelib.templates import images, service
from chalicelib.templates.request_models import (
    ImageUpload,
    TemplateCreate,
    TemplatePage,
    TemplatePreview,
    TemplateUpdate,
)

bp = Blueprint(__name__)


# ------------------------------------------------------------------ /email_templates


@api_route(bp, "/email_templates", ["GET"])
def list_email_templates(account_id=None):
    return [service.to_wire(t) for t in service.list_templates(principal(bp, account_id))]


@api_route(bp, "/email_templates", ["POST"], body=TemplateCreate)
def create_email_template(account_id=None):
    who = principal(bp, account_id)
    return created(service.to_wire(service.create_template(who, request_body(bp))))


@api_route(bp, "/email_templates/{email_template_id}", ["GET"])
def get_email_template(email_template_id, account_id=None):
    return service.to_wire(service.get_template(principal(bp, account_id), email_template_id))


@api_route(bp, "/email_templates/{email_template_id}", ["PATCH"], body=TemplateUpdate)
def update_email_template(email_template_id, account_id=None):
    who = principal(bp, account_id)
    return service.to_wire(service.update_template(who, email_template_id, request_body(bp)))


@api_route(bp, "/email_templates/{email_template_id}", ["DELETE"])
def delete_email_template(email_template_id, account_id=None):
    service.delete_template(principal(bp, account_id), email_template_id)
    return no_content()


@api_route(bp, "/email_templates/{email_template_id}/test_data", ["GET"])
def email_template_test_data(email_template_id, account_id=None):
    who = principal(bp, account_id)
    return {"template_variables": service.sample_data(who, email_template_id)}


@api_route(bp, "/email_templates/{email_template_id}/preview", ["POST"], body=TemplatePreview)
def preview_email_template(email_template_id, account_id=None):
    who = principal(bp, account_id)
    params: TemplatePreview = request_body(bp, allow_empty=True)
    return service.preview(who, email_template_id, params.template_variables)


# ------------------------------------------------------------------ /templates (paginated)


@api_route(bp, "/templates", ["GET"], query=TemplatePage)
def list_templates_page(account_id=None):
    who = principal(bp, account_id)
    page = service.page_of_templates(who, request_query(bp))
    return {"data": [service.to_wire(t) for t in page["items"]], "pagination": _pagination(page)}


@api_route(bp, "/templates", ["POST"], body=TemplateCreate)
def create_template(account_id=None):
    who = principal(bp, account_id)
    return created({"data": service.to_wire(service.create_template(who, request_body(bp)))})


@api_route(bp, "/templates/{email_template_id}", ["GET"])
def get_template(email_template_id, account_id=None):
    return {"data": service.to_wire(service.get_template(principal(bp, account_id), email_template_id))}


@api_route(bp, "/templates/{email_template_id}", ["PATCH"], body=TemplateUpdate)
def update_template(email_template_id, account_id=None):
    who = principal(bp, account_id)
    template = service.update_template(who, email_template_id, request_body(bp))
    return {"data": service.to_wire(template)}


@api_route(bp, "/templates/{email_template_id}", ["DELETE"])
def delete_template(email_template_id, account_id=None):
    service.delete_template(principal(bp, account_id), email_template_id)
    return no_content()


def _pagination(page: dict[str, Any]) -> dict[str, Any]:
    request = bp.current_request
    base = settings().public_api_url + request.path.format(**(request.uri_params or {}))

    def url(token: int | None) -> str | None:
        return None if token is None else f"{base}?per_page={page['per_page']}&token={token}"

    return {
        "token": page["token"], "prev_token": page["prev_token"], "next_token": page["next_token"],
        "first_url": url(1), "prev_url": url(page["prev_token"]), "current_url": url(page["token"]),
        "next_url": url(page["next_token"]),
    }


# ------------------------------------------------------------------ images


@api_route(bp, "/email_template_images", ["POST"], body=ImageUpload)
def upload_template_image(account_id=None):
    who = principal(bp, account_id)
    return created(images.upload_image(who, request_body(bp)))


@api_route(bp, "/api/email_template_images/{account_id}/{image_name}", ["GET"], prefixed=False)
def template_image(account_id, image_name):
    """Public: the URL a template's <img> points at (no token, as mail clients fetch it)."""
    location = images.image_location(account_id, image_name)
    return Response(body="", status_code=302,
                    headers={"Location": location, "Cache-Control": f"public, max-age={images.REDIRECT_SECONDS // 2}"})
