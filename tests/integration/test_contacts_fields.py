"""Custom fields: types, conversion and 422s, limits, uniqueness, renames, deletion."""

from __future__ import annotations

import pytest

from chalicelib.contacts import fields, meta
from chalicelib.contacts.models import Contact
from chalicelib.core import ids
from tests.contacts_support import fresh_events, make_contact, make_field, run_workers  # noqa: F401

pytestmark = pytest.mark.usefixtures("fresh_events")


def test_field_crud_and_shapes(api, account):
    acct, _ = account
    r = api.post(f"/api/accounts/{acct.account_id}/contacts/fields",
                 {"name": "Birth date", "data_type": "date", "merge_tag": "birthdate"})
    assert r.status == 201
    field = r.json
    assert set(field) == {"id", "name", "data_type", "merge_tag"} and field["data_type"] == "date"
    assert api.get(f"/api/contacts/fields/{field['id']}").json == field
    assert api.get("/api/contacts/fields").json == [field]
    r = api.patch(f"/api/contacts/fields/{field['id']}", {"name": "Birthday", "merge_tag": "birthday"})
    assert r.status == 200 and r.json == {**field, "name": "Birthday", "merge_tag": "birthday"}
    assert api.get("/api/contacts/fields/999999").status == 404


@pytest.mark.parametrize("data_type,given,stored", [
    ("text", "Hello", "Hello"),
    ("text", 42, "42"),
    ("integer", 7, 7),
    ("integer", "12", 12),
    ("integer", 3.0, 3),
    ("float", "2.5", 2.5),
    ("float", 3, 3.0),
    ("boolean", True, True),
    ("boolean", "yes", True),
    ("boolean", "false", False),
    ("date", "2024-01-15", "2024-01-15"),
    ("date", "2024-01-15T10:00:00Z", "2024-01-15"),
])
def test_values_are_converted_to_the_field_type(data_type, given, stored):
    assert fields.convert(data_type, given) == stored
    assert type(fields.convert(data_type, given)) is type(stored)


