"""Queue consumers and the schedule of the contacts capability (app.py wires them), and what
it does when sending reports a hard bounce."""

from __future__ import annotations

from typing import Any

from chalicelib.contacts import exports, imports, outbox, status, tasks
from chalicelib.contacts.models import ExportJob, ImportJob
from chalicelib.core import deadletters, queues, redrive
from chalicelib.core.errors import NotFound
from chalicelib.sending import hooks


def import_batch(event: Any) -> dict[str, list[dict[str, str]]]:
    """``contact-imports``: split an import into chunks, then create/update each chunk."""
    return queues.process_batch(event, imports.handle)


def task_batch(event: Any) -> dict[str, list[dict[str, str]]]:
    """``contact-tasks``: exports and clean-up after a field or list is deleted."""
    return queues.process_batch(event, run_task)


def run_task(body: dict[str, Any]) -> None:
    """One ``contact-tasks`` message: an export, or a deleted field's or list's clean-up."""
    kind = body.get("kind")
    if kind == "export":
        exports.run(int(body["account_id"]), int(body["export_id"]))
    elif kind == "purge_field":
        tasks.purge_field(int(body["account_id"]), int(body["field_id"]))
    elif kind == "purge_list":
        tasks.purge_list(int(body["account_id"]), int(body["list_id"]))
    else:
        raise ValueError(f"unknown contact task {kind!r}")


def sweep_events() -> dict[str, int]:
    """Publish change events an API write could not publish (it crashed in between)."""
    return {"swept": outbox.sweep()}


@hooks.on_hard_bounce("contacts")
def mark_bounced(account_id: int, email: str) -> None:
    """A marketing message to ``email`` hard-bounced (sending's events worker tells): the
    contact, if there is one, becomes ``bounced`` (``status.mark`` keeps an unsubscribed
    contact unsubscribed)."""
    try:
        status.mark(int(account_id), email, "bounced", source="bounce")
    except NotFound:
        pass  # not a contact of the account: nothing to mark


@deadletters.register(imports.QUEUE)
def settle_dead_import(letter: deadletters.DeadLetter) -> str:
    """A split or chunk its worker could never process: the import ends failed with the error."""
    account_id, import_id = int(letter.body["account_id"]), int(letter.body["import_id"])
    part = "splitting" if letter.body.get("kind") == "split" else f"chunk {int(letter.body['chunk'])}"
    try:
        ended = imports.fail(account_id, import_id, letter.reason(f"{part} could not be processed"))
    except NotFound:
        return f"import {import_id} of account {account_id} no longer exists"
    return f"import {import_id} of account {account_id} {'failed' if ended else 'had already ended'}"


@deadletters.register(tasks.QUEUE)
def settle_dead_contact_task(letter: deadletters.DeadLetter) -> str:
    """An export ends failed with the error. A field's or list's clean-up has no owner left
    (the field or list is deleted): it is logged and dropped, the stale values stay unused."""
    body = letter.body
    if body.get("kind") != "export":
        return f"contact task {body.get('kind')!r} of account {int(body['account_id'])} dropped"
    account_id, export_id = int(body["account_id"]), int(body["export_id"])
    try:
        ended = exports.fail(account_id, export_id, letter.reason("could not be made"))
    except NotFound:
        return f"export {export_id} of account {account_id} no longer exists"
    return f"export {export_id} of account {account_id} {'failed' if ended else 'had already ended'}"


@deadletters.register(outbox.QUEUE)
def settle_dead_events(letter: deadletters.DeadLetter) -> str:
    """Change events their consumer (the automations' trigger matcher) could never handle, or
    that waited behind one in their FIFO group: nothing owns them, so they are logged by id
    and dropped (the contacts themselves are unchanged; automations they would have started
    are not started)."""
    events = letter.body.get("events")
    ids = [str(e.get("id")) for e in events if isinstance(e, dict)] if isinstance(events, list) else []
    why = letter.error or "not tried: an earlier message of its account failed"
    return f"{len(ids)} contact event(s) dropped ({', '.join(ids[:20])}{', ...' if len(ids) > 20 else ''}): {why}"


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
