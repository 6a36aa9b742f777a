"""Open and click tracking: the pixel and rewritten links in what SES receives, and what
following them records (seed-C §3.2, §1.5; acceptance checks 10 and 18)."""

from __future__ import annotations

import re
import uuid

import pytest

from chalicelib.sending import tracking
from tests.events_support import delivery, record_events
from tests.sending_support import pump, sent_to, verified_domain

SEND = "send.postline.test"
HTML = ('<html><body><p>Hello</p>'
        '<a data-mt-no-track href="https://x.test/deep">app</a> '
        '<a href="https://shop.test/a?x=1&amp;y=2">shop</a> '
        '<a class="b" href="https://shop.test/b">b</a> '
        '<a href="mailto:help@shop.test">mail</a> <a href="tel:+123">call</a> <a href="#top">top</a>'
        '</body></html>')
TEXT = "Open https://x.test/deep in the app, or https://shop.test/b on the web."


@pytest.fixture()
def domain(account):
    return verified_domain(account[0].account_id, click_tracking_enabled=True)


def send(api, domain, html=HTML, text=TEXT) -> tuple[str, str]:
    to = f"t-{uuid.uuid4().hex[:10]}@rcpt.test"
    r = api.post("/api/send", {"from": {"email": f"app@{domain.domain_name}"}, "to": [{"email": to}],
                               "subject": "Tracked", "html": html, "text": text}, host=SEND)
    assert r.status == 200, r
    return r.json["message_ids"][0], to


def bodies(to: str) -> tuple[str, str]:
    [msg] = sent_to(to)
    return msg.get_body(("html",)).get_content(), msg.get_body(("plain",)).get_content()


def tracked_links(html: str, domain) -> list[str]:
    return re.findall(rf'href="(http://mt-link\.{re.escape(domain.domain_name)}:8000/c/[^"]+)"', html)


def visit(client, url: str, agent: str = "Mozilla/5.0 (Macintosh)", accept: str | None = "image/webp,*/*"):
    host, path = re.match(r"https?://([^/]+)(/.*)", url).groups()
    headers = {"Host": host.split(":")[0], "User-Agent": agent}
    if accept:
        headers["Accept"] = accept  # a browser's, for an image
    return client.http.get(path, headers=headers)


def test_links_are_rewritten_except_no_track_mailto_tel_and_anchors(api, client, domain):
    _, to = send(api, domain)
    pump(client)
    html, text = bodies(to)
    assert '<a data-mt-no-track href="https://x.test/deep">' in html  # seed-C 18
    assert "https://x.test/deep" in text  # the same URL in the text part is left alone too
    assert 'href="mailto:help@shop.test"' in html and 'href="tel:+123"' in html and 'href="#top"' in html
    assert "https://shop.test/a" not in html and "https://shop.test/b" not in html and "https://shop.test/b" not in text
    assert len(tracked_links(html, domain)) == 2
    assert re.search(rf"http://mt-link\.{re.escape(domain.domain_name)}:8000/c/\S+ on the web", text)
    assert re.search(r'<img src="http://mt-link\.[^"]+/o/[^"]+" width="1" height="1"', html)  # open pixel


def test_the_pixel_records_an_open_and_a_link_a_click_then_redirects(api, client, domain):
    message_id, to = send(api, domain)
    pump(client)
    html, _ = bodies(to)
    pixel = re.search(r'<img src="([^"]+)"', html).group(1)
    r = visit(client, pixel)
    assert r.status_code == 200 and r.headers["Content-Type"] == "image/gif" and r.body == tracking.PIXEL
    assert visit(client, pixel, accept=None).status_code == 204  # no image wanted: counted all the same
    detail = api.get(f"/api/email_logs/{message_id}").json
    assert detail["status"] == "delivered" and detail["opens_count"] == 2  # an open proves delivery
    assert detail["events"][-1]["event_type"] == "open" and "web_ip_address" in detail["events"][-1]["details"]
    first, second = tracked_links(html, domain)
    r = visit(client, first)
    assert r.status_code == 302 and r.headers["Location"] == "https://shop.test/a?x=1&y=2"
    for url in (second, first, second, first):
        assert visit(client, url).status_code == 302
    detail = api.get(f"/api/email_logs/{message_id}").json
    clicks = [e for e in detail["events"] if e["event_type"] == "click"]
    assert detail["clicks_count"] == 5 and len(clicks) == 5  # seed-C 10: every click is an event
    assert {c["details"]["click_url"] for c in clicks} == {"https://shop.test/a?x=1&y=2", "https://shop.test/b"}
    from chalicelib.sending import events
    from chalicelib.sending.models import Message

    stored = Message.get(message_id, consistent_read=True)  # seed-C 29: a click's webhook payload
    click = events.webhook_payload(stored, next(e for e in stored.events if e["event_type"] == "click"))
    assert click["url"] == "https://shop.test/a?x=1&y=2" and click["user_agent"] == "Mozilla/5.0 (Macintosh)"
    assert click["ip"] and click["event"] == "click"


