"""``python -m local.moto_server``: moto's application, served by waitress, keeping what persists.

With ``--state FILE`` (local/recording.py describes the file) the server:
- journals each DynamoDB, S3 and SES write once recording is on: under one lock held from
  the journal line to the write's effect, so lines never interleave (moto's own recorder
  wrote each line in pieces, unlocked: concurrent long lines tore) and their order is the
  order the writes took effect; each line goes to the file in one write;
- answers ``/moto-api/postline/``: ``restore`` (load the file into the backends, in a
  thread; ``restore-progress`` says how far it is), ``record`` (start journaling) and
  ``snapshot`` (replace the file by a snapshot of the state, atomically, writes held).

moto's recorder stays off: it would write down every request, reads included.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import gc
import io
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from local import ses_events, snapshot
from local.recording import is_persistent_write, is_ses

log = logging.getLogger("postline.local.moto_server")
SERVER_THREADS = 64  # the pump long-polls each queue from a thread; API, SMTP, workers, Step Functions call too
CONTROL = "/moto-api/postline/"
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def _fast_sqs_clock() -> None:
    """moto's SQS works out every queue attribute on each SendMessage (to read one flag),
    counting visible/delayed/in-flight messages with a datetime-based clock per message:
    a send cost grew to several ms with a few dozen messages queued, ~1 ms per 10. The same
    milliseconds from ``time.time()`` make it ~30 times cheaper; AWS has no such cost."""
    import moto.sqs.models as sqs_models

    exact = sqs_models.unix_time_millis

    def unix_time_millis(dt: Any = None) -> float:
        return time.time() * 1000.0 if dt is None else exact(dt)

    sqs_models.unix_time_millis = unix_time_millis


def _item_size_checked_once() -> None:
    """moto measures the whole item again at each attribute it stores (LimitedSizeDict), so
    an item of n attributes costs n full measurements: most of a contact write's time, and
    of a journal's replay. The same 400 KB limit, measured once per item."""
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models import dynamo_type
    from moto.dynamodb.models.utilities import bytesize

    def init(self: Any, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
        self.hash_key, self.range_key = hash_key, range_key
        values = {name: dynamo_type.DynamoType(value) for name, value in attrs.items()}
        if sum(bytesize(name) + value.size() for name, value in values.items()) > 405000:  # moto's limit
            raise ItemSizeTooLarge
        self.attrs = dynamo_type.LimitedSizeDict.__new__(dynamo_type.LimitedSizeDict)
        dict.update(self.attrs, values)

    dynamo_type.Item.__init__ = init  # type: ignore[method-assign]


def _cached_service_list() -> None:
    """moto's server lists its own package directory (an isdir per entry, ~150 of them)
    on every request to find the service a Host names; the list can't change while it runs."""
    import moto.backends as moto_backends

    services = frozenset(moto_backends.list_of_moto_modules())
    moto_backends.list_of_moto_modules = lambda: services


def _fifo_groups_in_order() -> None:
    """moto counts a FIFO message group as in flight while any of its messages is on the
    in-flight list, even one whose visibility timeout has passed. When a batch returned
    after a failure times out together, a receive takes the first message off the list,
    finds the group still in flight because of the second, skips the first and delivers
    the second: out of order. SQS holds a group only while a message of it is really in
    flight (invisible), and the consumers rely on that order (docs/contact-events.md)."""
    import moto.sqs.models as sqs_models

    def in_flight_groups(queue: Any) -> set[str]:
        return {m.group_id for m in queue._pending_messages if m.group_id is not None and not m.visible}

    sqs_models.Queue.pending_message_groups = property(in_flight_groups)  # type: ignore[method-assign]


def _entry(environ: dict[str, Any]) -> dict[str, Any]:
    """A request as moto's recorder writes it, body not yet read."""
    from moto.core.request import Request
    from werkzeug.datastructures import EnvironHeaders

    return {"headers": dict(EnvironHeaders(environ)), "method": environ.get("REQUEST_METHOD", "GET"),
            "url": Request(environ, shallow=True).raw_url}


def _take_body(environ: dict[str, Any]) -> bytes:
    """Read the request body, leaving an unread copy for moto."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _with_body(entry: dict[str, Any], body: bytes) -> dict[str, Any]:
    try:
        return {**entry, "body": body.decode("utf-8"), "body_encoded": False}
    except UnicodeDecodeError:
        return {**entry, "body": base64.b64encode(body).decode("ascii"), "body_encoded": True}


def replay(app: WSGIApp, entry: dict[str, Any]) -> int:
    """Apply one journaled request through the application, in process; returns its status."""
    from werkzeug.test import EnvironBuilder

    body = entry.get("body") or ""
    data = base64.b64decode(body) if entry.get("body_encoded") else body.encode("utf-8")
    url = urlsplit(entry["url"])
    headers = {k: v for k, v in (entry.get("headers") or {}).items()
               if k.lower() not in ("host", "content-length", "transfer-encoding")}
    environ = EnvironBuilder(method=entry["method"], base_url=f"{url.scheme}://{url.netloc}", path=unquote(url.path),
                             query_string=url.query, headers=headers, data=data).get_environ()
    environ["RAW_URI"] = url.path + (f"?{url.query}" if url.query else "")  # what moto parses S3 keys from
    status: list[str] = []
    for _ in app(environ, lambda s, h, exc_info=None: status.append(s)):
        pass
    return int(status[0].split()[0]) if status else 0


class Persistence:
    """The state file of one server: journal, restore, snapshot (WSGI middleware)."""

    def __init__(self, app: WSGIApp, path: Path) -> None:
        self.app, self.path = app, path
        self.lock = threading.Lock()  # held by each journaled write, and by a snapshot
        self.recording = False
        self.ses_lines: list[str] = []  # SES's writes so far: each snapshot carries them over
        self.progress: dict[str, Any] = {"state": "idle"}
        self._fd: int | None = None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith(CONTROL):
            return self._control(path[len(CONTROL):], environ, start_response)
        if not self.recording:
            return self.app(environ, start_response)
        entry = _entry(environ)
        if not is_persistent_write(entry):
            return self.app(environ, start_response)
        entry = _with_body(entry, _take_body(environ))
        if not is_persistent_write(entry):  # an SES v1 read, known from its body
            return self.app(environ, start_response)
        line = json.dumps(entry)
        with self.lock:
            self._append(line)
            if is_ses(entry):
                self.ses_lines.append(line)
            return list(self.app(environ, start_response))  # takes effect before the next write starts

    def _append(self, line: str) -> None:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        data = (line + "\n").encode("utf-8")
        while data:  # one write for a line, unless the OS takes it in parts
            data = data[os.write(self._fd, data):]

    def _control(self, action: str, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        status, answer = "200 OK", dict(self.progress)
        # restore once, before journaling: a second load would apply the journal twice
        if action == "restore" and self.progress["state"] == "idle" and not self.recording:
            self.progress = answer = {"state": "running", "bytes": 0, "total": 0, "snapshot_bytes": 0,
                                      "items": 0, "objects": 0, "requests": 0}
            threading.Thread(target=self._restore, name="restore", daemon=True).start()
        elif action == "restore-progress":
            pass
        elif action == "record":
            self.recording, answer = True, {"recording": True}
        elif action == "snapshot" and self.progress["state"] == "done":  # never a partly loaded state
            answer = self.snapshot()
        else:
            status, answer = "409 Conflict", {"error": f"cannot {action} now", **answer}
        body = json.dumps(answer).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    def _restore(self) -> None:
        """Load the snapshot into the backends, then replay the journal after it, in file order."""
        progress, loaded = self.progress, snapshot.Loaded()
        started = time.monotonic()
        # Millions of new objects set the cycle collector off again and again, each pass over
        # all of them (half the load time); once loaded they live until they are deleted, so
        # they go to the collector's permanent generation.
        gc.disable()
        try:
            progress["total"] = self.path.stat().st_size if self.path.exists() else 0
            in_snapshot, failed, number = False, 0, 0
            with self.path.open("rb") if self.path.exists() else io.BytesIO() as src:
                for number, raw in enumerate(src, start=1):  # noqa: B007 (named when a line fails)
                    progress["bytes"] += len(raw)
                    if not raw.strip():
                        continue
                    doc = json.loads(raw)
                    kind = doc.get("snapshot")
                    if kind in ("begin", "end"):
                        in_snapshot = kind == "begin"
                        progress["snapshot_bytes"] = progress["bytes"]  # where the journal starts
                    elif kind:
                        snapshot.load(doc, loaded)
                        progress["items"], progress["objects"] = loaded.items, loaded.objects
                    else:
                        failed += replay(self.app, doc) >= 500
                        if is_ses(doc):
                            self.ses_lines.append(raw.decode("utf-8").rstrip("\n"))
                        if not in_snapshot:
                            progress["requests"] += 1
            progress.update(state="done", seconds=round(time.monotonic() - started, 2), failed=failed,
                            missing_tables=loaded.missing_tables)
        except Exception as exc:  # reported to the runtime, which stops the start
            log.exception("restoring %s failed", self.path)
            progress.update(state="failed", error=f"line {number} of {self.path}: {type(exc).__name__}: {exc}")
        finally:
            gc.freeze()
            gc.enable()

    def snapshot(self) -> dict[str, Any]:
        """Replace the file by the state as it is now; writes wait meanwhile."""
        tmp = self.path.with_name(self.path.name + ".tmp")
        started = time.monotonic()
        with self.lock:
            items = objects = 0
            with tmp.open("w", encoding="utf-8") as out:
                written_at = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
                out.write(json.dumps({"snapshot": "begin", "version": 1, "written_at": written_at}) + "\n")
                for line in self.ses_lines:
                    out.write(line + "\n")
                for doc in snapshot.dump():
                    items += len(doc.get("items", ()))
                    objects += doc["snapshot"] == "s3-object"
                    out.write(snapshot.encode(doc) + "\n")
                out.write(json.dumps({"snapshot": "end", "items": items, "objects": objects}) + "\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)  # atomic: a crash leaves the old file or the new one
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None  # the next write opens the new file
            size = self.path.stat().st_size
        return {"items": items, "objects": objects, "ses_requests": len(self.ses_lines), "bytes": size,
                "seconds": round(time.monotonic() - started, 2)}


def serve(host: str, port: int, state: Path | None = None) -> None:
    """moto's application behind waitress rather than werkzeug's development server, which
    closes the connection after every response: each AWS call then paid a TCP connect and a
    new server thread (an SQS SendMessageBatch took ~2.6 ms, ~2.2 ms kept alive). Waitress
    keeps connections alive and serves from a fixed pool of threads; a long poll holds
    one for its wait, so the pool is sized well above the local stack's pollers. Waitress
    drops request headers with "_" in their names (as werkzeug does; moto's own handler
    puts back the S3 metadata ones): Postline sends none."""
    import waitress
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    moto_app = DomainDispatcherApplication(create_backend_app)
    moto_app.debug = True  # as moto's server runs it: errors come back in the response
    app: WSGIApp = moto_app if state is None else Persistence(moto_app, state)
    logging.getLogger("waitress").setLevel(logging.ERROR)  # a "task queue depth" warning per burst
    waitress.serve(app, host=host, port=port, threads=SERVER_THREADS, connection_limit=1000,
                   asyncore_use_poll=True, ident="moto")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=int(os.environ.get("MOTO_PORT", 5000)))
    parser.add_argument("--state", type=Path, help="the state file to restore from and journal to")
    args = parser.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))  # Step Functions integrations call back to it
    # Every journal line is in the file once written (no buffers to flush), and freeing a large
    # state object by object took longer than the runtime waits for a stop
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    _fast_sqs_clock()
    _item_size_checked_once()
    _cached_service_list()
    _fifo_groups_in_order()
    ses_events.install()  # SES's event notifications, which moto does not publish
    serve(args.host, args.port, args.state)


if __name__ == "__main__":
    main()
