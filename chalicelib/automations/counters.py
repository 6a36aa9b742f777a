"""Per-step counters, added up over a batch of records and written once per step.

A queue consumer handles up to ten records per invocation; many of them count the same
step of the same automation. The buffer turns those into one UpdateItem ``ADD`` per
(automation, step) at the end of the batch. Counts are added only after the write that
makes a step done for its run, so a record retried after a crash is never counted twice
(a crash between that write and the flush loses its counts: stats are not a ledger).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from chalicelib.automations.models import StepStat


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
