"""Dead letters: what a record that its consumer could never process means for its owner.

Every queue has a DLQ (infra/template.yaml) and every DLQ a consumer (app.py), which runs
``settle``: per record it finds the queue the record came from and calls the handler that
queue's capability registered, with the record's body and the last error it raised
(core/queues.RecordFailure). The handler ends the owning record with a reason a person can
read (a message ``failed`` "could not be built: ...", an import ``failed`` with its error)
or, where nothing owns the record, says so; either way the record leaves the DLQ, logged by
ids only (never a body). A handler that raises leaves the record in the DLQ for a retry.

    @deadletters.register(QUEUE)
    def settle_dead_job(letter: deadletters.DeadLetter) -> str:
        ...  # end the owner with letter.reason("could not be processed"); say what was done
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.core import queues
from chalicelib.core.config import settings

log = logging.getLogger("postline.deadletters")
UNKNOWN_ERROR = "it failed every attempt (the error was not recorded)"


@dataclass(frozen=True)
class DeadLetter:
    queue: str  # the short name of the queue it died on
    message_id: str
    body: dict[str, Any]
    error: str | None  # the last error it raised in its consumer (queues.describe), if known

    def reason(self, what: str) -> str:
        """``"<what>: <the error>"``, or as much as is known when the error was not kept."""
        return f"{what}: {self.error or UNKNOWN_ERROR}"


Handler = Callable[[DeadLetter], str]
_handlers: dict[str, Handler] = {}


def register(*names: str) -> Callable[[Handler], Handler]:
    """Make ``handler`` settle the dead letters of the queues ``names`` (short names).
    It returns what it did, for the log line."""
    def decorate(handler: Handler) -> Handler:
        for name in names:
            _handlers[name] = handler
        return handler
    return decorate


def handlers() -> dict[str, Handler]:
    return dict(_handlers)


def dead_letter_queue(name: str) -> str:
    """The DLQ of queue ``name`` (short or full): ``<name>-dlq``, ``.fifo`` kept last."""
    if name.endswith(".fifo"):
        return name.removesuffix(".fifo") + "-dlq.fifo"
    return name + "-dlq"


def _origin(dlq: str) -> str | None:
    """The short name of the queue whose DLQ is ``dlq`` (a full or short name)."""
    for short in queues.QUEUES:
        if dlq in (dead_letter_queue(short), dead_letter_queue(settings().queue_name(short))):
            return short
    return None


def settle(event: Any) -> dict[str, list[dict[str, str]]]:
    """The consumer of every DLQ: settle each record (see the module docstring)."""
    return queues.process_records(event, _settle)


def _settle(record: dict[str, Any]) -> None:
    message_id = record["messageId"]
    dlq = queues.source_queue(record)
    origin = _origin(dlq)
    handler = _handlers.get(origin or "")
    try:
        body = json.loads(record.get("body") or "")
    except ValueError:
        body = None
    if handler is None or not isinstance(body, dict):
        log.error("dead letter %s in %s dropped: %s", message_id, dlq,
                  "no handler is registered for its queue" if handler is None else "its body is not a JSON object")
        return
    letter = DeadLetter(queue=origin or dlq, message_id=message_id, body=body,
                        error=queues.last_error(message_id))
    try:
        outcome = handler(letter)
    except (KeyError, TypeError, ValueError) as exc:  # a body its capability can't read: nothing owns it
        log.error("dead letter %s from %s dropped: its body does not name an owner (%s)",
                  message_id, origin, type(exc).__name__)
        return
    log.warning("dead letter %s from %s settled: %s (%s)", message_id, origin, outcome,
                letter.error or "error unknown")
