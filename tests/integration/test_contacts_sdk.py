"""The official mailtrap SDK's contacts API (contacts, fields, lists, imports, exports,
events) against Postline, in-process."""

from __future__ import annotations

import mailtrap as mt
import pytest
from mailtrap.exceptions import APIError
from mailtrap.models.contacts import (
    ContactEventParams,
    ContactExportFilter,
    ContactListParams,
    CreateContactExportParams,
    CreateContactFieldParams,
    CreateContactParams,
    ImportContactParams,
    UpdateContactFieldParams,
    UpdateContactParams,
)

from tests.contacts_support import fresh_events, run_workers  # noqa: F401
from tests.sdk import sdk_session

pytestmark = pytest.mark.usefixtures("fresh_events")


@pytest.fixture()
def contacts_api(client, account):
    acct, token = account
    with sdk_session(client):
        yield mt.MailtrapClient(token=token, account_id=str(acct.account_id)).contacts_api


def test_sdk_fields_and_lists(contacts_api):
    fields = contacts_api.contact_fields
    field = fields.create(CreateContactFieldParams(name="First name", data_type="text", merge_tag="first_name"))
    assert (field.name, field.data_type, field.merge_tag) == ("First name", "text", "first_name")
    assert [f.id for f in fields.get_list()] == [field.id]
    assert fields.update(field.id, UpdateContactFieldParams(name="Given name")).name == "Given name"
    assert fields.get_by_id(field.id).merge_tag == "first_name"
    assert fields.delete(field.id).id == field.id
    with pytest.raises(APIError) as err:
        fields.get_by_id(field.id)
    assert err.value.status == 404

    lists = contacts_api.contact_lists
    customers = lists.create(ContactListParams(name="Customers"))
    lists.create(ContactListParams(name="Partners"))
    assert [x.name for x in lists.get_list(search="cus")] == ["Customers"]
    assert lists.update(customers.id, ContactListParams(name="Clients")).name == "Clients"
    assert lists.get_by_id(customers.id).name == "Clients"
    lists.delete(customers.id)
    assert [x.name for x in lists.get_list()] == ["Partners"]
    with pytest.raises(APIError) as err:
        lists.create(ContactListParams(name="partners"))
    assert err.value.status == 422


def test_sdk_contacts_crud_by_id_and_email(contacts_api):
    contacts_api.contact_fields.create(CreateContactFieldParams(name="Age", data_type="integer", merge_tag="age"))
    listed = contacts_api.contact_lists.create(ContactListParams(name="L"))
    api = contacts_api.contacts
    contact = api.create(CreateContactParams(email="sdk@example.com", fields={"age": 30}, list_ids=[listed.id]))
    assert contact.status == "subscribed" and contact.fields == {"age": 30} and contact.list_ids == [listed.id]
    assert api.get_by_id(contact.id).email == "sdk@example.com"
    assert api.get_by_id("SDK@example.com").id == contact.id  # the SDK URL-encodes emails
    updated = api.update(contact.id, UpdateContactParams(fields={"age": 31}, list_ids_excluded=[listed.id],
                                                         unsubscribed=True))
    assert (updated.fields, updated.list_ids, updated.status) == ({"age": 31}, [], "unsubscribed")
    created = api.update("plus+tag@example.com", UpdateContactParams(email="plus+tag@example.com"))
    assert created.email == "plus+tag@example.com"
    assert api.get_by_id("plus+tag@example.com").id == created.id
    assert api.delete(contact.id).id == contact.id
    with pytest.raises(APIError) as err:
        api.delete("sdk@example.com")
    assert err.value.status == 404 and "Contact(s) not found" in str(err.value)
    with pytest.raises(APIError) as err:
        api.create(CreateContactParams(email="not an email"))
    assert err.value.status == 422 and "email: is invalid" in str(err.value)


def test_sdk_imports_exports_and_events(contacts_api, client):
    job = contacts_api.contact_imports.import_contacts([
        ImportContactParams(email="i1@example.com"), ImportContactParams(email="i2@example.com")])
    assert job.status == "started"
    run_workers(client)
    done = contacts_api.contact_imports.get_by_id(job.id)
    assert (done.status, done.created_contacts_count, done.updated_contacts_count,
            done.contacts_over_limit_count) == ("finished", 2, 0, 0)

    listed = contacts_api.contact_lists.create(ContactListParams(name="Export me"))
    contacts_api.contacts.update("i1@example.com", UpdateContactParams(list_ids_included=[listed.id]))
    export = contacts_api.contact_exports.create(CreateContactExportParams(
        filters=[ContactExportFilter(name="list_id", operator="equal", value=[listed.id])]))
    assert export.status == "started" and export.url is None
    run_workers(client)
    finished = contacts_api.contact_exports.get_by_id(export.id)
    assert finished.status == "finished" and finished.url and finished.created_at.tzinfo is not None

    event = contacts_api.contact_events.create("i2@example.com", ContactEventParams(
        name="UserLogin", params={"user_id": 101, "is_active": True}))
    assert (event.contact_email, event.name, event.params) == ("i2@example.com", "UserLogin",
                                                              {"user_id": 101, "is_active": True})
    with pytest.raises(APIError) as err:
        contacts_api.contact_events.create("nobody@example.com", ContactEventParams(name="x"))
    assert err.value.status == 404
