"""Templates API (both SDK shapes), the seed's template rules, tenant isolation, and the
rendering service the sending pipeline calls."""

from __future__ import annotations

import base64
import re
import uuid

import pytest

from chalicelib.accounts import service as accounts
from chalicelib.core import aws
from chalicelib.core.errors import Forbidden, NotFound
from chalicelib.core.permissions import ADMIN, VIEWER, Grant, Principal
from chalicelib.templates import service
from chalicelib.templates.engine import TemplateError
from chalicelib.templates.request_models import TemplateCreate
from tests.conftest import Api

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
WELCOME = {"name": "Welcome Email", "subject": "Welcome to {{company_name}}!", "category": "onboarding",
           "body_html": "<h1>Welcome {{user_name}}!</h1><p>Thanks for signing up.</p>",
           "body_text": "Welcome {{user_name}}! Thanks for signing up."}


def create(api: Api, **fields):
    return api.post("/api/email_templates", {"email_template": {**WELCOME, **fields}})


def test_create_returns_the_template_with_id_uuid_and_timestamps(api, account):
    acct, _ = account
    r = api.post(f"/api/accounts/{acct.account_id}/email_templates", {"email_template": WELCOME})
    assert r.status == 201, r
    body = r.json
    assert isinstance(body["id"], int) and str(uuid.UUID(body["uuid"])) == body["uuid"]
    assert ISO.match(body["created_at"]) and ISO.match(body["updated_at"])
    assert {k: body[k] for k in WELCOME} == WELCOME
    assert api.get(f"/api/email_templates/{body['id']}").json == body
    assert api.get(f"/api/accounts/{acct.account_id}/email_templates/{body['id']}").json == body
    assert [t["id"] for t in api.get("/api/email_templates").json] == [body["id"]]


def test_missing_fields_are_422_with_field_messages(api):
    r = api.post("/api/email_templates", {"email_template": {"name": "x"}})
    assert r.status == 422
    assert r.json == {"errors": {"subject": ["can't be blank"], "category": ["can't be blank"]}}
    r = api.post("/api/email_templates", {"email_template": {"name": " ", "subject": 5, "category": None}})
    assert r.json == {"errors": {"name": ["can't be blank"], "subject": ["must be a string"],
                                 "category": ["must be a string"]}}
    assert api.get("/api/email_templates").json == []


@pytest.mark.parametrize("field,limit", [("name", 255), ("subject", 255), ("category", 255)])
def test_field_lengths(api, field, limit):
    assert create(api, **{field: "x" * limit}).status == 201
    r = create(api, **{field: "x" * (limit + 1)})
    assert r.status == 422
    assert r.json == {"errors": {field: [f"is too long (maximum is {limit} characters)"]}}


def test_body_length_limit(api):
    r = create(api, body_text="x" * 10_000_001)
    assert r.status == 422
    assert r.json == {"errors": {"body_text": ["is too long (maximum is 10000000 characters)"]}}


def test_handlebars_errors_are_refused_at_save_naming_the_problem(api):
    r = create(api, body_html="<p>{{#if a}}x</p>")
    assert r.status == 422
    assert r.json == {"errors": {"body_html": [
        "{{#if a}} opened at line 1, column 4 is never closed with {{/if}}"]}}
    r = create(api, body_text='On {{formatDate d "x"}}', subject="Hi {{#each xs}}")
    assert r.status == 422
    assert "unsupported helper 'formatDate'" in r.json["errors"]["body_text"][0]
    assert "never closed" in r.json["errors"]["subject"][0]
    assert api.get("/api/email_templates").json == []
    # HTML is not validated
    assert create(api, body_html="<div><p>unclosed html").status == 201


def test_patch_changes_only_the_given_fields(api):
    created = create(api).json
    r = api.patch(f"/api/email_templates/{created['id']}", {"email_template": {"body_html": "<h1>New</h1>"}})
    assert r.status == 200
    assert r.json["body_html"] == "<h1>New</h1>"
    for field in ("name", "subject", "category", "body_text", "uuid", "created_at"):
        assert r.json[field] == created[field]
    assert api.get(f"/api/email_templates/{created['id']}").json["body_html"] == "<h1>New</h1>"
    assert api.patch(f"/api/email_templates/{created['id']}", {"email_template": {"body_text": None}}).json[
        "body_text"] is None


