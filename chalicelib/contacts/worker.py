"""Queue consumers and the schedule of the contacts capability (app.py wires them)."""

from __future__ import annotations

from typing import Any

from chalicelib.contacts import imports, outbox, tasks
from chalicelib.core import queues


def import_batch(event: Any) -> dict[str, list[dict[str, str]]]:
    """``contact-imports``: split an import into chunks, then create/update each chunk."""
    return queues.process_batch(event, imports.handle)


def task_batch(event: Any) -> dict[str, list[dict[str, str]]]:
    """``contact-tasks``: exports and clean-up after a field or list is deleted."""
    return queues.process_batch(event, tasks.handle)


def sweep_events() -> dict[str, int]:
    """Publish change events an API write could not publish (it crashed in between)."""
    return {"swept": outbox.sweep()}
