"""Contact imports: up to 50,000 contacts from JSON or a CSV upload, processed in chunks by
the ``contact-imports`` queue worker.

Flow: the request is checked (size, consent, columns, list id contradictions) and its rows
stored in S3; a "split" message validates every row (invalid ones are skipped and reported,
never abort the import), merges duplicate emails and writes chunk files; one "chunk" message
per chunk then creates or updates its contacts. A redelivered message redoes nothing twice:
each contact written carries the chunk that wrote it (``last_import``), quota reservations
and counts are recorded per chunk on the job with conditional writes, and events are
re-published with the same deduplication ids. The job's ``processed`` rows (out of ``rows``)
move with those writes, so GET shows the import's progress while it runs.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Callable
from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError

from chalicelib.contacts import changes, lists, meta, outbox
from chalicelib.contacts import fields as fields_mod
from chalicelib.contacts.common import MAX_IMPORT, email_errors, email_key, new_contact_id, now_ms
from chalicelib.contacts.models import Contact, ImportJob
from chalicelib.core import aws, db, ids, queues
from chalicelib.core.config import settings
from chalicelib.core.errors import NotFound, PayloadTooLarge, Unprocessable

log = logging.getLogger("postline.contacts.imports")

QUEUE = queues.register("contact-imports")
CHUNK_SIZE = 1000
MAX_CSV_BYTES = 10 * 1024 * 1024
MAX_ATTEMPTS = 3  # the queue's maxReceiveCount: after that the job is failed
MAX_REPORTED = 1000  # skipped rows listed in GET /imports/{id} (all are counted)
TOO_MANY = f"cannot import more than {MAX_IMPORT} contacts at once"
CONSENT_REQUIRED = "You cannot proceed without confirming consent."


class ImportRejected(Unprocessable):
    """422 in the shape the import endpoint documents: one entry per offending contact."""

    def __init__(self, entries: list[dict[str, Any]]) -> None:
        super().__init__(entries[0]["errors"])
        self.entries = entries

    def body(self) -> dict[str, Any]:
        return {"errors": self.entries}


def _key(account_id: int, import_id: int, name: str) -> str:
    return f"contact-imports/{int(account_id)}/{int(import_id)}/{name}"


def _put_json(key: str, value: Any) -> None:
    aws.client("s3").put_object(Bucket=aws.bucket("data"), Key=key,
                                Body=json.dumps(value, separators=(",", ":")).encode(),
                                ContentType="application/json")


def _get_json(key: str) -> Any:
    return json.loads(aws.client("s3").get_object(Bucket=aws.bucket("data"), Key=key)["Body"].read())


# ---------------------------------------------------------------- request parsing


def rows_from_json(body: dict[str, Any]) -> list[Any]:
    contacts = body.get("contacts")
    if not isinstance(contacts, list):
        raise Unprocessable.field("contacts", "must be an array")
    if not contacts:
        raise Unprocessable.field("contacts", "can't be empty")
    if len(contacts) > MAX_IMPORT:
        raise Unprocessable(TOO_MANY)
    contradictions = []
    for row in contacts:
        if isinstance(row, dict):
            included, excluded = _id_set(row.get("list_ids_included")), _id_set(row.get("list_ids_excluded"))
            message = lists.overlap_message(included, excluded)
            if message:
                contradictions.append({"email": row.get("email"), "errors": {"base": [message]}})
    if contradictions:  # a contradictory instruction, not bad data: the request is refused
        raise ImportRejected(contradictions)
    return contacts


def _id_set(raw: Any) -> set[int]:
    if not isinstance(raw, list):
        return set()
    return {v for v in raw if isinstance(v, int) and not isinstance(v, bool)}


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("true", "1", "yes", "on")


def rows_from_csv(raw: bytes, schema: fields_mod.Schema, consent: str | None,
                  list_ids: str | None) -> tuple[list[dict[str, Any]], dict[str, str], set[int]]:
    """Rows, the column mapping (header -> "email", a merge tag or "" when ignored) and lists."""
    if not _truthy(consent):
        raise Unprocessable(CONSENT_REQUIRED)
    if len(raw) > MAX_CSV_BYTES:
        raise PayloadTooLarge("CSV file is larger than 10 MB")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Unprocessable("CSV file must be UTF-8 encoded") from None
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header or not any(h.strip() for h in header):
        raise Unprocessable("CSV file needs a header row with field names")
    by_name = {f.name.strip().lower(): f.merge_tag for f in schema.fields}
    mapping: dict[str, str] = {}
    targets: list[str] = []
    for position, column in enumerate(header, start=1):
        name = column.strip().lower()
        target = "email" if name == "email" else (name if name in schema.by_tag else by_name.get(name, ""))
        if target and target in targets:
            target = ""  # a second column for the same field is ignored
        label = column.strip() or f"(column {position})"
        if label in mapping:
            label = f"{label} (column {position})"
        mapping[label] = target
        targets.append(target)
    if "email" not in targets:
        raise Unprocessable("CSV file must have an email column")
    lists_wanted = []
    for part in (list_ids or "").split(","):
        if part.strip():
            try:
                lists_wanted.append(int(part))
            except ValueError:
                raise Unprocessable.field("list_ids", "contains invalid data") from None
    rows: list[dict[str, Any]] = []
    for line in reader:
        if not any(cell.strip() for cell in line):
            continue
        if len(rows) == MAX_IMPORT:
            raise Unprocessable(TOO_MANY)
        row: dict[str, Any] = {"fields": {}}
        for target, cell in zip(targets, line, strict=False):  # short rows: missing cells
            if target == "email":
                row["email"] = cell.strip()
            elif target and cell.strip():
                row["fields"][target] = cell
        row["line"] = reader.line_num
        if lists_wanted:
            row["list_ids_included"] = lists_wanted
        rows.append(row)
    if not rows:
        raise Unprocessable("CSV file has no contacts")
    return rows, mapping, set(lists_wanted)


# ---------------------------------------------------------------- jobs


def start_request(account_id: int, content_type: str | None, raw: bytes, json_object: Callable[[], dict[str, Any]],
                  *, consent: str | None, list_ids: str | None) -> ImportJob:
    """Start an import from an API request: a CSV file (``text/csv``; ``consent`` and
    ``list_ids`` are its query parameters) or a JSON body of contacts (any other type).

    ``json_object`` reads the request body as a JSON object (the HTTP layer's parsing and its
    400s); it is called only for a JSON import.
    """
    if (content_type or "").split(";")[0].strip().lower() == "text/csv":
        rows, columns, wanted = rows_from_csv(raw, fields_mod.schema(account_id), consent, list_ids)
        if wanted - lists.existing_ids(account_id):
            raise Unprocessable.field("list_ids", "contains invalid data")
        return start(account_id, rows, "csv", columns, wanted)
    return start(account_id, rows_from_json(json_object()), "json")


def start(account_id: int, rows: list[Any], source: str, columns: dict[str, str] | None = None,
          list_ids: set[int] | None = None) -> ImportJob:
    at = now_ms()
    job = ImportJob(int(account_id), ids.next_id("contact_import"), status="created", source=source,
                    rows=len(rows), columns=columns or None, list_ids=list_ids or None, attempts={},
                    created_at=at, updated_at=at)
    job.save()
    _put_json(_key(account_id, job.import_id, "source.json"), rows)
    queues.send(QUEUE, {"kind": "split", "account_id": int(account_id), "import_id": int(job.import_id)})
    job.update(actions=[ImportJob.status.set("started"), ImportJob.updated_at.set(now_ms())],
               condition=ImportJob.status == "created")
    return job


def get_job(account_id: int, import_id: Any) -> ImportJob:
    try:
        return ImportJob.get(int(account_id), int(import_id), consistent_read=True)
    except (DoesNotExist, TypeError, ValueError):
        raise NotFound() from None


def to_wire(job: ImportJob, with_report: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {"id": int(job.import_id), "status": job.status}
    if job.status == "finished":
        body.update({
            "created_contacts_count": int(job.created_count),
            "updated_contacts_count": int(job.updated_count),
            "contacts_over_limit_count": int(job.over_limit_count),
            "skipped_contacts_count": int(job.skipped_count),
        })
        if with_report:
            body["skipped_contacts"] = _skipped(job)
    if job.status == "failed":
        body["error"] = job.failure or "the import could not be processed"
    if job.columns:
        body["columns"] = {k: (v or None) for k, v in meta.plain(job.columns).items()}
    if with_report:  # (the POST answers the seed's exact {"id", "status"})
        total = int(job.rows or 0)
        body["progress"] = {"processed": total if job.status == "finished" else int(job.processed or 0),
                            "total": total}
    return body


def _skipped(job: ImportJob) -> list[dict[str, Any]]:
    if not job.skipped_count:
        return []
    try:
        return _get_json(_key(job.account_id, job.import_id, "skipped.json"))[:MAX_REPORTED]
    except Exception:  # the report is a convenience; the counts are the record
        log.warning("import %s: skipped-rows report unavailable", job.import_id)
        return []


# ---------------------------------------------------------------- worker: split


def _normalise(index: int, raw: Any, schema: fields_mod.Schema, known: set[int]) -> tuple[dict | None, dict | None]:
    row_no = raw.get("line", index + 1) if isinstance(raw, dict) else index + 1
    if not isinstance(raw, dict):
        return None, {"row": row_no, "email": None, "errors": {"base": ["must be an object"]}}
    email = raw.get("email")
    errors: dict[str, list[str]] = {}
    problems = email_errors(email)
    if problems:
        errors["email"] = problems
    values, field_errors = schema.convert_values(raw.get("fields"))
    errors.update(field_errors)
    add, problem = lists.check_ids(raw.get("list_ids_included"), known, "list_ids_included")
    errors.update(problem)
    remove, problem = lists.check_ids(raw.get("list_ids_excluded"), known, "list_ids_excluded")
    errors.update(problem)
    if errors:
        return None, {"row": row_no, "email": email if isinstance(email, str) else None, "errors": errors}
    return {"email": email.strip(), "key": email_key(email), "values": values, "add": sorted(add),
            "remove": sorted(remove), "row": row_no}, None


def _merge(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per email: a later row's values win, list instructions add up."""
    merged: dict[str, dict[str, Any]] = {}
    for row in rows:
        first = merged.get(row["key"])
        if first is None:
            merged[row["key"]] = row
            continue
        first["email"] = row["email"]
        first["values"].update(row["values"])
        add = (set(first["add"]) - set(row["remove"])) | set(row["add"])
        remove = (set(first["remove"]) - set(row["add"])) | set(row["remove"])
        first["add"], first["remove"] = sorted(add), sorted(remove)
    return list(merged.values())


