"""Logging: one setup for Lambda and the local stack, one line per invocation, no secrets.

- ``configure_logging``: in Lambda (AWS_LAMBDA_FUNCTION_NAME set) or with
  POSTLINE_LOG_FORMAT=json every line is one JSON object (CloudWatch Logs Insights reads its
  fields); elsewhere a plain text line. Either way each line carries the invocation's
  request id and account id (once known) and token values are redacted.
- ``log_invocation``: Chalice middleware for every event type (app.py registers it): one
  line per API request (method, path, status, ms), per queue batch (consumer, records,
  outcome) and per schedule run. Never a request or message body, never a return value of
  a plain Lambda function (the bootstrap function returns a token).
- ``bind``: adds a field (``account_id``) to every later line of this invocation.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from chalice.app import CloudWatchEvent, Request, SQSEvent

log = logging.getLogger("postline.invocations")

_SECRET = re.compile(r"(?i)(bearer\s+|api-token[\"']?\s*[:=]\s*[\"']?|password[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]+")
_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# The invocation's fields; a new thread (one per local API request) starts with none.
_fields: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("postline_log_fields", default=None)


def redact(text: str) -> str:
    return _SECRET.sub(r"\1[redacted]", text)


def bind(**fields: Any) -> None:
    """Put ``fields`` on every later log line of the current invocation."""
    _fields.set({**(_fields.get() or {}), **fields})


def _start_invocation(request_id: str | None, function: str | None) -> None:
    _fields.set({"request_id": request_id, "function": function})


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


class InvocationFields(logging.Filter):
    """Copies the invocation's request id, account id and function onto each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = _fields.get() or {}
        for name in ("request_id", "account_id", "function"):
            if not hasattr(record, name):
                setattr(record, name, fields.get(name))
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
            "account_id": getattr(record, "account_id", None),
            "function": getattr(record, "function", None),
        }
        event = getattr(record, "event", None)
        if isinstance(event, dict):
            line.update(event)
        if record.exc_info:
            line["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(line, default=str)


def json_lines() -> bool:
    return bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME")) or os.environ.get("POSTLINE_LOG_FORMAT") == "json"


def prepare(handler: logging.Handler, as_json: bool) -> logging.Handler:
    """Postline's format and filters on ``handler``."""
    handler.setFormatter(JsonFormatter() if as_json else logging.Formatter(_TEXT_FORMAT))
    for kind in (InvocationFields, RedactSecrets):
        if not any(isinstance(f, kind) for f in handler.filters):
            handler.addFilter(kind())
    return handler


def configure_logging(level: int = logging.INFO) -> None:
    root = logging.getLogger()
    if not root.handlers:  # Lambda's runtime installs its own handler; keep it, reformat it
        root.addHandler(logging.StreamHandler())
    for handler in root.handlers:
        prepare(handler, json_lines())
    root.setLevel(level)
    for noisy in ("botocore", "urllib3", "pynamodb", "werkzeug"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


def log_invocation(event: Any, get_response: Callable[[Any], Any]) -> Any:
    """Chalice middleware ('all'): the invocation's fields, then one line once it is done."""
    started = time.perf_counter()
    if isinstance(event, Request):
        return _http(event, get_response, started)
    context = event.context
    function = getattr(context, "function_name", None)
    _start_invocation(getattr(context, "aws_request_id", None), function)
    name = (function or "").rsplit("-", 1)[-1] if function else "function"
    if isinstance(event, SQSEvent):
        records = len(event.to_dict().get("Records") or [])
        try:
            result = get_response(event)
        except Exception:
            log.error("queue %s: %d records, raised (all return to the queue), %d ms", name, records, _ms(started),
                      extra={"event": {"kind": "queue", "records": records, "outcome": "raised"}})
            raise
        bind(account_id=None)  # the batch line is about every record, not the last one's account
        failed = len((result or {}).get("batchItemFailures") or []) if isinstance(result, dict) else 0
        outcome = f"{failed} failed" if failed else "ok"
        (log.warning if failed else log.info)(
            "queue %s: %d records, %s, %d ms", name, records, outcome, _ms(started),
            extra={"event": {"kind": "queue", "records": records, "failed": failed, "duration_ms": _ms(started)}})
        return result
    kind = "schedule" if isinstance(event, CloudWatchEvent) else "function"
    try:
        result = get_response(event)
    except Exception:
        log.error("%s %s: raised, %d ms", kind, name, _ms(started),
                  extra={"event": {"kind": kind, "outcome": "raised"}})
        raise
    # A schedule's result is a small summary ({"purged": 3}); a plain function's is never logged.
    summary = f" {json.dumps(result, default=str)}" if kind == "schedule" and isinstance(result, dict) else ""
    log.info("%s %s: done%s, %d ms", kind, name, summary, _ms(started),
             extra={"event": {"kind": kind, "outcome": "ok", "duration_ms": _ms(started)}})
    return result


def _http(request: Request, get_response: Callable[[Any], Any], started: float) -> Any:
    context = request.context or {}
    lambda_context = request.lambda_context
    # The local API has no request id of its own: make one, so every line still has one.
    _start_invocation(context.get("requestId") or getattr(lambda_context, "aws_request_id", None)
                      or uuid.uuid4().hex, getattr(lambda_context, "function_name", None))
    path = str(context.get("path") or request.path).split("?", 1)[0]
    status = 500
    try:
        response = get_response(request)
        status = int(getattr(response, "status_code", 200))
        return response
    finally:
        ms = _ms(started)
        (log.warning if status >= 500 else log.info)(
            "%s %s %d %d ms", request.method, path, status, ms,
            extra={"event": {"kind": "http", "method": request.method, "path": path, "status": status,
                             "duration_ms": ms}})
