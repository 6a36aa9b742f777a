"""`make run` with the loopback allow-list: a sent email's delivery event reaches a webhook
within 60 s, through the stack's own event pump (batching window included)."""

from __future__ import annotations

import json
import subprocess
import time

import requests

from tests.e2e.test_local_smoke import Stack
from tests.webhook_support import Receiver


def test_a_delivery_reaches_a_local_webhook_within_60_seconds(tmp_path):
    receiver = Receiver()
    stack = Stack(tmp_path, extra_env={"POSTLINE_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8"})
    try:
        stack.wait_healthy(timeout=120)
        creds = json.loads((tmp_path / "credentials.json").read_text())
        auth = {"Authorization": f"Bearer {creds['api_token']}"}
        made = requests.post(f"{stack.api}/api/webhooks", headers=auth, timeout=30, json={"webhook": {
            "url": receiver.url, "webhook_type": "email_sending", "sending_stream": "transactional",
            "event_types": ["delivery"]}})
        assert made.status_code == 200, made.text
        sent = requests.post(f"{stack.api}/api/send", timeout=30, headers={**auth, "Host": "send.localhost"}, json={
            "from": {"email": "hello@demo.postline.invalid"}, "to": [{"email": "owner@postline.local"}],
            "subject": "Webhook", "text": "hi"})
        assert sent.status_code == 200, sent.text
        message_id = sent.json()["message_ids"][0]
        started = time.monotonic()
        while not receiver.received:
            assert time.monotonic() - started < 60, "no webhook request in 60 s"
            time.sleep(0.25)
        [request] = receiver.received
        [event] = request.events()
        assert request.verifies(made.json()["data"]["signing_secret"])
        assert (event["event"], event["message_id"], event["email"]) == ("delivery", message_id, "owner@postline.local")
        assert {"sending_stream", "sending_domain_name", "timestamp", "event_id"} <= event.keys()
    finally:
        try:
            stack.stop()
        except subprocess.TimeoutExpired:  # its webhook pump may sit in a 30 s batching window
            stack.process.kill()
            stack.process.wait()
        receiver.close()
