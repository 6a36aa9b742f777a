"""Email templates: the rules of the templates API and the rendering service for sending.

The sending pipeline calls ``render_template`` (or ``get_template_by_uuid`` once and
``render`` per message); the API calls the CRUD functions with the caller's principal.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.core import aws, cache, clock, db, ids
from chalicelib.core.errors import Forbidden, NotFound, Unprocessable
from chalicelib.core.permissions import ADMIN, VIEWER, Principal
from chalicelib.templates import engine, syntax
from chalicelib.templates.engine import TemplateError
from chalicelib.templates.errors import OutOfRange
from chalicelib.templates.models import INLINE_BODY_BYTES, EmailTemplate
from chalicelib.templates.request_models import MAX_PER_PAGE, TemplateCreate, TemplatePage, TemplateUpdate

MAX_TEMPLATES_PER_ACCOUNT = 200

render_string = engine.render_string


@dataclass(frozen=True)
class RenderedTemplate:
    subject: str
    html: str | None
    text: str | None
    category: str
    template_id: int = 0
    template_uuid: str = ""


# ------------------------------------------------------------------ access


def require_access(principal: Principal, level: int) -> None:
    """Templates belong to the account; admins of the account or of any of its sending
    domains change them (the seed: "Admin access to the account or domain"), viewers read."""
    if principal.can(level):
        return
    if any(g.resource_type == "domain" and g.access_level >= level for g in principal.grants):
        return
    raise Forbidden("Access forbidden")


# ------------------------------------------------------------------ reading


def to_wire(template: EmailTemplate) -> dict[str, Any]:
    html, text = _bodies(template)
    return {
        "id": template.template_id,
        "uuid": template.uuid,
        "name": template.name,
        "category": template.category,
        "subject": template.subject,
        "body_text": text,
        "body_html": html,
        "created_at": clock.iso(template.created_at),
        "updated_at": clock.iso(template.updated_at),
    }


def list_templates(principal: Principal) -> list[EmailTemplate]:
    require_access(principal, VIEWER)
    return list(EmailTemplate.query(principal.account_id))


def page_of_templates(principal: Principal, params: TemplatePage) -> dict[str, Any]:
    """One page of the account's templates (``token`` is the page number, from 1)."""
    per_page = min(params.per_page, MAX_PER_PAGE)
    page = params.token
    items = list_templates(principal)
    pages = max(1, math.ceil(len(items) / per_page))
    if page > pages:
        raise OutOfRange("token is out of range")
    return {
        "items": items[(page - 1) * per_page: page * per_page],
        "per_page": per_page,
        "token": page,
        "prev_token": page - 1 if page > 1 else None,
        "next_token": page + 1 if page < pages else None,
    }


def get_template(principal: Principal, template_id: Any) -> EmailTemplate:
    require_access(principal, VIEWER)
    return _get(principal.account_id, ids.path_id(template_id))


def _get(account_id: int, template_id: int) -> EmailTemplate:
    try:
        return EmailTemplate.get(account_id, template_id, consistent_read=True)
    except DoesNotExist:
        raise NotFound() from None


# ------------------------------------------------------------------ writing


def create_template(principal: Principal, params: TemplateCreate) -> EmailTemplate:
    require_access(principal, ADMIN)
    account_id = principal.account_id
    template = EmailTemplate(account_id, ids.next_id("email_template"), uuid=ids.new_uuid(),
                             name=params.name, subject=params.subject, category=params.category)
    _store_bodies(template, params.body_html, params.body_text)
    counter = ids.Counter(_quota_key(account_id))
    try:
        with TransactWrite(connection=db.transactions()) as tx:
            tx.update(counter, actions=[ids.Counter.value.add(1)],
                      condition=ids.Counter.value.does_not_exist()
                      | (ids.Counter.value < MAX_TEMPLATES_PER_ACCOUNT))
            tx.save(template, condition=EmailTemplate.template_id.does_not_exist())
    except TransactWriteError as exc:
        _forget_bodies(template.body_key)
        # the new item's id is fresh, so a failed condition is the counter's: the limit
        if db.condition_failed(exc):
            raise Unprocessable(f"An account can have at most {MAX_TEMPLATES_PER_ACCOUNT} email templates; "
                                "delete one to create another") from None
        raise
    return template


def update_template(principal: Principal, template_id: Any, params: TemplateUpdate) -> EmailTemplate:
    """Changes the fields sent (``null`` clears a body); those left out stay."""
    require_access(principal, ADMIN)
    template = _get(principal.account_id, ids.path_id(template_id))
    values = params.model_dump(exclude_unset=True)
    for name in ("name", "subject", "category"):
        if name in values:
            setattr(template, name, values[name])
    old_key = template.body_key
    if "body_html" in values or "body_text" in values:
        html, text = _bodies(template)
        _store_bodies(template, values.get("body_html", html), values.get("body_text", text))
    try:
        template.save(condition=EmailTemplate.template_id.exists())  # not resurrected if deleted meanwhile
    except Exception:
        if template.body_key != old_key:
            _forget_bodies(template.body_key)
        raise
    if old_key and old_key != template.body_key:
        _forget_bodies(old_key)
    return template