def test_patch_validates_like_create(api):
    created = create(api).json
    r = api.patch(f"/api/email_templates/{created['id']}", {"email_template": {"name": "", "body_html": "{{/if}}"}})
    assert r.status == 422 and set(r.json["errors"]) == {"name", "body_html"}
    assert api.get(f"/api/email_templates/{created['id']}").json == created
    assert api.patch("/api/email_templates/999999999", {"email_template": {"name": "n"}}).status == 404
    assert api.patch("/api/email_templates/not-a-number", {"email_template": {"name": "n"}}).status == 404


def test_delete_is_permanent_and_the_uuid_stops_rendering(api, account):
    acct, _ = account
    created = create(api).json
    assert service.render_template(acct.account_id, created["uuid"], {}).subject == "Welcome to !"
    r = api.delete(f"/api/email_templates/{created['id']}")
    assert r.status == 204
    assert api.get(f"/api/email_templates/{created['id']}").status == 404
    assert api.delete(f"/api/email_templates/{created['id']}").status == 404
    with pytest.raises(NotFound):
        service.render_template(acct.account_id, created["uuid"], {})


def test_an_account_holds_at_most_200_templates(api, account):
    acct, token = account
    who = accounts.authenticate(token)
    for i in range(199):
        service.create_template(who, TemplateCreate(name=f"t{i}", subject="s", category="c"))
    r = create(api, name="the 200th")
    assert r.status == 201
    r = create(api, name="the 201st")
    assert r.status == 422 and "at most 200 email templates" in r.json["errors"]["base"][0]
    assert len(api.get("/api/email_templates").json) == 200
    assert api.delete(f"/api/email_templates/{api.get('/api/email_templates').json[0]['id']}").status == 204
    assert create(api, name="room again").status == 201


def test_large_bodies_are_kept_in_s3_and_round_trip(api, account):
    acct, _ = account
    big = "<p>{{name}}</p>" + "x" * 400_000
    created = create(api, body_html=big).json
    assert created["body_html"] == big
    stored = service._get(acct.account_id, created["id"])
    assert stored.body_html is None and stored.body_key
    assert api.get(f"/api/email_templates/{created['id']}").json["body_html"] == big
    assert service.render_template(acct.account_id, created["uuid"], {"name": "Ann"}).html.startswith("<p>Ann</p>x")
    api.patch(f"/api/email_templates/{created['id']}", {"email_template": {"body_html": "<p>small</p>"}})
    s3 = aws.client("s3")
    assert s3.list_objects_v2(Bucket=aws.bucket("data"), Prefix=stored.body_key).get("KeyCount") == 0
    assert service._get(acct.account_id, created["id"]).body_html == "<p>small</p>"


def test_large_bodies_are_read_from_s3_once_per_process(api, account, monkeypatch):
    acct, _ = account
    big = "<p>{{name}}</p>" + "y" * 400_000
    created = create(api, body_html=big).json
    reads = []
    real_client = aws.client

    class Counting:
        def __init__(self, inner):
            self._inner = inner

        def get_object(self, **kwargs):
            reads.append(kwargs["Key"])
            return self._inner.get_object(**kwargs)

        def __getattr__(self, name):
            return getattr(self._inner, name)

    monkeypatch.setattr(service.aws, "client", lambda name, *a, **k: Counting(real_client(name, *a, **k)))
    template = service.get_template_by_uuid(acct.account_id, created["uuid"])
    for name in ("Ann", "Bob", "Cy"):
        assert service.render(template, {"name": name}).html.startswith(f"<p>{name}</p>y")
    assert api.get(f"/api/email_templates/{created['id']}").json["body_html"] == big
    assert len(reads) <= 1


def test_accounts_are_isolated(client, api, account):
    acct_a, _ = account
    acct_b, token_b = accounts.create_account("Other Co", "b@other.example")
    api_b = Api(client, token_b)
    mine = create(api).json
    path = f"/api/email_templates/{mine['id']}"
    assert api_b.get(path).status == 404
    assert api_b.patch(path, {"email_template": {"name": "stolen"}}).status == 404
    assert api_b.delete(path).status == 404
    assert api_b.get(f"/api/accounts/{acct_a.account_id}/email_templates").status == 403
    assert api_b.post(f"/api/accounts/{acct_a.account_id}/email_templates", {"email_template": WELCOME}).status == 403
    assert api_b.get("/api/email_templates").json == []
    assert api_b.get(f"/api/templates/{mine['id']}").status == 404
    with pytest.raises(NotFound):
        service.render_template(acct_b.account_id, mine["uuid"], {})
    assert api.get(path).json == mine


