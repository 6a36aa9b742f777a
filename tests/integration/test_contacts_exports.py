"""Contact exports: filters, one at a time, a gzipped CSV behind a presigned URL."""

from __future__ import annotations

import csv
import gzip
import io
from urllib.parse import urlsplit

import pytest

from chalicelib.contacts.models import ExportJob
from chalicelib.core import aws
from tests.contacts_support import fresh_events, make_contact, make_field, make_list, run_workers  # noqa: F401

pytestmark = pytest.mark.usefixtures("fresh_events")


def _download(url: str) -> list[dict[str, str]]:
    key = urlsplit(url).path.lstrip("/")
    key = key.removeprefix(aws.bucket("data") + "/")  # path-style URLs name the bucket first
    assert key.startswith("contact-exports/") and "X-Amz-Signature=" in url or "Signature=" in url
    body = aws.client("s3").get_object(Bucket=aws.bucket("data"), Key=key)["Body"].read()
    return list(csv.DictReader(io.StringIO(gzip.decompress(body).decode())))


def test_export_with_filters_to_csv(api, account, client):
    acct, _ = account
    make_field(api, "Plan", "text", "plan")
    vip, other = make_list(api, "VIP"), make_list(api, "Other")
    make_contact(api, "a@example.com", fields={"plan": "pro"}, list_ids=[vip])
    gone = make_contact(api, "b@example.com", list_ids=[vip])
    api.patch(f"/api/contacts/{gone['id']}", {"contact": {"unsubscribed": True}})
    make_contact(api, "c@example.com", list_ids=[other])
    r = api.post(f"/api/accounts/{acct.account_id}/contacts/exports", {"filters": [
        {"name": "list_id", "operator": "equal", "value": [vip]},
        {"name": "subscription_status", "operator": "equal", "value": "subscribed"}]})
    assert r.status == 201
    assert r.json["status"] == "started" and r.json["url"] is None and r.json["created_at"].endswith("Z")
    run_workers(client)
    done = api.get(f"/api/contacts/exports/{r.json['id']}").json
    assert done["status"] == "finished" and done["url"] and done["contacts_count"] == 1
    rows = _download(done["url"])
    assert [(row["email"], row["status"], row["lists"], row["plan"]) for row in rows] == [
        ("a@example.com", "subscribed", "VIP", "pro")]


def test_only_one_export_at_a_time(api, account, client):
    acct, _ = account
    make_contact(api, "x@example.com")
    first = api.post("/api/contacts/exports", {"filters": []})
    assert first.status == 201
    second = api.post("/api/contacts/exports", {"filters": []})
    assert second.status == 422
    assert second.json == {"errors": {"base": [
        "There is a previous export initiated. You will be notified by email once it is completed."]}}
    run_workers(client)
    third = api.post("/api/contacts/exports", {})
    assert third.status == 201  # the first finished: a new one may start
    run_workers(client)
    assert len(_download(api.get(f"/api/contacts/exports/{third.json['id']}").json["url"])) == 1


def test_a_stale_lock_does_not_block_forever(api, account):
    acct, _ = account
    first = api.post("/api/contacts/exports", {}).json
    ExportJob.get(acct.account_id, first["id"]).update(actions=[ExportJob.status.set("failed")])
    assert api.post("/api/contacts/exports", {}).status == 201


@pytest.mark.parametrize("filters", [
    "all", [{"name": "color", "operator": "equal", "value": "red"}],
    [{"name": "list_id", "operator": "equal", "value": ["x"]}],
    [{"name": "subscription_status", "operator": "equal", "value": "maybe"}],
    [{"name": "list_id", "operator": "like", "value": [1]}],
])
def test_invalid_filters_are_422(api, filters):
    r = api.post("/api/contacts/exports", {"filters": filters})
    assert r.status == 422 and "filters" in r.json["errors"]


def test_a_running_export_reports_processed_and_total(api, client, monkeypatch):
    """GET of an export while it runs: contacts gone through out of the account's contacts."""
    from chalicelib.contacts import exports

    for i in range(5):
        make_contact(api, f"e{i}@example.com")
    seen = []
    real = exports.record_progress

    def watch(job, processed):
        real(job, processed)
        seen.append(api.get(f"/api/contacts/exports/{job.export_id}").json)

    monkeypatch.setattr(exports, "PROGRESS_EVERY", 2)
    monkeypatch.setattr(exports, "record_progress", watch)
    r = api.post("/api/contacts/exports", {"filters": []})
    assert r.json["progress"] == {"processed": 0, "total": 5}
    run_workers(client)
    assert [(s["status"], s["progress"]["processed"], s["progress"]["total"]) for s in seen] == [
        ("started", 2, 5), ("started", 4, 5), ("started", 5, 5)]  # one write per page of two
    done = api.get(f"/api/contacts/exports/{r.json['id']}").json
    assert done["status"] == "finished" and done["progress"] == {"processed": 5, "total": 5}
    assert done["contacts_count"] == 5