def split(account_id: int, import_id: int) -> None:
    job = get_job(account_id, import_id)
    if job.status not in ("created", "started"):
        return
    if job.chunks_total is None:
        schema = fields_mod.schema(account_id)
        known = lists.existing_ids(account_id)
        valid, skipped = [], []
        for index, raw in enumerate(_get_json(_key(account_id, import_id, "source.json"))):
            row, error = _normalise(index, raw, schema, known)
            if row is not None:
                valid.append(row)
            else:
                skipped.append(error)
        valid = _merge(valid)
        chunks = [valid[i:i + CHUNK_SIZE] for i in range(0, len(valid), CHUNK_SIZE)]
        for k, chunk in enumerate(chunks):
            _put_json(_key(account_id, import_id, f"chunk-{k}.json"), chunk)
        if skipped:
            _put_json(_key(account_id, import_id, "skipped.json"), skipped)
        try:
            job.update(actions=[ImportJob.chunks_total.set(len(chunks)), ImportJob.skipped_count.set(len(skipped)),
                                ImportJob.processed.set(int(job.rows or 0) - len(valid)),  # skipped, merged
                                ImportJob.updated_at.set(now_ms())],
                       condition=ImportJob.chunks_total.does_not_exist())
        except Exception as exc:
            if not db.condition_failed(exc):
                raise
            job = get_job(account_id, import_id)  # a concurrent delivery split it first
    if int(job.chunks_total) == 0:
        _finish_if_done(job)
        return
    done = job.chunks_done or set()
    queues.send_many(QUEUE, ({"kind": "chunk", "account_id": int(account_id), "import_id": int(import_id),
                              "chunk": k} for k in range(int(job.chunks_total)) if k not in done))


