"""Re-drive hooks: how queued work is rebuilt when the local stack restarts.

The local stack keeps DynamoDB and S3 across restarts but not SQS or Step Functions
(local/recording.py says why). A capability whose work sits in queues between
steps registers a hook that re-enqueues it from its own tables (for example, imports
still running), or settles what can't be rebuilt (queued mail whose content travelled in
the lost queue message ends failed, saying so). The local runtime calls every hook once at
boot, after the tables are back; workers are idempotent, so a hook may re-send work that
already ran. In AWS nothing calls these: queues are durable there.

    @redrive.register("contacts")
    def requeue_unfinished_jobs() -> int:
        ...  # returns how many items it re-enqueued or settled
"""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger("postline.redrive")

Hook = Callable[[], "int | None"]
_hooks: dict[str, Hook] = {}


def register(name: str) -> Callable[[Hook], Hook]:
    """Register ``hook`` under ``name`` (one per capability; re-registering replaces it)."""
    def decorate(hook: Hook) -> Hook:
        _hooks[name] = hook
        return hook
    return decorate


def hooks() -> dict[str, Hook]:
    return dict(_hooks)


def run_all() -> list[str]:
    """Run every hook once; returns the names of those that failed (logged, not raised, so
    one broken hook does not keep the rest of the stack from starting)."""
    failed = []
    for name, hook in _hooks.items():
        try:
            count = hook()
        except Exception:
            log.exception("re-drive %s failed; its queued work was not restored", name)
            failed.append(name)
        else:
            log.info("re-drive %s: %s item(s) re-enqueued or settled", name, "some" if count is None else count)
    return failed
