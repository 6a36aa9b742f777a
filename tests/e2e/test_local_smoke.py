"""`make run` end to end: the whole stack as a subprocess on free ports, stopped and started again."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests
from local_support import ROOT, free_port

from local.emulator import port_is_free


class Stack:
    def __init__(self, state_dir: Path, dns_resolver: str | None = None, extra_env: dict | None = None) -> None:
        self.aws_port, self.api_port = free_port(), free_port()
        self.api = f"http://127.0.0.1:{self.api_port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POSTLINE_"))}
        self.smtp_port = free_port()
        env.update(POSTLINE_AWS_PORT=str(self.aws_port), POSTLINE_API_PORT=str(self.api_port),
                   POSTLINE_STATE_DIR=str(state_dir), POSTLINE_SMTP_PORT=str(self.smtp_port),
                   POSTLINE_BULK_SMTP_PORT=str(free_port()), POSTLINE_SMTP_TLS_PORT=str(free_port()),
                   POSTLINE_BULK_SMTP_TLS_PORT=str(free_port()))
        if dns_resolver:
            env["POSTLINE_DNS_RESOLVER"] = dns_resolver
        env.update(extra_env or {})
        self.process = subprocess.Popen([sys.executable, "-m", "local", "run"], cwd=ROOT, env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.output = ""

    def wait_healthy(self, timeout: float = 60.0) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            assert self.process.poll() is None, self.stop()
            try:
                if requests.get(f"{self.api}/api/health", timeout=10).status_code == 200:
                    return time.monotonic() - started
            except requests.RequestException:  # not listening yet, or slow on a busy machine
                pass
            time.sleep(0.1)
        raise AssertionError(f"not healthy in {timeout}s:\n{self.stop()}")

    def stop(self) -> str:
        """Ctrl-C, as a person would; returns everything it printed."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        self.output, _ = self.process.communicate(timeout=30)
        return self.output


def _official_sdk_against(api_url: str, monkeypatch) -> None:
    """The README's recipe: the SDK keeps its host names (for host routing) but talks to Postline."""
    import mailtrap.http

    def _url(self, path: str) -> str:
        self._session.headers["Host"] = self._host
        return f"{api_url}/{path.lstrip('/')}"

    monkeypatch.setattr(mailtrap.http.HttpClient, "_url", _url)


def _smtp_mail_reaches_the_logs(stack: Stack, creds: dict, auth: dict) -> None:
    import smtplib
    import ssl

    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # the stack's self-signed certificate
    sender, owner = "hello@demo.postline.invalid", "owner@postline.local"
    mail = f"From: {sender}\r\nTo: {owner}\r\nSubject: Over SMTP\r\n\r\nIt works.\r\n"
    with smtplib.SMTP("127.0.0.1", stack.smtp_port, timeout=30) as smtp:
        smtp.ehlo()
        assert smtp.has_extn("starttls") and not smtp.has_extn("auth")  # AUTH only after TLS
        smtp.starttls(context=context)
        smtp.login("api", creds["api_token"])
        assert smtp.sendmail(sender, [owner], mail) == {}
    logs_url = f"{stack.api}/api/accounts/{creds['account_id']}/email_logs"
    deadline = time.monotonic() + 60
    while True:  # delivered, as the emulated SES's Delivery notification says (local/ses_events.py)
        found = [m for m in requests.get(logs_url, headers=auth, timeout=10).json()["messages"]
                 if m["subject"] == "Over SMTP"]
        events = []
        if found:
            detail = requests.get(f"{logs_url}/{found[0]['message_id']}", headers=auth, timeout=10).json()
            events = [e["event_type"] for e in detail["events"]]
        if events == ["delivery"] and found[0]["status"] == "delivered":
            break
        assert time.monotonic() < deadline, f"not delivered in 60 s: {found} {events}"
        time.sleep(0.25)


def _verified_domain(stack: Stack, creds: dict, auth: dict, zone) -> str:
    """A domain created and verified through the API, its records published on the stub DNS."""
    from domain_helpers import publish

    base = f"{stack.api}/api/accounts/{creds['account_id']}/sending_domains"
    created = requests.post(base, headers=auth, json={"sending_domain": {"domain_name": "restart.example.org"}},
                            timeout=30)
    assert created.status_code in (200, 201), created.text
    publish(zone, created.json())
    verified = requests.post(f"{base}/{created.json()['id']}/verify", headers=auth, timeout=30).json()
    assert verified["dns_verified"] is True, verified
    return "hello@restart.example.org"


