"""Imports: JSON and CSV, limits, consent, mapping, counts, dedupe, quota, redelivery."""

from __future__ import annotations

import json

import pytest

from chalicelib.contacts import imports, outbox
from chalicelib.contacts.models import ImportJob
from chalicelib.core import aws
from tests.contacts_support import contact_events, fresh_events, make_contact, make_field, make_list, run_workers  # noqa: F401

pytestmark = pytest.mark.usefixtures("fresh_events")


def _csv(api, text: str, query: str = "consent=true"):
    return api.post(f"/api/contacts/imports?{query}", raw=text.encode(), headers={"Content-Type": "text/csv"})


def test_api_import_creates_and_updates_by_email(api, account, client):
    acct, _ = account
    make_field(api, "First name", "text", "first_name")
    make_contact(api, "one@example.com", fields={"first_name": "Old"})
    make_contact(api, "two@example.com")
    r = api.post(f"/api/accounts/{acct.account_id}/contacts/imports", {"contacts": [
        {"email": "new@example.com", "fields": {"first_name": "New"}},
        {"email": "ONE@example.com", "fields": {"first_name": "One"}},
        {"email": "two@example.com"}]})
    assert r.status == 201 and r.json == {"id": r.json["id"], "status": "started"}
    run_workers(client)
    job = api.get(f"/api/contacts/imports/{r.json['id']}").json
    assert job["status"] == "finished"
    assert (job["created_contacts_count"], job["updated_contacts_count"], job["contacts_over_limit_count"]) == (1, 2, 0)
    new = api.get("/api/contacts/new%40example.com").json["data"]
    assert new["status"] == "subscribed" and new["fields"] == {"first_name": "New"}
    assert api.get("/api/contacts/one%40example.com").json["data"]["fields"] == {"first_name": "One"}


def test_invalid_rows_are_skipped_with_reasons_and_the_rest_imported(api, client):
    make_field(api, "Age", "integer", "age")
    r = api.post("/api/contacts/imports", {"contacts": [
        {"email": "ok@example.com", "fields": {"age": 30}},
        {"email": "bad-email"},
        {"email": "x@example.com", "fields": {"age": "old"}},
        {"email": "y@example.com", "fields": {"unknown": 1}},
        {"email": "z@example.com", "list_ids_included": [987654]},
        "not an object"]})
    run_workers(client)
    job = api.get(f"/api/contacts/imports/{r.json['id']}").json
    assert job["status"] == "finished" and job["created_contacts_count"] == 1
    assert job["skipped_contacts_count"] == 5
    assert job["skipped_contacts"] == [
        {"row": 2, "email": "bad-email", "errors": {"email": ["is invalid"]}},
        {"row": 3, "email": "x@example.com", "errors": {"age": ["must be an integer"]}},
        {"row": 4, "email": "y@example.com", "errors": {"fields": ["contains invalid values: unknown"]}},
        {"row": 5, "email": "z@example.com", "errors": {"list_ids_included": ["contains invalid data"]}},
        {"row": 6, "email": None, "errors": {"base": ["must be an object"]}}]


def test_same_email_twice_makes_one_contact_counted_once(api, client):
    make_field(api, "City", "text", "city")
    make_field(api, "Zip", "text", "zip")
    r = api.post("/api/contacts/imports", {"contacts": [
        {"email": "twice@example.com", "fields": {"city": "Oslo", "zip": "0150"}},
        {"email": "Twice@Example.com", "fields": {"city": "Bergen"}}]})
    run_workers(client)
    job = api.get(f"/api/contacts/imports/{r.json['id']}").json
    assert (job["created_contacts_count"], job["updated_contacts_count"]) == (1, 0)
    data = api.get("/api/contacts/twice%40example.com").json["data"]
    assert data["fields"] == {"city": "Bergen", "zip": "0150"}  # the later row wins


def test_included_and_excluded_list_ids_contradiction_is_422(api):
    listed = make_list(api, "L")
    r = api.post("/api/contacts/imports", {"contacts": [
        {"email": "fine@example.com"},
        {"email": "a@example.com", "list_ids_included": [listed], "list_ids_excluded": [listed]}]})
    assert r.status == 422
    assert r.json == {"errors": [{"email": "a@example.com", "errors": {
        "base": [f"same list_ids {listed} are specified both as included and excluded"]}}]}


def test_more_than_50000_contacts_is_refused(api):
    r = api.post("/api/contacts/imports", {"contacts": [{"email": f"u{i}@x.io"} for i in range(50_001)]})
    assert r.status == 422 and r.json == {"errors": {"base": ["cannot import more than 50000 contacts at once"]}}
    rows = "email\n" + "".join(f"u{i}@x.io\n" for i in range(50_001))
    r = _csv(api, rows)
    assert r.status == 422 and r.json["errors"]["base"] == ["cannot import more than 50000 contacts at once"]


