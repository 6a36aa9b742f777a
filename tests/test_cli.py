"""The account users' CLI (seed-C §6, acceptance check 40), over real HTTP to the app: a
local HTTP server hands each request to chalice's test client."""

from __future__ import annotations

import http.server
import json
import threading

import pytest
import yaml

from mailtrap_cli.__main__ import main
from tests.events_support import DAY, delivery, record_events
from tests.sending_support import pump, verified_domain


@pytest.fixture()
def api_url(client):
    class Handler(http.server.BaseHTTPRequestHandler):
        def _forward(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k: v for k, v in self.headers.items()}
            headers["Host"] = "postline.test"
            answer = client.http.request(self.command, self.path, headers=headers, body=body)
            self.send_response(answer.status_code)
            for name, value in answer.headers.items():
                if name.lower() not in ("content-length", "connection"):
                    self.send_header(name, value)
            data = answer.body if isinstance(answer.body, bytes) else (answer.body or "").encode()
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _forward

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.fixture()
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("MAILTRAP_API_TOKEN", "MAILTRAP_ACCOUNT_ID", "MAILTRAP_API_URL", "MAILTRAP_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_configure_saves_the_token_and_the_detected_account(api_url, home, account, capsys):
    acct, token = account
    assert main(["configure", "--api-token", token, "--api-url", api_url]) == 0
    saved = yaml.safe_load((home / ".mailtrap.yaml").read_text())
    assert saved["api_token"] == token and saved["account_id"] == acct.account_id
    assert (home / ".mailtrap.yaml").stat().st_mode & 0o077 == 0  # a secret: the owner's only
    assert f"account_id: {acct.account_id}" in capsys.readouterr().out


def test_configure_refuses_a_bad_token_and_saves_nothing(api_url, home, account, capsys):
    assert main(["configure", "--api-token", "not-a-token", "--api-url", api_url]) == 1
    assert "401" in capsys.readouterr().err and not (home / ".mailtrap.yaml").exists()


def test_stats_by_esp_prints_json_with_only_the_environment_token(api, client, api_url, home, account, monkeypatch,
                                                                   capsys):
    acct, token = account
    domain = verified_domain(acct.account_id)
    other = verified_domain(acct.account_id)
    for d, to in ((domain, "a@gmail.com"), (domain, "b@yahoo.com"), (other, "c@gmail.com")):
        r = api.post("/api/send", {"from": {"email": f"app@{d.domain_name}"}, "to": [{"email": to}],
                                   "subject": "Hi", "text": "Hi"}, host="send.postline.test")
        assert r.status == 200, r
    pump(client)
    from chalicelib.sending.models import Message

    record_events(client, [delivery(m) for m in Message.by_account.query(acct.account_id)])
    monkeypatch.setenv("MAILTRAP_API_TOKEN", token)  # no config file
    monkeypatch.setenv("MAILTRAP_API_URL", api_url)
    day = DAY.isoformat()
    assert main(["stats", "by-esp", "--start-date", day, "--end-date", day, "--domain-ids",
                 str(domain.domain_id), "--output", "json"]) == 0
    printed = json.loads(capsys.readouterr().out)  # valid JSON
    assert {row["email_service_provider"]: row["stats"]["delivery_count"] for row in printed} == {
        "Google": 1, "Yahoo": 1}
    assert main(["stats", "summary", "--start-date", day, "--end-date", day]) == 0
    assert "delivery_count: 3" in capsys.readouterr().out
