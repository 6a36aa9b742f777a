"""``python -m chalicelib.local.moto_server``: moto's own server, recording only what persists.

moto's recorder writes down every request, and the local stack makes many reads (the pump
long-polls each queue; the API reads tokens on every call), so an idle stack would grow
the file by megabytes an hour. Here the recorder keeps only DynamoDB and S3 writes, the
same rule recording.compact applies at boot.
"""

from __future__ import annotations

import logging
from typing import Any

from moto.moto_api._internal.recorder.models import Recorder
from moto.server import main

from chalicelib.local.recording import is_persistent_write

_record_everything = Recorder._record_request


def _record_persistent_writes(self: Recorder, request: Any, body: bytes | None = None) -> None:
    entry = {"headers": dict(request.headers), "method": request.method, "url": request.raw_url}
    if is_persistent_write(entry):
        _record_everything(self, request, body)


if __name__ == "__main__":
    Recorder._record_request = _record_persistent_writes  # type: ignore[method-assign]
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    main()
