"""Moving time for throttled mail: the clock module and the emulated SQS delays together.

A dispatch over its rate goes back on its queue with DelaySeconds. moto holds such a message
until that much real time has passed; ``advance`` moves Postline's clock and shortens every
pending SQS delay by the same amount, so the pump sees what AWS would show after that time.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.core import clock
from chalicelib.core.config import settings


def _queues() -> list[Any]:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sqs.models import sqs_backends

    return list(sqs_backends[DEFAULT_ACCOUNT_ID][settings().region].queues.values())


def delayed(queue_name: str) -> list[tuple[float, dict[str, Any]]]:
    """(seconds still to wait, body) of each message held back on one of Postline's queues."""
    from moto.core.utils import unix_time_millis

    now = unix_time_millis()
    full = settings().queue_name(queue_name)
    return [((m.delayed_until - now) / 1000, json.loads(m.body))
            for q in _queues() if q.name == full for m in list(q._messages) if m.delayed]


def advance(delta: timedelta) -> None:
    clock.advance(delta)
    shift = delta.total_seconds() * 1000
    for queue in _queues():
        for message in list(queue._messages):
            if message.delayed_until:
                message.delayed_until -= shift


def start_of_next_hour(extra: timedelta = timedelta(seconds=5)) -> None:
    """Move the clock to just after the next full hour, so a test's windows don't roll over."""
    now = clock.now()
    target = (now + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0, tzinfo=UTC)
    advance(target - now + extra)


def utc(dt: datetime) -> datetime:
    return dt.astimezone(UTC)


def delivered_to(address: str) -> int:
    """How many messages SES was asked to deliver to this envelope recipient (moto lists the
    Destination first, then every To/Cc of the headers)."""
    from tests.sending_support import ses_outbox

    return sum(1 for item in ses_outbox()  # raw messages only: simple ones are Postline's own mail
               if hasattr(item, "raw_data") and item.destinations and item.destinations[0].lower() == address.lower())