# ---------------------------------------------------------------- worker: chunk


def _existing(account_id: int, keys: list[str]) -> dict[str, Contact]:
    found: dict[str, Contact] = {}
    for i in range(0, len(keys), 100):
        for contact in Contact.batch_get([(int(account_id), k) for k in keys[i:i + 100]], consistent_read=True):
            found[contact.email_key] = contact
    return found


def _reserve(job: ImportJob, chunk: int, wanted: int) -> int:
    """Contacts this chunk may create under the account's limit, decided once per chunk: the
    grant is recorded on the account's count item in the same conditional write that counts it."""
    return meta.reserve_once(job.account_id, f"{int(job.import_id)}:{chunk}", wanted, settings().contacts_limit)


def _change(row: dict[str, Any], known: set[int]) -> changes.Change:
    return changes.Change(values=dict(row["values"]), add_lists=set(row["add"]) & known,
                          remove_lists=set(row["remove"]) & known)


def process_chunk(account_id: int, import_id: int, chunk: int) -> None:
    job = get_job(account_id, import_id)
    if job.status != "started" or chunk in (job.chunks_done or set()):
        return
    rows = _get_json(_key(account_id, import_id, f"chunk-{chunk}.json"))
    schema = fields_mod.schema(account_id)
    known = lists.existing_ids(account_id)
    ref = f"import:{import_id}:{chunk}"
    marker = f"{import_id}:{chunk}:"
    existing = _existing(account_id, [r["key"] for r in rows])
    settled_cache: dict[str, bool] = {}
    counts = {"created": 0, "updated": 0}
    publish: list[dict[str, Any]] = []
    fresh_rows: list[dict[str, Any]] = []
    for row in rows:
        contact = existing.get(row["key"])
        if contact is None:
            fresh_rows.append(row)
        elif (contact.last_import or "").startswith(marker):  # written by an earlier delivery
            counts[contact.last_import.rsplit(":", 1)[1]] += 1
            if contact.outbox_ref == ref:
                publish.extend(outbox.pending(contact))
        else:
            publish.extend(_update(contact, row, schema, known, ref, marker, settled_cache))
            counts["updated"] += 1

    granted = _reserve(job, chunk, counts["created"] + len(fresh_rows)) - counts["created"]
    allowed = fresh_rows[:max(0, granted)]
    over_limit = len(fresh_rows) - len(allowed)
    at = now_ms()
    new_contacts = []
    for row in allowed:
        contact = Contact(int(account_id), row["key"], contact_id=new_contact_id(), email=row["email"],
                          created_at=at, updated_at=at, seq=0)
        events = changes.apply(contact, _change(row, known), schema, source="import", created=True)
        outbox.assign(contact, events)
        contact.outbox_ref = ref
        contact.last_import = marker + "created"
        new_contacts.append(contact)
        publish.extend(events)
    with Contact.batch_write() as batch:
        for contact in new_contacts:
            batch.save(contact)
    counts["created"] += len(new_contacts)

    outbox.publish(account_id, publish)
    try:
        job.update(actions=[ImportJob.created_count.add(counts["created"]),
                            ImportJob.updated_count.add(counts["updated"]),
                            ImportJob.over_limit_count.add(over_limit), ImportJob.processed.add(len(rows)),
                            ImportJob.chunks_done.add({chunk}), ImportJob.updated_at.set(now_ms())],
                   condition=~ImportJob.chunks_done.contains(chunk))
    except Exception as exc:
        if not db.condition_failed(exc):
            raise
        return  # a concurrent delivery counted this chunk
    meta.forget_reservation(account_id, f"{int(import_id)}:{chunk}")
    _finish_if_done(job)


