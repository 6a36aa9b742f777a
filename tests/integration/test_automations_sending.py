"""Send-email steps through the real sending pipeline: templates, verified domains, SES;
contacts through the real contacts API. Nothing stands in for another capability here."""

from __future__ import annotations

import re

import pytest

from tests.automation_support import World, all_ended, pump_until, runs_of, set_time_scale
from tests.integration.test_tracking import visit
from tests.sending_support import pump, sent_to, verified_domain


@pytest.fixture()
def env(api, account, client):
    acct, _ = account
    contacts = World(api, acct.account_id)
    domain = verified_domain(acct.account_id)

    def template(name, subject, body):
        r = api.post("/api/email_templates", {"email_template": {
            "name": name, "subject": subject, "category": "onboarding", "body_text": body}})
        assert r.status in (200, 201), r
        return r.json

    return acct.account_id, domain.domain_name, contacts, template, client


def email_step(template, sender, **extra):
    return {"type": "send_email", "template_id": template["id"], "from_email": sender, **extra}


def test_welcome_series_emails_reach_ses(api, env):
    account_id, domain, contacts, template, client = env
    sender = f"hello@{domain}"
    welcome = template("Welcome", "Welcome aboard", "Hi {{first_name}}, welcome!")
    pro = template("Pro", "Pro tips for {{first_name}}", "Pro stuff")
    free = template("Free", "Upgrade, {{first_name}}?", "Free stuff")
    aid = api.post("/api/automations", {"name": "Welcome", "trigger_type": "contact_created", "steps": [
        email_step(welcome, sender, subject="Welcome, {{first_name}}!"),
        {"type": "time_delay", "amount": 1, "unit": "days"},
        {"type": "conditional_split", "conditions": [{"field": "plan", "operator": "is", "value": "pro"}],
         "yes": [email_step(pro, sender)], "no": [email_step(free, {"email": sender, "name": "Acme"})]},
    ]}).json["id"]
    assert api.post(f"/api/automations/{aid}/activate", {"active": True}).status == 200
    contacts.contact("ann@customer.example", first_name="Ann", plan="pro")  # "created" starts the series
    contacts.contact("bob@customer.example", first_name="Bob", plan="free")
    pump_until(all_ended(account_id, aid, 2))
    assert {r.status for r in runs_of(account_id, aid)} == {"completed"}
    pump(client)
    ann_mail = sorted(m["Subject"] for m in sent_to("ann@customer.example"))
    bob_mail = sent_to("bob@customer.example")
    assert ann_mail == ["Pro tips for Ann", "Welcome, Ann!"]  # subject override rendered, then the Yes branch
    assert sorted(m["Subject"] for m in bob_mail) == ["Upgrade, Bob?", "Welcome, Bob!"]
    assert all(m["From"].addresses[0].addr_spec == sender for m in bob_mail)
    upgrade = next(m for m in bob_mail if m["Subject"] == "Upgrade, Bob?")
    assert upgrade["From"].addresses[0].display_name == "Acme"
    welcome_body = next(m for m in sent_to("ann@customer.example") if m["Subject"] == "Welcome, Ann!")
    assert "Hi Ann, welcome!" in welcome_body.get_body(("plain",)).get_content()
    stats = {s["id"]: s for s in api.get(f"/api/automations/{aid}/stats").json["steps"]}
    assert stats[1]["emails_sent"] == 2 and stats[4]["emails_sent"] == 1 and stats[5]["emails_sent"] == 1


def test_activation_checks_templates_and_the_sender_domain(api, env):
    account_id, domain, contacts, template, client = env
    real = template("Real", "Subject", "Body")
    aid = api.post("/api/automations", {"name": "Bad", "trigger_type": "contact_created", "steps": [
        {"type": "send_email", "template_id": 999999999, "from_email": f"a@{domain}"},
        email_step(real, "a@not-ours.example"),
        {"type": "send_email", "template_id": real["id"]},
    ]}).json["id"]
    r = api.post(f"/api/automations/{aid}/activate", {"active": True})
    assert r.status == 422
    errors = r.json["errors"]
    assert errors["template_id"] == ["template 999999999 does not exist"]
    assert errors["from_email"][0].startswith("can't be blank (step 3)")
    assert "not-ours.example is not a sending domain of this account" in errors["from_email"][1]


