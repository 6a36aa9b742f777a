"""Queue consumers and the schedule of the contacts capability (app.py wires them)."""

from __future__ import annotations

from typing import Any

from chalicelib.contacts import imports, outbox, tasks
from chalicelib.contacts.models import ExportJob, ImportJob
from chalicelib.core import queues, redrive


def import_batch(event: Any) -> dict[str, list[dict[str, str]]]:
    """``contact-imports``: split an import into chunks, then create/update each chunk."""
    return queues.process_batch(event, imports.handle)


def task_batch(event: Any) -> dict[str, list[dict[str, str]]]:
    """``contact-tasks``: exports and clean-up after a field or list is deleted."""
    return queues.process_batch(event, tasks.handle)


def sweep_events() -> dict[str, int]:
    """Publish change events an API write could not publish (it crashed in between)."""
    return {"swept": outbox.sweep()}


@redrive.register("contacts")
def requeue_unfinished_jobs() -> int:
    """Local stack restart: re-send the messages of imports and exports still running
    (workers are idempotent; a chunk already counted is skipped)."""
    sent = 0
    for job in ImportJob.scan(ImportJob.status.is_in("created", "started")):
        ref = {"account_id": int(job.account_id), "import_id": int(job.import_id)}
        if job.chunks_total is None:
            queues.send(imports.QUEUE, {"kind": "split", **ref})
            sent += 1
            continue
        done = job.chunks_done or set()
        pending = [{"kind": "chunk", **ref, "chunk": k} for k in range(int(job.chunks_total)) if k not in done]
        queues.send_many(imports.QUEUE, pending)
        sent += len(pending)
    for export in ExportJob.scan(ExportJob.status.is_in("created", "started")):
        tasks.enqueue({"kind": "export", "account_id": int(export.account_id), "export_id": int(export.export_id)})
        sent += 1
    return sent
