"""``python -m chalicelib.local.moto_server``: moto's own server, recording only what persists.

moto's recorder writes down every request, and the local stack makes many reads (the pump
long-polls each queue; the API reads tokens on every call), so an idle stack would grow
the file by megabytes an hour. Here the recorder keeps only DynamoDB and S3 writes, the
same rule recording.compact applies at boot.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from moto.moto_api._internal.recorder.models import Recorder
from moto.server import main

from chalicelib.local.recording import is_persistent_write

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


if __name__ == "__main__":
    Recorder._record_request = _record_persistent_writes  # type: ignore[method-assign]
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    _fast_sqs_clock()
    _cached_service_list()
    main()
