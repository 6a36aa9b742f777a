"""Automations: trigger-based sequences of steps, each activated version a Step Functions workflow."""

# Contacts refuse to delete a field or list an automation uses: registered on import, so
# whichever entry point loads automations has the check (see usage.py).
from chalicelib.automations import usage  # noqa: F401