def test_import_over_the_contact_limit_counts_the_excess(api, client, settings_env):
    settings_env(POSTLINE_CONTACTS_LIMIT=3)
    make_contact(api, "existing@example.com")
    r = api.post("/api/contacts/imports", {"contacts": [
        {"email": "existing@example.com"}, *({"email": f"n{i}@example.com"} for i in range(4))]})
    run_workers(client)
    job = api.get(f"/api/contacts/imports/{r.json['id']}").json
    assert (job["created_contacts_count"], job["updated_contacts_count"], job["contacts_over_limit_count"]) == (2, 1, 2)
    assert len(api.get("/api/contacts").json["data"]) == 3


def test_an_unsubscribed_contact_stays_unsubscribed(api, client):
    make_field(api, "Plan", "text", "plan")
    contact = make_contact(api, "u@example.com")
    api.patch(f"/api/contacts/{contact['id']}", {"contact": {"unsubscribed": True}})
    r = api.post("/api/contacts/imports", {"contacts": [{"email": "u@example.com", "fields": {"plan": "pro"}}]})
    run_workers(client)
    assert api.get(f"/api/contacts/imports/{r.json['id']}").json["updated_contacts_count"] == 1
    data = api.get(f"/api/contacts/{contact['id']}").json["data"]
    assert data["status"] == "unsubscribed" and data["fields"] == {"plan": "pro"}


def test_csv_columns_map_case_insensitively_and_unknown_ones_are_ignored(api, client):
    make_field(api, "First name", "text", "first_name")
    make_field(api, "Signup", "date", "signup_date")
    listed = make_list(api, "From CSV")
    r = _csv(api, "\ufeffEmail,First_Name,foo,SIGNUP,\nann@example.com,Ann,bar,2024-01-15,\n\nbob@example.com,,x\n",
             f"consent=true&list_ids={listed}")
    assert r.status == 201, r
    run_workers(client)
    job = api.get(f"/api/contacts/imports/{r.json['id']}").json
    assert job["status"] == "finished" and job["created_contacts_count"] == 2
    assert job["columns"] == {"Email": "email", "First_Name": "first_name", "foo": None, "SIGNUP": "signup_date",
                              "(column 5)": None}
    ann = api.get("/api/contacts/ann%40example.com").json["data"]
    assert ann["fields"] == {"first_name": "Ann", "signup_date": "2024-01-15"} and ann["list_ids"] == [listed]
    assert api.get("/api/contacts/bob%40example.com").json["data"]["fields"] == {}


def test_csv_needs_consent_an_email_column_utf8_and_at_most_10_mb(api):
    r = _csv(api, "email\na@example.com\n", "consent=false")
    assert r.status == 422 and r.json == {"errors": {"base": ["You cannot proceed without confirming consent."]}}
    r = _csv(api, "name,phone\nAnn,1\n")
    assert r.status == 422 and r.json["errors"]["base"] == ["CSV file must have an email column"]
    r = api.post("/api/contacts/imports?consent=true", raw="email\nj\xf8rn@example.com\n".encode("latin-1"),
                 headers={"Content-Type": "text/csv"})
    assert r.status == 422 and r.json["errors"]["base"] == ["CSV file must be UTF-8 encoded"]
    big = "email\n" + "a" * (10 * 1024 * 1024 - 6) + "\n"
    assert len(big.encode()) == 10 * 1024 * 1024 + 1
    r = _csv(api, big)
    assert r.status == 413 and r.json == {"errors": "CSV file is larger than 10 MB"}
    assert _csv(api, "email\na@example.com\n").status == 201  # with consent: a job


def test_redelivered_messages_do_nothing_twice(api, account, client):
    """Every message delivered twice (SQS is at-least-once): same counts, same contacts,
    and each contact's events published once."""
    acct, _ = account
    make_field(api, "Plan", "text", "plan")
    make_contact(api, "old@example.com", fields={"plan": "free"})
    contact_events(acct.account_id)
    r = api.post("/api/contacts/imports", {"contacts": [
        {"email": "old@example.com", "fields": {"plan": "pro"}},
        *({"email": f"n{i}@example.com"} for i in range(3))]})
    job_id = r.json["id"]
    split = {"kind": "split", "account_id": acct.account_id, "import_id": job_id}
    imports.handle(split)
    imports.handle(split)
    chunk = {"kind": "chunk", "account_id": acct.account_id, "import_id": job_id, "chunk": 0}
    # first delivery crashes after writing the contacts, before publishing and counting
    original = outbox.publish
    calls = []

    def crash(account_id, events):
        calls.append(len(events))
        raise ConnectionError("lost the network")

    outbox.publish = crash
    try:
        with pytest.raises(ConnectionError):
            imports.handle(chunk)
    finally:
        outbox.publish = original
    imports.handle(chunk)
    imports.handle(chunk)
    job = api.get(f"/api/contacts/imports/{job_id}").json
    assert (job["status"], job["created_contacts_count"], job["updated_contacts_count"]) == ("finished", 3, 1)
    assert len(api.get("/api/contacts").json["data"]) == 4
    seen = [(e["contact_id"], e["seq"]) for e in contact_events(acct.account_id)]
    assert len(seen) == len(set(seen)) == 4  # SQS dropped the repeat (same deduplication id)
    assert calls == [4]