@pytest.mark.parametrize("data_type,given,message", [
    ("text", "x" * 256, "is too long (maximum is 255 characters)"),
    ("text", {"a": 1}, "must be a string"),
    ("integer", "1.5", "must be an integer"),
    ("integer", True, "must be an integer"),
    ("float", "abc", "must be a number"),
    ("boolean", "maybe", "must be true or false"),
    ("date", "15/01/2024", "must be a date in YYYY-MM-DD format"),
    ("date", "2024-02-30", "must be a date in YYYY-MM-DD format"),
])
def test_invalid_values_are_refused_with_a_reason(data_type, given, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        fields.convert(data_type, given)


def test_invalid_values_through_the_api_are_422_per_merge_tag(api):
    make_field(api, "Age", "integer", "age")
    make_field(api, "Birthdate", "date", "birthdate")
    r = api.post("/api/contacts", {"contact": {"email": "x@example.com",
                                               "fields": {"age": "old", "birthdate": "yesterday"}}})
    assert r.status == 422
    assert r.json["errors"] == {"age": ["must be an integer"],
                                "birthdate": ["must be a date in YYYY-MM-DD format"]}
    contact = make_contact(api, "x@example.com", fields={"age": "41", "birthdate": "1983-05-02"})
    assert contact["fields"] == {"age": 41, "birthdate": "1983-05-02"}
    r = api.patch(f"/api/contacts/{contact['id']}", {"contact": {"fields": {"age": None}}})
    assert r.json["data"]["fields"] == {"birthdate": "1983-05-02"}  # null clears a value


def test_limits_names_uniqueness_and_type_change(api, account):
    acct, _ = account
    meta.mutate_definitions(acct.account_id, meta.FIELDS, lambda defs: defs.update({  # 39 in one write
        str(ids.next_id("contact_field")): {"name": f"Field {i}", "merge_tag": f"field_{i}", "data_type": "text"}
        for i in range(fields.MAX_FIELDS - 1)}))
    make_field(api, "Field 39", "text", "field_39")
    r = api.post("/api/contacts/fields", {"name": "One too many", "data_type": "text", "merge_tag": "extra"})
    assert r.status == 422 and r.json == {"errors": {"base": ["You can have up to 40 fields"]}}
    api.delete(f"/api/contacts/fields/{api.get('/api/contacts/fields').json[0]['id']}")
    r = api.post("/api/contacts/fields", {"name": "n" * 51, "data_type": "text", "merge_tag": "long_name"})
    assert r.status == 422 and r.json["errors"]["name"] == ["is too long (maximum is 50 characters)"]
    r = api.post("/api/contacts/fields", {"name": "Other", "data_type": "text", "merge_tag": "field_1"})
    assert r.status == 422 and r.json["errors"]["merge_tag"] == ["has already been taken"]
    r = api.post("/api/contacts/fields", {"name": "field 2", "data_type": "text", "merge_tag": "other"})
    assert r.status == 422 and r.json["errors"]["name"] == ["has already been taken"]
    r = api.post("/api/contacts/fields", {"name": "Bad", "data_type": "text", "merge_tag": "Bad Tag"})
    assert r.status == 422 and "merge_tag" in r.json["errors"]
    r = api.post("/api/contacts/fields", {"name": "Kind", "data_type": "list", "merge_tag": "kind"})
    assert r.status == 422 and "data_type" in r.json["errors"]
    field = api.get("/api/contacts/fields").json[0]
    r = api.patch(f"/api/contacts/fields/{field['id']}", {"data_type": "integer"})
    assert r.status == 422 and r.json["errors"]["data_type"] == ["can't be changed"]
    assert api.get(f"/api/contacts/fields/{field['id']}").json["data_type"] == "text"


def test_renaming_a_merge_tag_keeps_values(api):
    field = make_field(api, "Plan", "text", "plan")
    contact = make_contact(api, "r@example.com", fields={"plan": "pro"})
    api.patch(f"/api/contacts/fields/{field}", {"merge_tag": "tier"})
    assert api.get(f"/api/contacts/{contact['id']}").json["data"]["fields"] == {"tier": "pro"}


def test_deleting_a_field_removes_its_values(api, account, client):
    acct, _ = account
    keep = make_field(api, "Keep", "text", "keep")
    drop = make_field(api, "Drop", "integer", "drop")
    contact = make_contact(api, "d@example.com", fields={"keep": "k", "drop": 5})
    assert api.delete(f"/api/contacts/fields/{drop}").status == 204
    assert api.get(f"/api/contacts/{contact['id']}").json["data"]["fields"] == {"keep": "k"}  # at once
    assert api.get(f"/api/contacts/fields/{drop}").status == 404
    run_workers(client)  # the clean-up task removes the stored value too
    stored = Contact.get(acct.account_id, "d@example.com").fields.as_dict()
    assert stored == {f"f{keep}": "k"}
    # a new field with the same merge tag starts empty
    make_field(api, "Drop", "integer", "drop")
    assert api.get(f"/api/contacts/{contact['id']}").json["data"]["fields"] == {"keep": "k"}


def test_a_field_used_by_a_segment_cannot_be_deleted(api):
    field = make_field(api, "Tier", "text", "tier")
    api.post("/api/contacts/segments", {"name": "VIPs", "conditions": [
        {"field": "tier", "operator": "is", "value": "VIP"}]})
    r = api.delete(f"/api/contacts/fields/{field}")
    assert r.status == 422
    assert r.json == {"errors": {"usage": ["This field is used in the conditions of segment(s): VIPs."]}}


# ---------------------------------------------------------------- numbers DynamoDB can't hold (issue 13)

OUT_OF_RANGE = "is out of range (at most 38 digits, magnitude from 1e-130 to below 1e126)"


@pytest.mark.parametrize("data_type,given", [
    ("float", 1e200), ("float", -1e200), ("float", 1e-200), ("float", "1e126"), ("float", "-9e-131"),
    ("integer", 10**38), ("integer", -(10**38)), ("integer", 1e200), ("integer", "1" + "0" * 40),
])
def test_numbers_out_of_dynamodbs_range_are_refused(data_type, given):
    with pytest.raises(ValueError) as refused:
        fields.convert(data_type, given)
    assert str(refused.value) == OUT_OF_RANGE


@pytest.mark.parametrize("data_type,given", [
    ("float", 0.0), ("float", 9.99e125), ("float", 1e-130), ("float", -1e-130), ("integer", 10**38 - 1),
])
def test_numbers_at_the_edges_of_the_range_are_stored(api, data_type, given):
    make_field(api, "Value", data_type, "value")
    r = api.post("/api/contacts", {"contact": {"email": "edge@x.test", "fields": {"value": given}}})
    assert r.status == 201 and r.json["data"]["fields"]["value"] == given


@pytest.mark.parametrize("raw", ["1e200", "1e-200", "-1e200"])
def test_an_out_of_range_float_is_422_naming_the_field(api, raw):
    make_field(api, "Score", "float", "score")
    body = '{"contact": {"email": "big@x.test", "fields": {"score": NUMBER}}}'
    r = api.post("/api/contacts", raw=body.replace("NUMBER", raw))
    assert r.status == 422 and r.json == {"errors": {"score": [OUT_OF_RANGE]}}
    make_contact(api, "big@x.test")
    r = api.patch("/api/contacts/big@x.test", raw='{"contact": {"fields": {"score": NUMBER}}}'.replace("NUMBER", raw))
    assert r.status == 422 and r.json == {"errors": {"score": [OUT_OF_RANGE]}}


def test_an_import_skips_an_out_of_range_number_and_finishes(api, client):
    make_field(api, "Score", "float", "score")
    r = api.post("/api/contacts/imports", raw='{"contacts": [{"email": "ok@x.test", "fields": {"score": 1.5}},'
                                              '{"email": "big@x.test", "fields": {"score": 1e200}}]}')
    csv = api.post("/api/contacts/imports?consent=true", raw=b"email,score\ncsv@x.test,1e-200\n",
                   headers={"Content-Type": "text/csv"})
    run_workers(client)
    job = api.get(f"/api/contacts/imports/{r.json['id']}").json
    assert job["status"] == "finished" and job["created_contacts_count"] == 1
    assert job["skipped_contacts"] == [{"row": 2, "email": "big@x.test", "errors": {"score": [OUT_OF_RANGE]}}]
    job = api.get(f"/api/contacts/imports/{csv.json['id']}").json
    assert job["status"] == "finished" and job["skipped_contacts"][0]["errors"] == {"score": [OUT_OF_RANGE]}