def test_viewers_read_and_admins_change(api, account):
    acct, _ = account
    created = create(api).json
    viewer = api.post("/api/api_tokens", {"name": "viewer", "resources": [
        {"resource_type": "account", "resource_id": acct.account_id, "access_level": 10}]}).json["token"]
    assert api.get("/api/email_templates", token=viewer).status == 200
    assert api.get(f"/api/email_templates/{created['id']}", token=viewer).status == 200
    assert api.post("/api/email_templates", {"email_template": WELCOME}, token=viewer).status == 403
    assert api.delete(f"/api/email_templates/{created['id']}", token=viewer).status == 403


def test_domain_admins_manage_templates_domain_viewers_read():
    domain_admin = Principal(1, 1, "example.com token", (Grant("domain", 5, ADMIN),))
    domain_viewer = Principal(1, 2, "viewer", (Grant("domain", 5, VIEWER),))
    service.require_access(domain_admin, ADMIN)
    service.require_access(domain_viewer, VIEWER)
    with pytest.raises(Forbidden):
        service.require_access(domain_viewer, ADMIN)
    with pytest.raises(Forbidden):
        service.require_access(Principal(1, 3, "project", (Grant("project", 7, ADMIN),)), VIEWER)


def test_paginated_templates_api(api, account):
    acct, _ = account
    ids = [api.post("/api/templates", {**WELCOME, "name": f"t{i}"}).json["data"]["id"] for i in range(5)]
    r = api.get("/api/templates?per_page=2")
    assert r.status == 200
    assert [t["id"] for t in r.json["data"]] == ids[:2]
    base = "http://127.0.0.1:8000/api/templates?per_page=2&token="
    assert r.json["pagination"] == {"token": 1, "prev_token": None, "next_token": 2, "first_url": base + "1",
                                    "prev_url": None, "current_url": base + "1", "next_url": base + "2"}
    last = api.get(f"/api/accounts/{acct.account_id}/templates?per_page=2&token=3").json
    assert [t["id"] for t in last["data"]] == ids[4:]
    assert last["pagination"]["next_token"] is None and last["pagination"]["prev_token"] == 2
    assert last["pagination"]["next_url"] is None
    assert last["pagination"]["current_url"].endswith(f"/api/accounts/{acct.account_id}/templates?per_page=2&token=3")
    assert len(api.get("/api/templates").json["data"]) == 5
    assert api.get("/api/templates?per_page=500").json["pagination"]["current_url"].endswith("per_page=100&token=1")
    r = api.get("/api/templates?per_page=2&token=4")
    assert r.status == 422 and r.json == {"errors": "token is out of range"}
    assert api.get("/api/templates?per_page=0").status == 422
    assert api.get("/api/templates?token=abc").status == 422
    one = api.get(f"/api/templates/{ids[0]}").json
    assert one["data"]["name"] == "t0"
    assert api.patch(f"/api/templates/{ids[0]}", {"name": "renamed"}).json["data"]["name"] == "renamed"
    assert api.get(f"/api/email_templates/{ids[0]}").json["name"] == "renamed"  # the same templates
    assert api.delete(f"/api/templates/{ids[0]}").status == 204
    assert api.get(f"/api/templates/{ids[0]}").status == 404


def test_empty_account_lists_one_empty_page(api):
    r = api.get("/api/templates")
    assert r.status == 200 and r.json["data"] == [] and r.json["pagination"]["token"] == 1


# ------------------------------------------------------------------ rendering for sending


def test_render_template_gives_subject_html_text_and_category(api, account):
    acct, _ = account
    created = create(api, body_html="<p>{{user.name}}</p>{{#each items}}<i>{{this}}</i>{{/each}}").json
    rendered = service.render_template(acct.account_id, created["uuid"], {
        "company_name": "Tom & Jerry", "user_name": "Ann", "user": {"name": "<Ann>"}, "items": ["a", "b"]})
    assert rendered.subject == "Welcome to Tom &amp; Jerry!"  # the guide's documented pitfall
    assert rendered.html == "<p>&lt;Ann&gt;</p><i>a</i><i>b</i>"
    assert rendered.text == "Welcome Ann! Thanks for signing up."
    assert rendered.category == "onboarding"
    assert (rendered.template_id, rendered.template_uuid) == (created["id"], created["uuid"])
    raw = create(api, name="raw", subject="Welcome to {{{company_name}}}!").json
    assert service.render_template(acct.account_id, raw["uuid"], {"company_name": "Tom & Jerry"}).subject == (
        "Welcome to Tom & Jerry!")


