"""``python -m chalicelib.local.moto_server``: moto's application, served by waitress, recording only what persists.

moto's recorder writes down every request, and the local stack makes many reads (the pump
long-polls each queue; the API reads tokens on every call), so an idle stack would grow
the file by megabytes an hour. Here the recorder keeps only DynamoDB and S3 writes, the
same rule recording.compact applies at boot.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from typing import Any

from moto.moto_api._internal.recorder.models import Recorder

from chalicelib.local import ses_events
from chalicelib.local.recording import is_persistent_write

SERVER_THREADS = 64  # the pump long-polls each queue from a thread; API, SMTP, workers, Step Functions call too
_record_everything = Recorder._record_request


def _record_persistent_writes(self: Recorder, request: Any, body: bytes | None = None) -> None:
    entry = {"headers": dict(request.headers), "method": request.method, "url": request.raw_url}
    if is_persistent_write(entry):
        _record_everything(self, request, body)


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


def _cached_service_list() -> None:
    """moto's server lists its own package directory (an isdir per entry, ~150 of them)
    on every request to find the service a Host names; the list can't change while it runs."""
    import moto.backends as moto_backends

    services = frozenset(moto_backends.list_of_moto_modules())
    moto_backends.list_of_moto_modules = lambda: services


def serve(host: str, port: int) -> None:
    """moto's application behind waitress rather than werkzeug's development server, which
    closes the connection after every response: each AWS call then paid a TCP connect and a
    new server thread (an SQS SendMessageBatch took ~2.6 ms, ~2.2 ms kept alive). Waitress
    keeps connections alive and serves from a fixed pool of threads; a long poll holds
    one for its wait, so the pool is sized well above the local stack's pollers. Waitress
    drops request headers with "_" in their names (as werkzeug does; moto's own handler
    puts back the S3 metadata ones): Postline sends none."""
    import waitress
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    app = DomainDispatcherApplication(create_backend_app)
    app.debug = True  # as moto's server runs it: errors come back in the response
    logging.getLogger("waitress").setLevel(logging.ERROR)  # a "task queue depth" warning per burst
    waitress.serve(app, host=host, port=port, threads=SERVER_THREADS, connection_limit=1000,
                   asyncore_use_poll=True, ident="moto")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=int(os.environ.get("MOTO_PORT", 5000)))
    args = parser.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))  # Step Functions integrations call back to it
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    Recorder._record_request = _record_persistent_writes  # type: ignore[method-assign]
    _fast_sqs_clock()
    _cached_service_list()
    ses_events.install()  # SES's event notifications, which moto does not publish
    serve(args.host, args.port)


if __name__ == "__main__":
    main()
