"""10,000 sending events for 20 webhooks, delivered to a local receiver that verifies every
signature, beside a bare loop of signed POSTs of the same bodies.

The receiver runs in its own process (``bench/webhooks.py receiver``: a threading HTTP
server on 127.0.0.1) and checks ``Mailtrap-Signature`` over the raw body of every request
with the webhook's secret, counting each ``event_id`` it accepted with 200.

Ours: 10,000 event records (500 per webhook, interleaved across the 20 webhooks as a queue
holds them; half the webhooks JSON, half JSON Lines) handed to the ``deliver_webhooks``
consumer 500 per invocation (after one untimed warm-up invocation), as the Lambda batching
window does: it groups them by
webhook, loads each webhook, posts each group signed (16 in parallel) and records every
request in the delivery history, on the in-process AWS emulation (moto).
Baseline: the same bodies, signed and POSTed one after another with http.client, nothing
else. The RESULT is the wall-clock rate (delivery waits on the receiver, not the CPU).

Then the same again with the receiver failing every other request: the retries are
driven through the queue (their 5-minute timer shortened to 0 for the bench); every event
must arrive in a successful request exactly once.

Run from the repository root: ``.venv/bin/python bench/webhooks.py``
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import subprocess
import sys
import threading
import time
import uuid
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

warnings.filterwarnings("ignore")
EVENTS = int(os.environ.get("BENCH_EVENTS", 10_000))
WEBHOOKS = 20
PER_INVOCATION = 500


# ------------------------------------------------------------------ the receiver (its own process)


def receiver() -> None:
    lock = threading.Lock()
    state = {"secrets": {}, "fail_every": 0, "requests": 0, "bad_signatures": 0, "accepted": {}}

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, body: bytes = b"ok") -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path == "/control":
                with lock:
                    state.update(json.loads(body))
                    if "reset" in state:
                        state.update(requests=0, bad_signatures=0, accepted={})
                        state.pop("reset")
                return self._answer(200)
            secret = state["secrets"].get(self.path.rsplit("/", 1)[-1], "")
            expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(expected, self.headers.get("Mailtrap-Signature", "")):
                with lock:
                    state["bad_signatures"] += 1
                return self._answer(400)
            with lock:
                state["requests"] += 1
                fail = state["fail_every"] and state["requests"] % state["fail_every"] == 0
            if fail:
                return self._answer(500)
            if self.headers.get("Content-Type") == "application/jsonl":
                events = [json.loads(line) for line in body.split(b"\n")]
            else:
                events = json.loads(body)["events"]
            with lock:
                for e in events:
                    state["accepted"][e["event_id"]] = state["accepted"].get(e["event_id"], 0) + 1
            self._answer(200)

        def do_GET(self) -> None:  # noqa: N802
            with lock:
                counts = list(state["accepted"].values())
                out = {"requests": state["requests"], "bad_signatures": state["bad_signatures"],
                       "distinct": len(counts), "twice": sum(1 for c in counts if c > 1)}
            self._answer(200, json.dumps(out).encode())

        def log_message(self, *args) -> None:
            pass

    ThreadingHTTPServer.request_queue_size = 128  # the 16 parallel senders connect at once
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


class Remote:
    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, __file__, "receiver"], stdout=subprocess.PIPE, text=True)
        self.port = int(self.process.stdout.readline())

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        conn.request(method, path, body=json.dumps(body) if body is not None else None)
        data = conn.getresponse().read()
        conn.close()
        return json.loads(data) if method == "GET" else {}

    def close(self) -> None:
        self.process.terminate()
        self.process.wait()


# ------------------------------------------------------------------ the bench


def payload(i: int) -> dict:
    return {"event": "delivery", "message_id": str(uuid.uuid4()), "sending_stream": "transactional",
            "email": f"r{i}@bench-rcpt.example", "sending_domain_name": "bench.example", "timestamp": 1728669700,
            "event_id": str(uuid.uuid4()), "category": "Bench", "custom_variables": {"user_id": str(i)}}


def sqs_events(records: list[dict]) -> list[dict]:
    from chalicelib.core.config import settings
    from chalicelib.webhooks import delivery

    arn = f"arn:aws:sqs:us-east-1:123456789012:{settings().queue_name(delivery.QUEUE)}"
    return [{"Records": [{"messageId": str(uuid.uuid4()), "receiptHandle": "r", "body": json.dumps(r),
                          "attributes": {}, "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                          "awsRegion": "us-east-1", "eventSourceARN": arn} for r in records[k:k + PER_INVOCATION]]}
            for k in range(0, len(records), PER_INVOCATION)]


def bare_bodies(records: list[dict], hooks: dict[int, object]) -> list[tuple[str, bytes, str, str]]:
    """The bodies ours sends: per invocation, per webhook in order of first appearance."""
    from chalicelib.webhooks import delivery

    out = []
    for k in range(0, len(records), PER_INVOCATION):
        groups: dict[int, list[dict]] = {}
        for r in records[k:k + PER_INVOCATION]:
            groups.setdefault(r["webhook_id"], []).append(r["event"])
        for webhook_id, events in groups.items():
            hook = hooks[webhook_id]
            for chunk in delivery.requests_of(events):
                body, content_type = delivery.encode(chunk, hook.payload_format)
                out.append((hook.url, body, content_type, hook.signing_secret))
    return out


def bare_post(url: str, body: bytes, content_type: str, secret: str) -> int:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    conn.request("POST", parts.path, body=body, headers={"Content-Type": content_type, "Mailtrap-Signature": signature})
    status = conn.getresponse().status
    conn.close()
    return status


def main() -> None:
    remote = Remote()
    os.environ["POSTLINE_WEBHOOK_ALLOWED_NETWORKS"] = "127.0.0.0/8"
    from _stack import AwsClock, emulated_aws

    try:
        with emulated_aws():
            run(remote, AwsClock)
    finally:
        remote.close()


def run(remote: Remote, aws_clock_class) -> None:
    from chalice.test import Client

    import app as app_module
    from chalicelib.accounts import service as accounts
    from chalicelib.core.permissions import OWNER, Grant, Principal
    from chalicelib.webhooks import delivery, service
    from chalicelib.webhooks.models import Webhook
    from chalicelib.webhooks.request_models import WebhookCreate
    from tests.domain_helpers import drain

    account, _ = accounts.create_account("Bench", "owner@bench.example")
    owner = Principal(account.account_id, 0, "bench", (Grant("account", account.account_id, OWNER),))
    made = [service.create(owner, WebhookCreate.model_validate({
        "url": f"http://127.0.0.1:{remote.port}/h/{n}", "webhook_type": "email_sending",
        "sending_stream": "transactional", "event_types": ["delivery"],
        "payload_format": "jsonl" if n % 2 else "json"})) for n in range(WEBHOOKS)]
    for w in made:  # the receiver knows each webhook by its path
        hook = Webhook.get(account.account_id, w["id"])
        hook.url = f"http://127.0.0.1:{remote.port}/h/{w['id']}"
        hook.save()
    hooks = {h.webhook_id: h for h in Webhook.query(account.account_id)}
    remote.call("POST", "/control", {"secrets": {str(i): h.signing_secret for i, h in hooks.items()}})
    ids = sorted(hooks)
    records = [delivery.record(account.account_id, ids[i % WEBHOOKS], payload(i)) for i in range(EVENTS)]

    with Client(app_module.app) as client, aws_clock_class() as aws_clock:
        events = sqs_events(records)
        # A warm function (its AWS clients made), as Lambda keeps one between batches: one
        # small untimed invocation first.
        warm = [delivery.record(account.account_id, i, payload(-1)) for i in ids]
        assert client.lambda_.invoke("deliver_webhooks", sqs_events(warm)[0]).payload == {"batchItemFailures": []}
        aws_clock.calls = 0
        aws_clock.cpu = 0.0
        remote.call("POST", "/control", {"reset": True, "fail_every": 0})
        start, cpu_start = time.perf_counter(), time.process_time()
        for event in events:
            assert client.lambda_.invoke("deliver_webhooks", event).payload == {"batchItemFailures": []}
        ours_wall, ours_cpu = time.perf_counter() - start, time.process_time() - cpu_start
        ours_calls, ours_aws_cpu = aws_clock.calls, aws_clock.cpu
        got = remote.call("GET", "/stats")
        assert got == {"requests": got["requests"], "bad_signatures": 0, "distinct": EVENTS, "twice": 0}, got
        aws_clock.paused = True

        bodies = bare_bodies(records, hooks)
        remote.call("POST", "/control", {"reset": True})
        start = time.perf_counter()
        for url, body, content_type, secret in bodies:
            assert bare_post(url, body, content_type, secret) == 200
        bare_wall = time.perf_counter() - start
        bare = remote.call("GET", "/stats")
        assert bare["distinct"] == EVENTS and bare["bad_signatures"] == 0, bare

        # The receiver fails every other request: retries through the queue until all arrive.
        delivery.RETRY_SECONDS = 0
        fresh = [delivery.record(account.account_id, ids[i % WEBHOOKS], payload(i)) for i in range(EVENTS)]
        remote.call("POST", "/control", {"reset": True, "fail_every": 2})
        start = time.perf_counter()
        for event in sqs_events(fresh):
            assert client.lambda_.invoke("deliver_webhooks", event).payload == {"batchItemFailures": []}
        rounds = 0
        while retries := drain(delivery.QUEUE):
            rounds += 1
            for event in sqs_events(retries):
                assert client.lambda_.invoke("deliver_webhooks", event).payload == {"batchItemFailures": []}
        failing_wall = time.perf_counter() - start
        failing = remote.call("GET", "/stats")
        assert failing["distinct"] == EVENTS and failing["twice"] == 0 and failing["bad_signatures"] == 0, failing
        assert all(h.active for h in Webhook.query(account.account_id))

    ours, bare_rate = EVENTS / ours_wall, EVENTS / bare_wall
    print(f"webhooks: {EVENTS} events for {WEBHOOKS} webhooks (half JSON, half JSON Lines), {PER_INVOCATION} "
          f"records per invocation; {got['requests']} requests, every signature verified by the receiver")
    print(f"ours: {ours_wall:.2f} s wall, {ours_cpu:.2f} s CPU; {ours_calls} AWS calls "
          f"({ours_calls / EVENTS:.3f} per event: a BatchGetItem of the webhooks and a BatchWrite of the history "
          f"per invocation), {ours_aws_cpu:.2f} s CPU inside them (the emulation), "
          f"{(ours_cpu - ours_aws_cpu) / EVENTS * 1000:.3f} ms CPU per event outside AWS calls")
    print(f"bare: {bare_wall:.2f} s wall; {len(bodies)} signed POSTs of the same bodies, one after another")
    print(f"receiver failing every other request: {EVENTS} events in {failing['requests']} requests, "
          f"{rounds} retry rounds, {failing_wall:.2f} s; each event accepted exactly once, no webhook paused")
    print(f"wall clock: ours {ours:.0f} events/s, bare {bare_rate:.0f} events/s, ratio {ours / bare_rate:.2f} "
          "(goal >= 0.5)")
    print(f"RESULT webhooks {ours:.0f} events/s ratio={ours / bare_rate:.2f}")


if __name__ == "__main__":
    if sys.argv[1:] == ["receiver"]:
        receiver()
    else:
        main()
