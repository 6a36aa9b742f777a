"""Helpers for webhook tests: a real HTTP receiver on loopback, and the delivery queue's consumer."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from mailtrap.webhooks import verify_signature

from chalicelib.webhooks import delivery
from tests.domain_helpers import drain, sqs_event

FUNCTION = "deliver_webhooks"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def events(self) -> list[dict[str, Any]]:
        if self.headers.get("content-type") == "application/jsonl":
            return [json.loads(line) for line in self.body.decode().split("\n")]
        return json.loads(self.body)["events"]

    def verifies(self, secret: str) -> bool:
        return verify_signature(self.body, self.headers.get("mailtrap-signature", ""), secret)


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 that keeps every request and answers with ``statuses``
    in turn (the last one repeats), or with a redirect to ``location``."""

    statuses: list[int] = field(default_factory=lambda: [200])
    location: str | None = None
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                owner.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                status = owner.statuses[min(len(owner.received) - 1, len(owner.statuses) - 1)]
                self.send_response(status)
                if owner.location:
                    self.send_header("Location", owner.location)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks?token=t1"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def run_consumer(client, bodies: list[dict[str, Any]]) -> dict[str, Any]:
    """Invoke the delivery consumer with these bodies, as one SQS event."""
    return client.lambda_.invoke(FUNCTION, sqs_event(bodies, delivery.QUEUE)).payload


def pump_webhooks(client) -> int:
    """Hand every record waiting on the delivery queue to its consumer, in one batch (as the
    batching window would); returns how many."""
    bodies = drain(delivery.QUEUE)
    if bodies:
        run_consumer(client, bodies)
    return len(bodies)
