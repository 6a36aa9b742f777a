"""The official mailtrap SDK manages templates against Postline, through both of its APIs:
``email_templates_api`` (/email_templates) and ``templates_api`` (paginated /templates)."""

from __future__ import annotations

import mailtrap as mt
import pytest
from mailtrap.exceptions import APIError
from mailtrap.models.paginated_templates import CreateTemplateParams, TemplateListParams, UpdateTemplateParams

from chalicelib.templates import service


def test_email_templates_api_crud(sdk):
    mc, acct = sdk
    templates = mc.email_templates_api.templates
    created = templates.create(mt.CreateEmailTemplateParams(
        name="Welcome Email", subject="Welcome to {{company_name}}!", category="onboarding",
        body_html="<h1>Welcome {{user_name}}!</h1>", body_text="Welcome {{user_name}}!"))
    assert isinstance(created.id, int) and created.uuid and created.created_at.endswith("Z")
    assert [t.uuid for t in templates.get_list()] == [created.uuid]
    assert templates.get_by_id(created.id).subject == "Welcome to {{company_name}}!"

    updated = templates.update(created.id, mt.UpdateEmailTemplateParams(body_html="<h1>Edited {{user_name}}</h1>"))
    assert updated.body_html == "<h1>Edited {{user_name}}</h1>" and updated.name == "Welcome Email"
    rendered = service.render_template(acct.account_id, created.uuid, {"user_name": "Ann", "company_name": "Acme"})
    assert rendered.subject == "Welcome to Acme!"
    assert (rendered.html, rendered.text) == ("<h1>Edited Ann</h1>", "Welcome Ann!")

    deleted = templates.delete(created.id)
    assert deleted.id == created.id
    with pytest.raises(APIError) as err:
        templates.get_by_id(created.id)
    assert err.value.status == 404


def test_email_templates_api_validation_errors(sdk):
    mc, _ = sdk
    templates = mc.email_templates_api.templates
    with pytest.raises(APIError) as err:
        templates.create(mt.CreateEmailTemplateParams(name="x", subject="", category=""))
    assert err.value.status == 422
    assert set(err.value.errors) == {"subject: can't be blank", "category: can't be blank"}
    with pytest.raises(APIError) as err:
        templates.create(mt.CreateEmailTemplateParams(name="x", subject="s", category="c",
                                                      body_html="{{#if a}}unclosed"))
    assert err.value.status == 422 and "never closed" in err.value.errors[0]


def test_templates_api_pages(sdk):
    mc, _ = sdk
    templates = mc.templates_api.templates
    made = [templates.create(CreateTemplateParams(name=f"t{i}", subject="Hi {{name}}", category="c")) for i in range(3)]
    first = templates.get_list(TemplateListParams(per_page=2))
    assert [t.id for t in first.data] == [made[0].id, made[1].id]
    assert first.pagination.next_token == 2 and first.pagination.prev_token is None
    second = templates.get_list(TemplateListParams(per_page=2, token=first.pagination.next_token))
    assert [t.id for t in second.data] == [made[2].id] and second.pagination.next_token is None
    assert [t.id for t in templates.get_list().data] == [t.id for t in made]

    assert templates.get_by_id(made[0].id).uuid == made[0].uuid
    assert templates.update(made[0].id, UpdateTemplateParams(name="renamed")).name == "renamed"
    assert mc.email_templates_api.templates.get_by_id(made[0].id).name == "renamed"
    templates.delete(made[0].id)
    with pytest.raises(APIError) as err:
        templates.get_by_id(made[0].id)
    assert err.value.status == 404
    with pytest.raises(APIError) as err:
        templates.get_list(TemplateListParams(per_page=2, token=9))
    assert err.value.status == 422 and "token is out of range" in str(err.value)
