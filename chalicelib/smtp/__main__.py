"""``python -m chalicelib.smtp``: the SMTP ingress on its own (the ECS task's command).

It talks to AWS exactly as the Lambdas do (AWS_DEFAULT_REGION, POSTLINE_RESOURCE_PREFIX,
AWS_ENDPOINT_URL for an emulator); the listeners are configured by POSTLINE_SMTP_*.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading

from chalicelib.core.logs import configure_logging
from chalicelib.smtp import server


def main() -> int:
    configure_logging()
    handle = server.start()
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    ports = ", ".join(f"{s}{' (TLS)' if t else ''} {p}" for (s, t), p in sorted(handle.ports.items()))
    logging.getLogger("postline.smtp").info("SMTP ingress ready: %s", ports)
    done.wait()
    handle.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