def _api_mail_is_sent(stack: Stack, creds: dict, auth: dict, sender: str, subject: str) -> None:
    """POST /api/send on the transactional host; the email log shows it delivered (SES took it, no
    MessageRejected, and the emulated SES reported the delivery)."""
    sent = requests.post(f"{stack.api}/api/send", timeout=30, headers={**auth, "Host": "send.localhost"}, json={
        "from": {"email": sender}, "to": [{"email": "owner@postline.local"}], "subject": subject, "text": "hi"})
    assert sent.status_code == 200 and sent.json()["success"] is True, sent.text
    message_id = sent.json()["message_ids"][0]
    url = f"{stack.api}/api/accounts/{creds['account_id']}/email_logs/{message_id}"
    deadline = time.monotonic() + 60
    while True:
        detail = requests.get(url, headers=auth, timeout=10).json()
        events = [e["event_type"] for e in detail.get("events", [])]
        assert detail.get("status") != "not_delivered", detail
        if detail.get("status") == "delivered" and events == ["delivery"]:
            return
        assert time.monotonic() < deadline, f"not delivered in 60 s: {detail}"
        time.sleep(0.25)


def test_make_run_serves_the_api_and_keeps_its_data_across_a_restart(tmp_path, monkeypatch):
    import mailtrap as mt
    from dnsstub import StubZone
    from dnsstub import start as start_dns
    from mailtrap.models.api_tokens import ApiTokenResource, CreateApiTokenParams

    zone = StubZone()
    dns = start_dns(zone)
    resolver = f"127.0.0.1:{dns.server.server_address[1]}"
    first = Stack(tmp_path, resolver)
    try:
        first.wait_healthy()
        creds = json.loads((tmp_path / "credentials.json").read_text())
        auth = {"Authorization": f"Bearer {creds['api_token']}"}
        accounts = requests.get(f"{first.api}/api/accounts", headers=auth, timeout=5)
        assert accounts.status_code == 200
        assert [a["id"] for a in accounts.json()] == [creds["account_id"]]
        # the official SDK, pointed at the stack as the README shows
        _official_sdk_against(first.api, monkeypatch)
        sdk = mt.MailtrapClient(token=creds["api_token"], account_id=str(creds["account_id"]))
        assert [a.id for a in sdk.general_api.accounts.get_list()] == [creds["account_id"]]
        made = sdk.general_api.api_tokens.create(creds["account_id"], CreateApiTokenParams(
            name="over http", resources=[ApiTokenResource("account", creds["account_id"], 10)]))
        assert made.token and made.id in [t.id for t in sdk.general_api.api_tokens.get_list(creds["account_id"])]
        # SMTP as the README shows: STARTTLS, then AUTH with the token; the mail goes from the
        # demo domain to the owner, through the pump and the delivery worker, into the logs
        _smtp_mail_reaches_the_logs(first, creds, auth)
        sender = _verified_domain(first, creds, auth, zone)
        _api_mail_is_sent(first, creds, auth, sender, "Before the restart")
        unknown = requests.get(f"{first.api}/api/no-such-thing", timeout=5)
        assert (unknown.status_code, unknown.json()) == (404, {"error": "Not Found"})
        # hostile JSON over real HTTP: the local gateway hands the body to the app's own parser
        # (chalicelib/core/jsonbody.py), as API Gateway does
        as_json = {**auth, "Content-Type": "application/json"}
        deep = requests.post(f"{first.api}/api/api_tokens", data="[" * 1000 + "]" * 1000, headers=as_json, timeout=10)
        assert (deep.status_code, deep.json()) == (
            400, {"errors": "JSON in request body is nested more than 64 levels deep"})
        lone = requests.post(f"{first.api}/api/api_tokens", data='{"name": "\\ud800"}', headers=as_json, timeout=10)
        assert (lone.status_code, lone.json()) == (
            422, {"errors": {"name": ["must not contain a lone UTF-16 surrogate (U+D800)"]}})
    finally:
        output = first.stop()
    assert first.process.returncode == 0, output
    assert creds["api_token"] in output  # shown once, on the first start
    assert port_is_free("127.0.0.1", first.aws_port), "the AWS emulator outlived Ctrl-C"

    second = Stack(tmp_path, resolver)
    try:
        second.wait_healthy()
        accounts = requests.get(f"{second.api}/api/accounts", headers=auth, timeout=5)
        assert accounts.status_code == 200, accounts.text
        assert [a["id"] for a in accounts.json()] == [creds["account_id"]]
        # SES kept its identities: the verified domain and the demo domain still send
        _api_mail_is_sent(second, creds, auth, sender, "After the restart")
        _api_mail_is_sent(second, creds, auth, "hello@demo.postline.invalid", "Demo after the restart")
    finally:
        output = second.stop()
        dns.stop()
    assert creds["api_token"] not in output
    # a short session's journal is replayed, not snapshotted at Ctrl-C (which stops at once)
    assert "Loading the saved AWS state (" in output and "Saved the AWS state" not in first.output
    assert re.search(r"state .* 0 items, 0 objects and [1-9][\d,]* journaled writes loaded in", output), output
    assert json.loads((tmp_path / "credentials.json").read_text())["api_token"] == creds["api_token"]