def test_forged_tokens_and_other_hosts_answer_404(api, client, domain):
    message_id, to = send(api, domain)
    pump(client)
    html, _ = bodies(to)
    link = tracked_links(html, domain)[0]
    token = link.rsplit("/", 1)[1]
    mid, encoded, signature = token.split(".")
    evil = tracking._encode("https://evil.test/")
    host = f"mt-link.{domain.domain_name}"
    for path in (f"/c/{mid}.{evil}.{signature}", f"/c/{uuid.uuid4()}.{encoded}.{signature}",
                 f"/o/{mid}.{signature}", "/o/nothing"):
        assert client.http.get(path, headers={"Host": host}).status_code == 404, path
    assert client.http.get(f"/c/{token}", headers={"Host": "postline.test"}).status_code == 404
    assert client.http.get("/api/email_logs", headers={"Host": host}).status_code == 404
    assert api.get(f"/api/email_logs/{message_id}").json["clicks_count"] == 0


def test_opens_after_an_opt_out_leave_the_status(api, client, domain):
    from chalicelib.sending import events
    from chalicelib.sending.models import Message

    message_id, to = send(api, domain)
    pump(client)
    record_events(client, [delivery(Message.get(message_id))])
    events.apply(message_id, "spam", {"spam_feedback_type": "abuse"})
    html, _ = bodies(to)
    visit(client, re.search(r'<img src="([^"]+)"', html).group(1))
    detail = api.get(f"/api/email_logs/{message_id}").json
    assert detail["status"] == "opted_out" and detail["opens_count"] == 1


def test_domains_without_tracking_send_bodies_untouched(api, client, account):
    plain = verified_domain(account[0].account_id, open_tracking_enabled=False)
    _, to = send(api, plain)
    pump(client)
    html, text = bodies(to)
    assert html.strip() == HTML and text.strip() == TEXT


def test_tracking_opt_outs_api_and_an_opted_out_address_gets_untracked_mail(api, client, domain, account):
    from mailtrap.models.tracking_opt_outs import CreateTrackingOptOutParams, TrackingOptOutsListParams

    from tests.sdk import sdk_session

    to = f"private-{uuid.uuid4().hex[:8]}@rcpt.test"
    other = verified_domain(account[0].account_id)
    import mailtrap as mt

    with sdk_session(client):
        opt_outs = mt.MailtrapClient(token=account[1], account_id=str(account[0].account_id)).tracking_opt_outs_api \
            .tracking_opt_outs
        made = opt_outs.create(CreateTrackingOptOutParams(email=to.upper(), domain_id=domain.domain_id))
        assert made.email == to and made.domain_name == domain.domain_name
        opt_outs.create(CreateTrackingOptOutParams(email="someone@else.test", domain_id=other.domain_id))
        page = opt_outs.get_list(TrackingOptOutsListParams(email=to))
        assert [o.id for o in page.data] == [made.id] and page.last_id is None
        assert len(opt_outs.get_list().data) == 2
    bad = api.post("/api/tracking_opt_outs", {"email": "nope", "domain_id": 999999})
    assert bad.status == 422 and set(bad.json["errors"]) == {"email", "domain_id"}
    again = api.post("/api/tracking_opt_outs", {"email": to, "domain_id": domain.domain_id})
    assert again.status == 200 and again.json["data"]["id"] == made.id  # already there

    r = api.post("/api/send", {"from": {"email": f"app@{domain.domain_name}"}, "to": [{"email": to}],
                               "subject": "Private", "html": HTML, "text": TEXT}, host=SEND)
    assert r.status == 200
    pump(client)
    html, text = bodies(to)
    assert html.strip() == HTML and text.strip() == TEXT  # no pixel, no tracked links

    with sdk_session(client):
        removed = opt_outs.delete(made.id)
    assert removed.id == made.id and api.get(f"/api/tracking_opt_outs?email={to}").json == {"data": [],
                                                                                              "last_id": None}
    assert api.delete(f"/api/tracking_opt_outs/{made.id}").status == 404


@pytest.mark.parametrize("small_list", [50, 1])  # the whole list read, or looked up by key
def test_opted_out_answers_for_short_and_long_lists(api, domain, monkeypatch, small_list):
    from chalicelib.sending import tracking_opt_outs

    monkeypatch.setattr(tracking_opt_outs, "SMALL_LIST", small_list)
    for email in ("a@opt.test", "b@opt.test", "c@opt.test"):
        assert api.post("/api/tracking_opt_outs", {"email": email, "domain_id": domain.domain_id}).status == 201
    found = tracking_opt_outs.opted_out(domain.account_id, domain.domain_id, ["A@opt.test", "c@opt.test", "z@x.test"])
    assert found == {"a@opt.test", "c@opt.test"}
