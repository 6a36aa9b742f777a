"""Queue consumers of the domains capability (Lambda and the local event pump alike)."""

from __future__ import annotations

from typing import Any

from chalicelib.core import queues
from chalicelib.domains import instructions, verification


def check_domains(event: Any) -> dict[str, list[dict[str, str]]]:
    """``domain-checks``: one DNS re-check per message."""
    return queues.process_batch(event, verification.handle_check)


def render_setup_instructions(event: Any) -> dict[str, list[dict[str, str]]]:
    """``setup-instructions``: render each requested instructions email for delivery."""
    return queues.process_batch(event, instructions.handle)
