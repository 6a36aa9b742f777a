"""The REST API on 127.0.0.1, served by chalice's own local gateway (authorizers, CORS,
binary bodies behave as in `chalice local`), with three changes:

- listen backlog 128 (http.server's 5 drops SYNs under a burst; each costs a 1 s retry);
- Nagle off (headers and body are written apart; keep-alive stalls on delayed ACKs);
- an unknown route answers 404 {"error": "Not Found"} like every other Postline 404,
  instead of API Gateway's 403 "Missing Authentication Token" (infra does the same in AWS).

Measurements behind the first two: stack-probe-2 §4.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from socketserver import ThreadingMixIn
from typing import Any

from chalice import local as chalice_local
from chalice.app import Chalice
from chalice.config import Config

NOT_FOUND_BODY = json.dumps({"error": "Not Found"}).encode()


class NotFoundError(chalice_local.LocalGatewayException):
    CODE = 404


class PostlineGateway(chalice_local.LocalGateway):
    def _generate_lambda_event(self, method: str, path: str, headers: Any, body: bytes | None) -> Any:
        try:
            return super()._generate_lambda_event(method, path, headers, body)
        except ValueError:  # no route matches this path
            raise NotFoundError({"Content-Type": "application/json"}, NOT_FOUND_BODY) from None


class RequestHandler(chalice_local.ChaliceRequestHandler):
    disable_nagle_algorithm = True

    def __init__(self, request: Any, client_address: Any, server: HTTPServer, app_object: Chalice,
                 config: Config) -> None:
        # The parent builds its gateway and then serves the request inside __init__.
        self.local_gateway = PostlineGateway(app_object, config)
        BaseHTTPRequestHandler.__init__(self, request, client_address, server)

    def _counted_handle(self) -> None:
        """One request, counted while it is answered (an idle keep-alive connection is not)."""
        with self.server.requests_lock:
            self.server.in_flight += 1
        try:
            self._generic_handle()
        finally:
            with self.server.requests_lock:
                self.server.in_flight -= 1

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _counted_handle

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the stdlib's name)
        pass  # one line per request on stderr drowns the banner; the app logs what matters


class ThreadedServer(ThreadingMixIn, HTTPServer):
    daemon_threads = True
    request_queue_size = 128
    allow_reuse_address = True
    in_flight = 0  # requests being answered (stop waits for them)
    requests_lock = threading.Lock()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hung up before its response is not the server's error.
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


class ApiServer:
    """The API in a background thread; ``stop`` returns once it no longer accepts requests."""

    def __init__(self, app: Chalice, config: Config, host: str, port: int) -> None:
        if not isinstance(app, chalice_local.LocalChalice):
            # Makes app.current_request thread-local, as `chalice local` does.
            chalice_local.CustomLocalChalice.__bases__ = (chalice_local.LocalChalice, app.__class__)
            app.__class__ = chalice_local.CustomLocalChalice
        self._server = chalice_local.LocalDevServer(app, config, host, port, handler_cls=RequestHandler,
                                                    server_cls=ThreadedServer)
        # A short poll interval: shutdown() waits for the loop to notice it.
        self._thread = threading.Thread(target=self._server.server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="api", daemon=True)

    def start(self) -> ApiServer:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting; requests being answered get up to ``timeout`` seconds to finish."""
        deadline = time.monotonic() + timeout
        self._server.shutdown()
        self._server.server.server_close()
        self._thread.join(max(0.0, deadline - time.monotonic()))
        while self.running() and time.monotonic() < deadline:
            time.sleep(0.05)

    def running(self) -> list[str]:
        n = self._server.server.in_flight
        return [f"{n} API request(s)"] if n else []