def test_render_without_bodies_and_with_bad_variables(api, account):
    acct, _ = account
    created = create(api, body_html=None, body_text=None).json
    rendered = service.render_template(acct.account_id, created["uuid"], None)
    assert (rendered.html, rendered.text) == (None, None)
    with pytest.raises(TemplateError) as err:
        service.render_template(acct.account_id, created["uuid"], ["not an object"])
    assert err.value.status == 422 and "template_variables" in err.value.reason
    with pytest.raises(NotFound):
        service.render_template(acct.account_id, str(uuid.uuid4()), {})
    with pytest.raises(NotFound):
        service.render_template(acct.account_id, None, {})
    assert service.render_string("Hi {{name}}", {"name": "Bo"}) == "Hi Bo"


# ------------------------------------------------------------------ editor helpers


def test_test_data_and_preview(api):
    created = create(api, body_html="Hi {{user_name}} {{#each items}}{{name}}{{/each}}").json
    r = api.get(f"/api/email_templates/{created['id']}/test_data")
    assert r.status == 200
    data = r.json["template_variables"]
    assert data["user_name"] == "Test_user_name" and data["items"] == [{"name": "Test_name"}]
    assert data["company_name"] == "Test_company_name"  # from the subject
    r = api.post(f"/api/email_templates/{created['id']}/preview")
    assert r.status == 200 and r.json["html"] == "Hi Test_user_name Test_name"
    r = api.post(f"/api/email_templates/{created['id']}/preview",
                 {"template_variables": {"user_name": "Ann", "company_name": "Acme"}})
    assert r.json["subject"] == "Welcome to Acme!" and r.json["html"] == "Hi Ann "
    r = api.post(f"/api/email_templates/{created['id']}/preview", {"template_variables": [1]})
    assert r.status == 422


# ------------------------------------------------------------------ images

PNG = b"\x89PNG\r\n\x1a\n"


def upload(api, filename, data):
    return api.post("/api/email_template_images", {"image": {
        "filename": filename, "content": base64.b64encode(data).decode()}})


def test_image_upload_up_to_2_mb(api, account):
    acct, _ = account
    data = PNG + b"\0" * (2 * 1024 * 1024 - len(PNG))
    r = upload(api, "logo.png", data)
    assert r.status == 201, r
    assert r.json["size"] == 2 * 1024 * 1024 and r.json["content_type"] == "image/png"
    path = r.json["url"].removeprefix("http://127.0.0.1:8000")
    assert path.startswith(f"/api/email_template_images/{acct.account_id}/")
    served = api.get(path, token=None)
    assert served.status == 302
    name = path.rsplit("/", 1)[1]
    assert f"email-template-images/{acct.account_id}/{name}" in served.headers["location"]
    obj = aws.client("s3").get_object(Bucket=aws.bucket("data"), Key=f"email-template-images/{acct.account_id}/{name}")
    assert obj["Body"].read() == data and obj["ContentType"] == "image/png"
    assert api.get(path.replace(name, "0" * 32 + ".png"), token=None).status == 404
    assert api.get(f"/api/email_template_images/{acct.account_id}/..%2Fsecret", token=None).status == 404


@pytest.mark.parametrize("filename,data,field,message", [
    ("logo.png", PNG + b"\0" * (2 * 1024 * 1024 + 1 - len(PNG)), "content", "is too big (maximum is 2 MB)"),
    ("logo.bmp", b"BM" + b"\0" * 100, "filename", "has an unsupported format (use JPG, PNG or GIF)"),
    ("logo.svg", b"<svg></svg>", "filename", "has an unsupported format (use JPG, PNG or GIF)"),
    ("logo.png", b"<svg></svg>", "content", "is not a JPG, PNG or GIF image"),
])
def test_image_upload_refusals(api, filename, data, field, message):
    r = upload(api, filename, data)
    assert r.status == 422 and r.json == {"errors": {field: [message]}}


def test_image_upload_needs_base64_and_admin(api, account):
    acct, _ = account
    r = api.post("/api/email_template_images", {"image": {"filename": "a.gif", "content": "%%%"}})
    assert r.status == 422 and r.json == {"errors": {"content": ["must be base64-encoded"]}}
    viewer = api.post("/api/api_tokens", {"name": "viewer", "resources": [
        {"resource_type": "account", "resource_id": acct.account_id, "access_level": 10}]}).json["token"]
    r = upload(api, "a.gif", b"GIF89a" + b"\0" * 10)
    assert r.status == 201 and r.json["content_type"] == "image/gif"
    api.token = viewer
    assert upload(api, "a.gif", b"GIF89a" + b"\0" * 10).status == 403