def _update(contact: Contact, row: dict[str, Any], schema: fields_mod.Schema, known: set[int], ref: str,
            marker: str, cache: dict[str, bool]) -> list[dict[str, Any]]:
    """Update an existing contact (never resubscribing it); returns the events to publish."""
    for _ in range(5):
        old_seq = int(contact.seq or 0)
        outbox.keep_unsettled(contact, cache)
        events = changes.apply(contact, _change(row, known), schema, source="import", created=False)
        if not events and not outbox.has_pending(contact):
            return []  # nothing changes: no write, and a redelivery reaches the same answer
        outbox.assign(contact, events)
        contact.outbox_ref = ref  # this chunk now publishes everything in the outbox
        contact.outbox_pending = None
        contact.outbox_since = None
        contact.last_import = marker + "updated"
        try:
            contact.save(condition=(Contact.seq == old_seq) if old_seq else Contact.email_key.exists())
            return outbox.pending(contact)
        except PutError as exc:
            if not db.condition_failed(exc):
                raise
        try:
            contact = Contact.get(contact.account_id, contact.email_key, consistent_read=True)
        except DoesNotExist:
            return []  # deleted meanwhile: the import does not bring it back
    raise RuntimeError("contact kept changing during the import; the chunk will be retried")


def _finish_if_done(job: ImportJob) -> None:
    fresh = get_job(job.account_id, job.import_id)
    if fresh.status == "started" and fresh.chunks_total is not None and \
            len(fresh.chunks_done or ()) >= int(fresh.chunks_total):
        try:
            fresh.update(actions=[ImportJob.status.set("finished"), ImportJob.updated_at.set(now_ms())],
                         condition=ImportJob.status == "started")
        except Exception as exc:
            if not db.condition_failed(exc):
                raise


