"""Per-step counters, added up over a batch of records and written once per step.

A queue consumer handles up to ten records per invocation; many of them count the same
step of the same automation. The buffer turns those into one UpdateItem ``ADD`` per
(automation, step) at the end of the batch. Counts are added only after the write that
makes a step done for its run, so a record retried after a crash is never counted twice
(a crash between that write and the flush loses its counts: stats are not a ledger).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from typing import Any

from chalicelib.automations.models import StepStat, automation_key


class StatsBuffer:
    def __init__(self) -> None:
        self._counts: dict[tuple[str, int], Counter[str]] = defaultdict(Counter)

    def add(self, automation_key: str, step_id: int, name: str, amount: int = 1) -> None:
        self._counts[(automation_key, int(step_id))][name] += amount

    def flush(self) -> None:
        counts, self._counts = self._counts, defaultdict(Counter)
        for (key, step_id), named in counts.items():
            actions = [getattr(StepStat, name).add(n) for name, n in named.items() if n]
            if actions:
                StepStat(key, step_id).update(actions=actions)


RUN_ENDINGS = ("completed", "failed", "removed")


def run_counts(row: StepStat | None) -> dict[str, Any]:
    """The run-level counters of an automation from its step-0 row (None: no runs yet):
    enrolled, and runs running/completed/failed/removed (running = enrolled - ended)."""
    enrolled = int(row.enrolled) if row else 0
    ended = {k: int(getattr(row, f"runs_{k}")) if row else 0 for k in RUN_ENDINGS}
    return {"enrolled": enrolled, "runs": {"running": max(0, enrolled - sum(ended.values())), **ended}}


# An automation email's marker (adapters.STEP_MARKER): "<run id>:<step id>", the run id being
# the execution name "a<automation id>-v<version>-<contact>-d<day>" (enrollment.execution_name).
_MARKER = re.compile(r"^a(\d+)-v\d+-.+:(\d+)$")
ENGAGEMENT_COUNTERS = {"open": "opens", "click": "clicks"}


def record_engagement(account_id: int, marker: Any, event_type: str) -> bool:
    """The first open or click of an automation's email: one more for its step (the caller
    calls once per message, so the counts are unique). False if ``marker`` names no step."""
    found = _MARKER.match(marker) if isinstance(marker, str) else None
    name = ENGAGEMENT_COUNTERS.get(event_type)
    if found is None or name is None:
        return False
    key = automation_key(int(account_id), int(found.group(1)))
    StepStat(key, int(found.group(2))).update(actions=[getattr(StepStat, name).add(1)])
    return True
