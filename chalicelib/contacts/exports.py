"""Contact exports: a filtered CSV (gzip) of the account's contacts in S3, built by the
``contact-tasks`` worker; GET returns a presigned download URL once it is finished.

GET shows its progress while it runs: contacts gone through (``processed``, written once per
page of ``PROGRESS_EVERY``) out of the account's contacts when it started (``total``).

One export runs at a time per account (a conditional write on the account's "export" meta
item), as Mailtrap answers a second request with "There is a previous export initiated".
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from typing import Any

from pynamodb.exceptions import DoesNotExist, UpdateError

from chalicelib.contacts import fields as fields_mod
from chalicelib.contacts import lists, meta, tasks
from chalicelib.contacts.common import ms_to_iso, now_ms
from chalicelib.contacts.models import Contact, ContactMeta, ExportJob
from chalicelib.core import aws, db, ids
from chalicelib.core.errors import NotFound, Unprocessable

PREVIOUS_EXPORT = "There is a previous export initiated. You will be notified by email once it is completed."
URL_SECONDS = 3600
PROGRESS_EVERY = 1000  # contacts read per Query page, and so between two progress writes


def _condition(filters: list[dict[str, Any]]) -> Any:
    condition = None
    for f in filters:
        if f["name"] == "list_id":
            part = None
            for list_id in f["value"]:
                member = Contact.list_ids.contains(list_id)
                part = member if part is None else part | member
        else:
            part = Contact.status == f["value"]
        condition = part if condition is None else condition & part
    return condition


def _lock(account_id: int, export_id: int) -> None:
    item = ContactMeta(int(account_id), meta.EXPORT)
    try:
        item.update(actions=[ContactMeta.current.set(export_id)], condition=ContactMeta.current.does_not_exist())
        return
    except UpdateError as exc:
        if not db.condition_failed(exc):
            raise
    held = meta.load(account_id, meta.EXPORT)
    previous = held.current if held else None
    try:
        stale = previous is not None and ExportJob.get(int(account_id), int(previous)).status in ("finished", "failed")
    except DoesNotExist:
        stale = True
    if not stale:
        raise Unprocessable(PREVIOUS_EXPORT)
    try:  # the holder ended without releasing: take over, unless someone else just did
        item.update(actions=[ContactMeta.current.set(export_id)], condition=ContactMeta.current == previous)
    except UpdateError as exc:
        if not db.condition_failed(exc):
            raise
        raise Unprocessable(PREVIOUS_EXPORT) from None


def _unlock(account_id: int, export_id: int) -> None:
    try:
        ContactMeta(int(account_id), meta.EXPORT).update(actions=[ContactMeta.current.remove()],
                                                        condition=ContactMeta.current == export_id)
    except UpdateError as exc:
        if not db.condition_failed(exc):
            raise  # only a lost condition means "already taken over"


def start(account_id: int, filters: list[dict[str, Any]]) -> ExportJob:
    """``filters``: canonical (``ContactExportCreate`` checked them)."""
    export_id = ids.next_id("contact_export")
    _lock(account_id, export_id)
    at = now_ms()
    job = ExportJob(int(account_id), export_id, status="created", filters=json.dumps(filters),
                    processed=0, total=meta.contacts_count(account_id), created_at=at, updated_at=at)
    job.save()
    tasks.enqueue({"kind": "export", "account_id": int(account_id), "export_id": export_id})
    job.update(actions=[ExportJob.status.set("started"), ExportJob.updated_at.set(now_ms())],
               condition=ExportJob.status == "created")
    return job


def get_job(account_id: int, export_id: Any) -> ExportJob:
    try:
        return ExportJob.get(int(account_id), int(export_id), consistent_read=True)
    except (DoesNotExist, TypeError, ValueError):
        raise NotFound() from None


def to_wire(job: ExportJob) -> dict[str, Any]:
    url = None
    if job.status == "finished" and job.object_key:
        url = aws.client("s3").generate_presigned_url(
            "get_object", Params={"Bucket": aws.bucket("data"), "Key": job.object_key}, ExpiresIn=URL_SECONDS)
    body = {"id": int(job.export_id), "status": job.status, "created_at": ms_to_iso(int(job.created_at)),
            "updated_at": ms_to_iso(int(job.updated_at)), "url": url}
    if job.status == "finished":
        body["contacts_count"] = int(job.contacts or 0)
    if job.status == "failed":
        body["error"] = job.failure or "the export could not be made"
    processed = int(job.processed or 0)  # (contacts created meanwhile may take it past the total)
    body["progress"] = {"processed": processed, "total": max(processed, int(job.total or 0))}
    return body


def fail(account_id: int, export_id: int, reason: str) -> bool:
    """End an unfinished export ``failed`` with ``reason`` and let the next one start."""
    job = get_job(account_id, export_id)
    if job.status not in ("created", "started"):
        return False
    job.update(actions=[ExportJob.status.set("failed"), ExportJob.failure.set(reason),
                        ExportJob.updated_at.set(now_ms())])
    _unlock(account_id, export_id)
    return True


def record_progress(job: ExportJob, processed: int) -> None:
    job.update(actions=[ExportJob.processed.set(processed), ExportJob.updated_at.set(now_ms())])


def run(account_id: int, export_id: int) -> None:
    """Write the CSV. Re-running after a crash writes the same object again."""
    job = get_job(account_id, export_id)
    if job.status in ("finished", "failed"):
        return
    schema = fields_mod.schema(account_id)
    list_names = {item.id: item.name for item in lists.all_lists(account_id)}
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["id", "email", "status", "lists", "created_at", "updated_at",
                     *[f.merge_tag for f in schema.fields]])
    written = reported = 0
    found = Contact.query(int(account_id), filter_condition=_condition(json.loads(job.filters)),
                          page_size=PROGRESS_EVERY)
    for contact in found:
        scanned = found.page_iter.total_scanned_count  # the filter's rejects count as gone through
        if scanned > reported:  # a new page: one progress write per page
            reported = scanned
            record_progress(job, scanned)
        values = meta.plain(contact.fields)
        member = sorted(int(i) for i in (contact.list_ids or ()) if int(i) in list_names)
        writer.writerow([contact.contact_id, contact.email, contact.status,
                         "; ".join(list_names[i] for i in member),
                         ms_to_iso(int(contact.created_at)), ms_to_iso(int(contact.updated_at)),
                         *["" if values.get(f.key) is None else _cell(values[f.key]) for f in schema.fields]])
        written += 1
    key = f"contact-exports/{int(account_id)}/{int(export_id)}/contacts.csv.gz"
    aws.client("s3").put_object(Bucket=aws.bucket("data"), Key=key, Body=gzip.compress(buffer.getvalue().encode()),
                                ContentType="application/gzip")
    scanned = found.page_iter.total_scanned_count
    job.update(actions=[ExportJob.status.set("finished"), ExportJob.object_key.set(key),
                        ExportJob.contacts.set(written), ExportJob.processed.set(scanned),
                        ExportJob.total.set(scanned), ExportJob.updated_at.set(now_ms())])
    _unlock(account_id, export_id)


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