def test_a_chunk_failing_three_times_fails_the_job(api, account, monkeypatch):
    acct, _ = account
    r = api.post("/api/contacts/imports", {"contacts": [{"email": "f@example.com"}]})
    imports.handle({"kind": "split", "account_id": acct.account_id, "import_id": r.json["id"]})

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(imports, "_existing", broken)
    chunk = {"kind": "chunk", "account_id": acct.account_id, "import_id": r.json["id"], "chunk": 0}
    for attempt in range(3):
        with pytest.raises(RuntimeError):
            imports.handle(chunk)
        status = api.get(f"/api/contacts/imports/{r.json['id']}").json["status"]
        assert status == ("failed" if attempt == 2 else "started")
    assert "chunk 0 failed 3 times" in api.get(f"/api/contacts/imports/{r.json['id']}").json["error"]


def test_large_import_finishes_with_exact_counts(api, account, client, monkeypatch):
    """Several chunks (chunk size lowered to keep the test small)."""
    acct, _ = account
    monkeypatch.setattr(imports, "CHUNK_SIZE", 40)
    make_field(api, "N", "integer", "n")
    for i in range(0, 200, 20):
        make_contact(api, f"c{i}@example.com")
    r = api.post("/api/contacts/imports", {"contacts": [
        {"email": f"c{i}@example.com", "fields": {"n": i}} for i in range(200)]})
    run_workers(client)
    job = api.get(f"/api/contacts/imports/{r.json['id']}").json
    assert (job["created_contacts_count"], job["updated_contacts_count"], job["skipped_contacts_count"]) == (190, 10, 0)
    stored = ImportJob.get(acct.account_id, r.json["id"])
    assert stored.chunks_total == 5 and stored.chunks_done == {0, 1, 2, 3, 4}
    body = aws.client("s3").get_object(Bucket=aws.bucket("data"),
                                       Key=f"contact-imports/{acct.account_id}/{r.json['id']}/chunk-4.json")["Body"]
    assert len(json.loads(body.read())) == 40


def test_unfinished_jobs_are_requeued_after_a_local_restart(api, account, client):
    from chalicelib.contacts import worker

    acct, _ = account
    r = api.post("/api/contacts/imports", {"contacts": [{"email": "lost@example.com"}]})
    imports.handle({"kind": "split", "account_id": acct.account_id, "import_id": r.json["id"]})
    sqs = aws.client("sqs")
    url = aws.queue_url(imports.QUEUE)
    sqs.purge_queue(QueueUrl=url)  # its messages are lost, as SQS's are on a local restart
    assert worker.requeue_unfinished_jobs() >= 1
    run_workers(client)
    job = api.get(f"/api/contacts/imports/{r.json['id']}").json
    assert job["status"] == "finished" and job["created_contacts_count"] == 1


def test_a_running_import_reports_processed_and_total(api, account, client, monkeypatch):
    """GET of an import says how far it is while it runs: rows processed out of the rows sent."""
    acct, _ = account
    monkeypatch.setattr(imports, "CHUNK_SIZE", 2)
    r = api.post("/api/contacts/imports", {"contacts": [
        *({"email": f"p{i}@example.com"} for i in range(5)), {"email": "not-an-email"}, {"email": "p0@example.com"}]})
    job_id = r.json["id"]
    assert api.get(f"/api/contacts/imports/{job_id}").json["progress"] == {"processed": 0, "total": 7}
    imports.handle({"kind": "split", "account_id": acct.account_id, "import_id": job_id})
    job = api.get(f"/api/contacts/imports/{job_id}").json
    assert job["status"] == "started" and job["progress"] == {"processed": 2, "total": 7}  # invalid + duplicate
    imports.handle({"kind": "chunk", "account_id": acct.account_id, "import_id": job_id, "chunk": 0})
    imports.handle({"kind": "chunk", "account_id": acct.account_id, "import_id": job_id, "chunk": 0})  # again
    assert api.get(f"/api/contacts/imports/{job_id}").json["progress"] == {"processed": 4, "total": 7}
    run_workers(client)
    job = api.get(f"/api/contacts/imports/{job_id}").json
    assert job["status"] == "finished" and job["progress"] == {"processed": 7, "total": 7}
    assert job["created_contacts_count"] == 5
