"""Contacts routes: contacts, fields, lists, segments, imports, exports, events, bulk.

Every view: authenticate and hold to the path's account, count the request against the
contacts API limit (per account), check the access level (viewers read, admins change),
then call one service function.
"""

from __future__ import annotations

from chalice import Blueprint

from chalicelib.accounts.service import require
from chalicelib.contacts import bulk, contacts, events, exports, imports, segments
from chalicelib.contacts import fields as fields_svc
from chalicelib.contacts import lists as lists_svc
from chalicelib.contacts.request_models import (
    ContactBulkAction,
    ContactCreate,
    ContactEventCreate,
    ContactExportCreate,
    ContactFieldCreate,
    ContactFieldUpdate,
    ContactImportQuery,
    ContactListsQuery,
    ContactListWrite,
    ContactSearchQuery,
    ContactSegmentCreate,
    ContactSegmentPreview,
    ContactSegmentUpdate,
    ContactUpdate,
    SegmentContactsQuery,
)
from chalicelib.core import ratelimit
from chalicelib.core.config import settings
from chalicelib.core.http import (
    api_route,
    created,
    json_object,
    no_content,
    principal,
    request_body,
    request_body_later,
    request_query,
)
from chalicelib.core.permissions import ADMIN, VIEWER

bp = Blueprint(__name__)


def _caller(account_id: str | None, level: int) -> int:
    """The account the request acts on, once authenticated, counted and authorised."""
    who = principal(bp, account_id)
    config = settings()
    ratelimit.hit(f"contacts:{who.account_id}", config.contacts_rate_limit_requests,
                  config.contacts_rate_limit_window_seconds)
    require(who, level)
    return who.account_id


# ---------------------------------------------------------------- contacts


@api_route(bp, "/contacts", ["GET"], query=ContactSearchQuery)
def list_contacts(account_id=None):
    acct = _caller(account_id, VIEWER)
    return contacts.list_contacts(acct, request_query(bp))


@api_route(bp, "/contacts", ["POST"], body=ContactCreate)
def create_contact(account_id=None):
    acct = _caller(account_id, ADMIN)
    return created({"data": contacts.create_contact(acct, request_body(bp))})


@api_route(bp, "/contacts/{contact_identifier}", ["GET"])
def get_contact(contact_identifier, account_id=None):
    acct = _caller(account_id, VIEWER)
    return {"data": contacts.get_contact(acct, contact_identifier)}


@api_route(bp, "/contacts/{contact_identifier}", ["PATCH"], body=ContactUpdate)
def update_contact(contact_identifier, account_id=None):
    acct = _caller(account_id, ADMIN)
    action, data = contacts.upsert_contact(acct, contact_identifier, request_body(bp, allow_empty=True))
    return {"action": action, "data": data}


@api_route(bp, "/contacts/{contact_identifier}", ["DELETE"])
def delete_contact(contact_identifier, account_id=None):
    contacts.delete_contact(_caller(account_id, ADMIN), contact_identifier)
    return no_content()


@api_route(bp, "/contacts/{contact_identifier}/events", ["POST"], body=ContactEventCreate)
def create_contact_event(contact_identifier, account_id=None):
    acct = _caller(account_id, ADMIN)
    body = request_body_later(bp, allow_empty=True)  # unreadable JSON is a 400 first; then 404, then the body's 422s
    found = contacts.require(acct, contact_identifier)
    return created(events.record(acct, contact_identifier, found, body()))


@api_route(bp, "/contacts/{contact_identifier}/timeline", ["GET"])
def contact_timeline(contact_identifier, account_id=None):
    return events.timeline(_caller(account_id, VIEWER), contact_identifier)


@api_route(bp, "/contacts/bulk", ["POST"], body=ContactBulkAction)
def bulk_action(account_id=None):
    acct = _caller(account_id, ADMIN)
    return bulk.run(acct, request_body(bp))


# ---------------------------------------------------------------- fields


@api_route(bp, "/contacts/fields", ["GET"])
def list_fields(account_id=None):
    return [f.to_wire() for f in fields_svc.list_fields(_caller(account_id, VIEWER))]


@api_route(bp, "/contacts/fields", ["POST"], body=ContactFieldCreate)
def create_field(account_id=None):
    acct = _caller(account_id, ADMIN)
    params: ContactFieldCreate = request_body(bp)
    return created(fields_svc.create_field(acct, params.name, params.merge_tag, params.data_type).to_wire())


@api_route(bp, "/contacts/fields/{field_id}", ["GET"])
def get_field(field_id, account_id=None):
    return fields_svc.get_field(_caller(account_id, VIEWER), field_id).to_wire()


@api_route(bp, "/contacts/fields/{field_id}", ["PATCH"], body=ContactFieldUpdate)
def update_field(field_id, account_id=None):
    acct = _caller(account_id, ADMIN)
    fields_svc.get_field(acct, field_id)  # an unknown field is a 404 before any 422
    params: ContactFieldUpdate = request_body(bp, allow_empty=True)
    sent = params.model_dump(include={"data_type"}, exclude_unset=True)
    return fields_svc.update_field(acct, field_id, params.name, params.merge_tag, **sent).to_wire()


