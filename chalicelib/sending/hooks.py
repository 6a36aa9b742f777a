"""Decisions the delivery worker asks other capabilities for, each behind one named function.

- ``suppressions_check``: may this recipient get mail from this domain on this stream?
  Until the suppressions capability exists it knows only the opt-outs recorded by this
  capability's unsubscribe links; that capability will add bounces, complaints and manual
  entries here.
- ``sending_delay``: how long a dispatch must wait for the account's or domain's sending
  rate (seed: Sending Limits; over the hourly rate mail is queued, never dropped). Until
  sending limits exist nothing waits.
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.sending import unsubscribe


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str | None = None


ALLOWED = Verdict(True)


def suppressions_check(account_id: int, domain_id: int, stream: str, emails: list[str]) -> dict[str, Verdict]:
    """A verdict per address (lower case) for one domain and stream, asked once per dispatch."""
    blocked = unsubscribe.opted_out(account_id, domain_id, stream, emails)
    refused = Verdict(False, "Recipient in suppression list. Reason: unsubscription")
    return {e.lower(): refused if e.lower() in blocked else ALLOWED for e in emails}


def sending_delay(account_id: int, domain_id: int, stream: str, count: int) -> int:
    """Seconds to wait before ``count`` more messages may go out (0: now)."""
    return 0