def fail(account_id: int, import_id: int, reason: str) -> bool:
    """End an unfinished import ``failed`` with ``reason``; False if it had ended."""
    job = get_job(account_id, import_id)
    if job.status not in ("created", "started"):
        return False
    job.update(actions=[ImportJob.status.set("failed"), ImportJob.failure.set(reason),
                        ImportJob.updated_at.set(now_ms())])
    return True


def handle(body: dict[str, Any]) -> None:
    """One queue message; a failure is retried by SQS, and the third failure fails the job."""
    account_id, import_id = int(body["account_id"]), int(body["import_id"])
    try:
        if body.get("kind") == "split":
            split(account_id, import_id)
        else:
            process_chunk(account_id, import_id, int(body["chunk"]))
    except Exception as exc:
        attempts = _count_attempt(account_id, import_id, body)
        if attempts >= MAX_ATTEMPTS:
            part = "splitting" if body.get("kind") == "split" else f"chunk {body.get('chunk')}"
            fail(account_id, import_id, f"{part} failed {attempts} times ({type(exc).__name__})")
        raise


def _count_attempt(account_id: int, import_id: int, body: dict[str, Any]) -> int:
    name = "split" if body.get("kind") == "split" else str(body.get("chunk"))
    path = ImportJob.attempts[name]
    job = ImportJob(account_id, import_id)
    job.update(actions=[path.set((path | 0) + 1)], condition=ImportJob.import_id.exists())
    return int(meta.plain(job.attempts).get(name, 0))