def test_a_template_deleted_after_activation_fails_the_run(api, env):
    account_id, domain, contacts, template, client = env
    doomed = template("Doomed", "Subject", "Body")
    aid = api.post("/api/automations", {"name": "T", "trigger_type": "contact_created",
                                        "steps": [email_step(doomed, f"a@{domain}")]}).json["id"]
    api.post(f"/api/automations/{aid}/activate", {"active": True})
    assert api.delete(f"/api/email_templates/{doomed['id']}").status in (200, 204)
    contacts.contact("late@customer.example")
    pump_until(all_ended(account_id, aid, 1))
    run = runs_of(account_id, aid)[0]
    assert run.status == "failed" and f"template {doomed['id']} does not exist" in run.error


def test_a_split_on_opened_follows_the_contacts_engagement_and_steps_count_unique_opens_and_clicks(
        api, env, monkeypatch):
    account_id, _, contacts, _, client = env
    set_time_scale(monkeypatch, 1 / 86400)  # the 3-day delay takes 3 s: time to open the email
    domain = verified_domain(account_id, click_tracking_enabled=True)
    sender = f"news@{domain.domain_name}"
    news = api.post("/api/email_templates", {"email_template": {
        "name": "News", "subject": "News", "category": "news", "body_text": "News: https://shop.test/new",
        "body_html": '<html><body><a href="https://shop.test/new">new</a></body></html>'}}).json
    aid = api.post("/api/automations", {"name": "Nurture", "trigger_type": "contact_created", "steps": [
        email_step(news, sender),
        {"type": "time_delay", "amount": 3, "unit": "days"},
        {"type": "conditional_split", "conditions": [{"field": "email.opened"}], "yes": [], "no": []},
    ]}).json["id"]
    split = api.get(f"/api/automations/{aid}").json["steps"][2]
    assert split["conditions"]["groups"][0]["conditions"] == [
        {"field": "email.opened", "operator": "is", "value": True, "step_id": 1}]  # the email above it
    assert api.post(f"/api/automations/{aid}/activate", {"active": True}).status == 200
    contacts.contact("reader@customer.example")
    contacts.contact("ignorer@customer.example")
    pump_until(lambda: len(runs := runs_of(account_id, aid)) == 2 and all(1 in (r.done_steps or ()) for r in runs))
    pump(client)  # the emails reach SES; the splits wait for their delay on the actions queue
    [mail] = sent_to("reader@customer.example")
    html = mail.get_body(("html",)).get_content()
    pixel = re.search(r'<img src="([^"]+)"', html).group(1)
    link = re.search(r'href="(http://mt-link[^"]+/c/[^"]+)"', html).group(1)
    for url in (pixel, pixel, link, link):  # opened twice, clicked twice: one opener, one clicker
        assert visit(client, url).status_code in (200, 302)

    pump_until(all_ended(account_id, aid, 2))
    branch = {r.contact_email: (r.branches or {}).get("3") for r in runs_of(account_id, aid)}
    assert branch == {"reader@customer.example": "yes", "ignorer@customer.example": "no"}
    step = api.get(f"/api/automations/{aid}/stats").json["steps"][0]
    assert (step["emails_sent"], step["opens"], step["clicks"]) == (2, 1, 1)
    assert step["open_rate"] == 0.5 and step["click_rate"] == 0.5


def test_an_engagement_condition_needs_an_email_above_its_split(api, env):
    _, domain, _, template, _ = env
    r = api.post("/api/automations", {"name": "No email", "trigger_type": "contact_created", "steps": [
        {"type": "conditional_split", "conditions": [{"field": "email.clicked"}], "yes": [], "no": []}]})
    assert r.status == 422 and "email.clicked needs a send_email step" in str(r.json)
    mail = template("M", "S", "B")
    r = api.post("/api/automations", {"name": "Wrong step", "trigger_type": "contact_created", "steps": [
        {"type": "conditional_split", "conditions": [{"field": "plan", "operator": "is", "value": "pro"}],
         "yes": [email_step(mail, f"a@{domain}")],
         "no": [{"type": "conditional_split", "conditions": [{"field": "email.opened", "step_id": 2}]}]}]})
    assert r.status == 422 and "email.opened needs a send_email step" in str(r.json)  # step 2 is on the other path
    r = api.post("/api/automations", {"name": "Bad value", "trigger_type": "contact_created", "steps": [
        email_step(mail, f"a@{domain}"),
        {"type": "conditional_split", "conditions": [{"field": "email.opened", "value": "yes"}]}]})
    assert r.status == 422 and "must be true or false" in str(r.json)
