"""Messages per second accepted over SMTP: Postline's ingress beside a bare aiosmtpd sink.

Both servers run in this process with the same TLS context (a self-signed certificate) and
AUTH PLAIN/LOGIN; the clients run in a separate process (4 threads, one connection each,
STARTTLS + AUTH, a new connection every 100 messages as the ingress allows), sending 2,000
messages of about 5 KB (multipart text + HTML, built before the clock starts). Postline
validates each message and stores it durably, queued for delivery, before answering 250:
its content and record snapshot in an SQS dispatch (the delivery worker writes the record
to DynamoDB when it takes it), or the record in DynamoDB first when the snapshot doesn't
fit. The sink answers 250 and keeps nothing. AWS is the local stack's emulator (moto's
server in its own process, as ``make run`` starts it; ``--aws inprocess`` mocks it in this
process instead). A collector takes the dispatches off the delivery queue as they come,
standing in for the delivery side (its own process on the local stack, as the delivery
Lambdas are apart from the ingress in AWS; a thread with in-process moto). Each side gets
a short warm-up, then the timed run; after Postline's run every message is checked to be
stored and queued exactly once.

Run from the repository root: ``.venv/bin/python bench/smtp_ingest.py [--messages N] [--aws local|inprocess]``
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import smtplib
import ssl
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CONCURRENCY = 4
PER_CONNECTION = 100
PARAGRAPH = ("Thank you for your order. We are getting it ready and will let you know as soon as it ships. "
             "If anything looks wrong, reply to this message and our team will sort it out. ")


def message(sender: str, to: str, n: int) -> bytes:
    text = "\r\n".join(textwrap.wrap((PARAGRAPH * 13)[:2400], 76))
    html = "<html><body><p>" + "\r\n".join(textwrap.wrap((PARAGRAPH * 13)[:2300], 76)) + "</p></body></html>"
    boundary = f"b{n:08d}"
    return (f"From: Shop <{sender}>\r\nTo: {to}\r\nSubject: Order {n}\r\nMIME-Version: 1.0\r\n"
            f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'
            f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n"
            f"--{boundary}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n--{boundary}--\r\n").encode()


# ---------------------------------------------------------------- the client process


def client_main(args: argparse.Namespace) -> None:
    context = ssl.create_default_context(cafile=args.cafile)
    # Made before the clock starts: building them is the test's work, not the server's.
    mails = [message(args.sender, f"customer{n}@rcpt.test", n) for n in range(args.count)]
    counter = iter(range(args.count))
    lock = threading.Lock()
    errors: list[str] = []

    def take() -> int | None:
        with lock:
            return next(counter, None)

    def worker() -> None:
        n = take()
        while n is not None:
            with smtplib.SMTP("127.0.0.1", args.port, timeout=60) as smtp:
                smtp.starttls(context=context)
                smtp.login("api", args.token)
                for _ in range(PER_CONNECTION):
                    if n is None:
                        break
                    to = f"customer{n}@rcpt.test"
                    try:
                        smtp.sendmail(args.sender, [to], mails[n])
                    except smtplib.SMTPException as exc:
                        errors.append(repr(exc))
                    n = take()

    threads = [threading.Thread(target=worker) for _ in range(args.concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    print(json.dumps({"seconds": elapsed, "errors": errors[:5], "error_count": len(errors)}))


def run_clients(port: int, cafile: str, token: str, sender: str, count: int) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--client", "--port", str(port), "--cafile", cafile, "--token", token,
         "--sender", sender, "--count", str(count), "--concurrency", str(CONCURRENCY)],
        capture_output=True, text=True, timeout=900, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if out.returncode != 0:
        raise SystemExit(f"client process failed:\n{out.stderr}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if result["error_count"]:
        raise SystemExit(f"{result['error_count']} messages refused, e.g. {result['errors']}")
    return result


# ---------------------------------------------------------------- the servers


class AwsCalls:
    """Counts every AWS API call (boto3 and pynamodb both go through botocore's client)."""

    def __init__(self) -> None:
        import botocore.client

        self.counts: collections.Counter[str] = collections.Counter()
        original = botocore.client.BaseClient._make_api_call
        calls = self

        def counted(client, operation, params):
            calls.counts[f"{client.meta.service_model.service_name}.{operation}"] += 1
            return original(client, operation, params)

        botocore.client.BaseClient._make_api_call = counted

    def total(self) -> int:
        return sum(self.counts.values())


def bare_sink(tls_context: ssl.SSLContext, token: str):
    """aiosmtpd with the same TLS and AUTH, answering 250 and storing nothing."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    class Sink:
        async def handle_DATA(self, server, session, envelope):
            return "250 OK"

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = auth_data.login == b"api" and auth_data.password.decode() == token
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    controller = Controller(Sink(), hostname="127.0.0.1", port=0, tls_context=tls_context, authenticator=authenticator,
                            auth_required=True, data_size_limit=10 * 1024 * 1024)
    from local.testing import free_port

    controller.port = free_port()
    controller.start()
    return controller




def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--aws", choices=["local", "inprocess"], default="local",
                        help="local: moto's server in its own process, as `make run` runs it; "
                             "inprocess: moto mocked in this process")
    parser.add_argument("--client", action="store_true")
    parser.add_argument("--collect", action="store_true")
    parser.add_argument("--port", type=int)
    parser.add_argument("--cafile")
    parser.add_argument("--token")
    parser.add_argument("--sender")
    parser.add_argument("--count", type=int)
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    args = parser.parse_args()
    if args.client:
        return client_main(args)
    if args.collect:
        return collector_main()

    import logging
    import tempfile

    os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                       "AWS_DEFAULT_REGION": "us-east-1", "POSTLINE_STAGE": "dev", "TZ": "UTC"})
    os.environ.pop("AWS_ENDPOINT_URL", None)
    logging.basicConfig(level=logging.WARNING)
    with emulated_aws(args.aws):
        from chalicelib.accounts import service as accounts
        from chalicelib.core import clock
        from chalicelib.core.permissions import ADMIN, Grant, Principal
        from chalicelib.domains import service as domains
        from chalicelib.domains.models import Domain
        from chalicelib.sending.models import Message
        from chalicelib.smtp import server
        from chalicelib.smtp.settings import settings as smtp_settings

        logging.getLogger("moto").setLevel(logging.ERROR)
        logging.getLogger("mail.log").setLevel(logging.ERROR)  # the bare sink's per-AUTH deprecation notice
        account, token = accounts.create_account("Bench", "owner@bench.example")
        owner = Principal(account.account_id, 0, "bench", (Grant("account", account.account_id, ADMIN),))
        domain, _ = domains.create_domain(owner, "shop.bench.example")
        domain.update(actions=[Domain.dns_verified.set(True), Domain.dns_verified_at.set(clock.now()),
                               Domain.compliance_status.set(domains.COMPLIANT)])
        sender = f"orders@{domain.domain_name}"

        import dataclasses

        cert_dir = Path(tempfile.mkdtemp(prefix="postline-bench-"))
        config = dataclasses.replace(smtp_settings(), host="127.0.0.1", self_signed_dir=cert_dir)
        ours = server.start(config, [server.Listener("transactional", 0)])
        logging.getLogger("mail.log").setLevel(logging.ERROR)
        cafile = str(ours.certificate)
        sink = bare_sink(ours.tls_context, token)
        collector = Collector(args.aws)
        collector.start()
        try:
            warm = min(200, args.messages)
            run_clients(sink.port, cafile, token, sender, warm)
            run_clients(ours.port(), cafile, token, sender, warm)
            cpu = time.process_time()
            bare = run_clients(sink.port, cafile, token, sender, args.messages)
            bare["cpu"] = time.process_time() - cpu
            calls = AwsCalls()
            committer = ours.runtime.committer
            groups_before, messages_before = committer.groups, committer.messages
            cpu = time.process_time()
            mine = run_clients(ours.port(), cafile, token, sender, args.messages)
            mine["cpu"] = time.process_time() - cpu
            aws_calls = calls.total() - calls.counts["sqs.ReceiveMessage"] - calls.counts["sqs.DeleteMessageBatch"]
            groups = committer.groups - groups_before
            committed = committer.messages - messages_before
        finally:
            ours.stop()
            sink.stop()

        queued = collector.finish()
        # Stored: the record is in the table, or (the ingress defers record writes) its
        # snapshot rides in the queued dispatch, for the delivery worker to write first.
        in_table = {m.message_id for m in Message.by_account.query(account.account_id) if m.status == "queued"}
        stored = in_table | collector.deferred

        expected = args.messages + warm
        if len(stored) != expected or set(queued) != stored or max(queued.values()) != 1:
            raise SystemExit(f"expected {expected} messages stored and queued once, found {len(stored)} stored, "
                             f"{len(queued)} queued")

    ours_rate = args.messages / mine["seconds"]
    bare_rate = args.messages / bare["seconds"]
    print(f"messages:            {args.messages} of {len(message(sender, 'x@rcpt.test', 0))} bytes, "
          f"{CONCURRENCY} STARTTLS+AUTH connections, {PER_CONNECTION} messages per connection")
    print(f"bare aiosmtpd sink:  {bare_rate:8.0f} msg/s  ({bare['seconds']:.2f} s, stores nothing)")
    print(f"Postline ingress:    {ours_rate:8.0f} msg/s  ({mine['seconds']:.2f} s, each stored and queued; "
          f"{expected} verified after the runs)")
    where = "the emulated AWS in this process too" if args.aws == "inprocess" else "the emulator is another process"
    print(f"server CPU:          {bare['cpu'] / args.messages * 1000:.2f} ms per message bare, "
          f"{mine['cpu'] / args.messages * 1000:.2f} ms Postline ({where})")
    collectors = ("sqs.ReceiveMessage", "sqs.DeleteMessageBatch")
    breakdown = ", ".join(f"{k} {v}" for k, v in calls.counts.most_common() if k not in collectors)
    print(f"AWS calls:           {aws_calls} by the ingress for {args.messages} messages = "
          f"{aws_calls / args.messages:.2f} per message ({breakdown})")
    print(f"group commit:        {groups} commits, {committed / max(1, groups):.1f} messages per commit")
    print(f"RESULT smtp_ingest {ours_rate:.0f} msg/s ratio={ours_rate / bare_rate:.2f}")


@contextlib.contextmanager
def emulated_aws(mode: str):
    """The local stack's emulator (moto's server in its own process, as `make run` starts it)
    or moto in this process; either way with every resource of infra/template.yaml."""
    from local.testing import emulator_aws, in_process_aws

    with in_process_aws(execute_state_machines=False) if mode == "inprocess" else emulator_aws(step_functions=False):
        yield


def drain(stopping: Callable[[float], bool]) -> dict[str, Any]:
    """Take the dispatches off the delivery queue as they arrive, as the event pump does (without
    delivering them); return the message ids they name and those whose record rides along.

    moto's SendMessage works out every queue attribute on each call, a cost that grows with
    the queue's length (AWS has no such cost); draining keeps the queue as short as a running
    stack keeps it. ``stopping(seconds)`` waits up to that long and says whether to finish."""
    from chalicelib.core import aws
    from chalicelib.sending import streams

    sqs = aws.client("sqs")
    url = aws.queue_url(streams.queue_for(streams.TRANSACTIONAL))
    ids: collections.Counter[str] = collections.Counter()
    deferred: set[str] = set()
    while True:
        stop = stopping(0.25)  # then empty the queue: ~10 dispatches per call
        while True:
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                      VisibilityTimeout=600).get("Messages", [])
            if not got:
                break
            for m in got:
                body = json.loads(m["Body"])
                ids.update(body["message_ids"])
                if body.get("deferred"):
                    deferred.update(s["message_id"]["S"] for s in body["snapshots"])
            sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)])
        if stop:
            return {"ids": ids, "deferred": sorted(deferred)}


def collector_main() -> None:
    """``--collect``: drain until stdin closes, then print what was seen as JSON."""
    closed = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), closed.set()), daemon=True).start()
    print(json.dumps(drain(closed.wait)))


class Collector:
    """The delivery side, away from the ingress: in its own process on the local stack (as
    the delivery Lambdas are in AWS), a thread of this one when moto is in-process."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.deferred: set[str] = set()

    def start(self) -> None:
        if self.mode == "local":
            self.process = subprocess.Popen(
                [sys.executable, __file__, "--collect"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                env={**os.environ, "PYTHONPATH": str(ROOT)})
            return
        self.stopping = threading.Event()
        self.result: dict[str, Any] = {}
        self.thread = threading.Thread(target=lambda: self.result.update(drain(self.stopping.wait)), daemon=True)
        self.thread.start()

    def finish(self) -> collections.Counter[str]:
        if self.mode == "local":
            out, _ = self.process.communicate(timeout=600)
            result = json.loads(out.strip().splitlines()[-1])
        else:
            self.stopping.set()
            self.thread.join()
            result = self.result
        self.deferred = set(result["deferred"])
        return collections.Counter(result["ids"])


if __name__ == "__main__":
    main()