def delete_template(principal: Principal, template_id: Any) -> None:
    require_access(principal, ADMIN)
    template = _get(principal.account_id, ids.path_id(template_id))
    try:
        with TransactWrite(connection=db.transactions()) as tx:
            tx.delete(template, condition=EmailTemplate.template_id.exists())
            tx.update(ids.Counter(_quota_key(principal.account_id)), actions=[ids.Counter.value.add(-1)])
    except TransactWriteError:
        raise NotFound() from None  # deleted by a concurrent request
    _forget_bodies(template.body_key)


def _quota_key(account_id: int) -> str:
    return f"email_templates:{account_id}"


# ------------------------------------------------------------------ bodies (inline or S3)


# S3 keys of bodies end in a hash of their content (see _store_bodies), so what a key holds
# never changes: keep the most recently read ones in the process, bounded by their size, so a
# batch of messages on one large template downloads it once, not once per message.
BODY_CACHE_BYTES = 32_000_000
_body_cache = cache.BoundedCache(BODY_CACHE_BYTES)


def _bodies(template: EmailTemplate) -> tuple[str | None, str | None]:
    if not template.body_key:
        return template.body_html, template.body_text
    return _stored_bodies(aws.bucket("data"), template.body_key)


def _stored_bodies(bucket: str, key: str) -> tuple[str | None, str | None]:
    hit = _body_cache.get((bucket, key))
    if hit is not None:
        return hit
    raw = aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    stored = json.loads(raw)
    bodies = (stored.get("body_html"), stored.get("body_text"))
    _body_cache.put((bucket, key), len(raw), bodies)
    return bodies


def _store_bodies(template: EmailTemplate, html: str | None, text: str | None) -> None:
    size = len((html or "").encode()) + len((text or "").encode())
    if size <= INLINE_BODY_BYTES:
        template.body_html, template.body_text, template.body_key = html, text, None
        return
    blob = json.dumps({"body_html": html, "body_text": text}).encode()
    key = (f"email-templates/{template.account_id}/{template.template_id}/"
           f"{hashlib.sha256(blob).hexdigest()[:32]}.json")
    aws.client("s3").put_object(Bucket=aws.bucket("data"), Key=key, Body=blob,
                                ContentType="application/json")
    template.body_html, template.body_text, template.body_key = None, None, key


def _forget_bodies(key: str | None) -> None:
    if key:
        aws.client("s3").delete_object(Bucket=aws.bucket("data"), Key=key)


# ------------------------------------------------------------------ rendering (sending pipeline)


def get_template_by_uuid(account_id: int, template_uuid: Any) -> EmailTemplate:
    """The account's template with this UUID; NotFound when there is none (or it was deleted)."""
    if not isinstance(template_uuid, str) or not template_uuid:
        raise NotFound()
    found = list(EmailTemplate.by_uuid.query(int(account_id), EmailTemplate.uuid == template_uuid.lower(),
                                             limit=1))
    if not found:
        raise NotFound()
    return found[0]


def render(template: EmailTemplate, variables: Any) -> RenderedTemplate:
    """Subject, HTML and text of a template rendered with ``variables`` (a JSON object).

    Raises TemplateError (a 422, with ``reason``) when the variables are not an object.
    """
    if variables is not None and not isinstance(variables, dict):
        raise TemplateError("template_variables must be a JSON object", "template_variables")
    html, text = _bodies(template)
    return RenderedTemplate(
        subject=engine.compile_template(template.subject, "subject").render(variables),
        html=engine.compile_template(html, "body_html").render(variables) if html is not None else None,
        text=engine.compile_template(text, "body_text").render(variables) if text is not None else None,
        category=template.category,
        template_id=template.template_id,
        template_uuid=template.uuid,
    )


def render_template(account_id: int, template_uuid: str, variables: Any) -> RenderedTemplate:
    return render(get_template_by_uuid(account_id, template_uuid), variables)


# ------------------------------------------------------------------ editor helpers


def sample_data(principal: Principal, template_id: Any) -> dict[str, Any]:
    """Every variable the template uses, valued ``Test_<name>`` (the editor's Test Data)."""
    template = get_template(principal, template_id)
    html, text = _bodies(template)
    return syntax.sample_variables(template.subject, html or "", text or "")


def preview(principal: Principal, template_id: Any, variables: Any = None) -> dict[str, Any]:
    """The template rendered with ``variables``, or with its test data when none are given."""
    template = get_template(principal, template_id)
    if variables is None:
        html, text = _bodies(template)
        variables = syntax.sample_variables(template.subject, html or "", text or "")
    rendered = render(template, variables)
    return {"subject": rendered.subject, "html": rendered.html, "text": rendered.text,
            "category": rendered.category, "template_variables": variables}