@api_route(bp, "/contacts/fields/{field_id}", ["DELETE"])
def delete_field(field_id, account_id=None):
    fields_svc.delete_field(_caller(account_id, ADMIN), field_id)
    return no_content()


# ---------------------------------------------------------------- lists


@api_route(bp, "/contacts/lists", ["GET"], query=ContactListsQuery)
def list_lists(account_id=None):
    acct = _caller(account_id, VIEWER)
    return [item.to_wire() for item in lists_svc.list_lists(acct, request_query(bp).search)]


@api_route(bp, "/contacts/lists", ["POST"], body=ContactListWrite)
def create_list(account_id=None):
    acct = _caller(account_id, ADMIN)
    return lists_svc.create_list(acct, request_body(bp).name).to_wire()


@api_route(bp, "/contacts/lists/{list_id}", ["GET"])
def get_list(list_id, account_id=None):
    return lists_svc.get_list(_caller(account_id, VIEWER), list_id).to_wire()


@api_route(bp, "/contacts/lists/{list_id}", ["PATCH"], body=ContactListWrite)
def update_list(list_id, account_id=None):
    acct = _caller(account_id, ADMIN)
    lists_svc.get_list(acct, list_id)
    return lists_svc.rename_list(acct, list_id, request_body(bp, allow_empty=True).name).to_wire()


@api_route(bp, "/contacts/lists/{list_id}", ["DELETE"])
def delete_list(list_id, account_id=None):
    lists_svc.delete_list(_caller(account_id, ADMIN), list_id)
    return no_content()


# ---------------------------------------------------------------- segments


@api_route(bp, "/contacts/segments", ["GET"])
def list_segments(account_id=None):
    return segments.list_segments(_caller(account_id, VIEWER))


@api_route(bp, "/contacts/segments", ["POST"], body=ContactSegmentCreate)
def create_segment(account_id=None):
    acct = _caller(account_id, ADMIN)
    params: ContactSegmentCreate = request_body(bp)
    return created(segments.create_segment(acct, params.name, params.definition()))


@api_route(bp, "/contacts/segments/preview", ["POST"], body=ContactSegmentPreview)
def preview_segment(account_id=None):
    acct = _caller(account_id, VIEWER)
    return segments.preview(acct, request_body(bp).definition())


@api_route(bp, "/contacts/segments/{segment_id}", ["GET"])
def get_segment(segment_id, account_id=None):
    return segments.get_segment(_caller(account_id, VIEWER), segment_id)


@api_route(bp, "/contacts/segments/{segment_id}", ["PATCH"], body=ContactSegmentUpdate)
def update_segment(segment_id, account_id=None):
    acct = _caller(account_id, ADMIN)
    segments.get_segment(acct, segment_id)
    params: ContactSegmentUpdate = request_body(bp, allow_empty=True)
    return segments.update_segment(acct, segment_id, params.name, params.definition())


@api_route(bp, "/contacts/segments/{segment_id}", ["DELETE"])
def delete_segment(segment_id, account_id=None):
    segments.delete_segment(_caller(account_id, ADMIN), segment_id)
    return no_content()


@api_route(bp, "/contacts/segments/{segment_id}/contacts", ["GET"], query=SegmentContactsQuery)
def segment_contacts(segment_id, account_id=None):
    acct = _caller(account_id, VIEWER)
    query: SegmentContactsQuery = request_query(bp)
    return segments.segment_contacts(acct, segment_id, query.per_page, query.cursor)


@api_route(bp, "/contacts/segments/{segment_id}/count", ["GET"])
def segment_count(segment_id, account_id=None):
    return segments.segment_count(_caller(account_id, VIEWER), segment_id)


# ---------------------------------------------------------------- imports and exports


@api_route(bp, "/contacts/imports", ["POST"], query=ContactImportQuery, content_types=["application/json", "text/csv"])
def create_import(account_id=None):
    acct = _caller(account_id, ADMIN)
    query: ContactImportQuery = request_query(bp)
    request = bp.current_request
    job = imports.start_request(acct, request.headers.get("content-type"), request.raw_body or b"",
                                lambda: json_object(bp), consent=query.consent, list_ids=query.list_ids)
    return created(imports.to_wire(job, with_report=False))


@api_route(bp, "/contacts/imports/{import_id}", ["GET"])
def get_import(import_id, account_id=None):
    return imports.to_wire(imports.get_job(_caller(account_id, VIEWER), import_id))


@api_route(bp, "/contacts/exports", ["POST"], body=ContactExportCreate)
def create_export(account_id=None):
    acct = _caller(account_id, ADMIN)
    return created(exports.to_wire(exports.start(acct, request_body(bp, allow_empty=True).filters)))


@api_route(bp, "/contacts/exports/{export_id}", ["GET"])
def get_export(export_id, account_id=None):
    return exports.to_wire(exports.get_job(_caller(account_id, VIEWER), export_id))
