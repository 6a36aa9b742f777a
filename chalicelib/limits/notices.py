"""Usage notices: the account owner hears once each when the month's usage reaches 80 %,
90 % and 100 % of the quota (seed: Sending Limits, "notifications at 80%, 90%, 100%").

The month's usage window records the notices sent (``notified``), and the counting update
returns it, so finding a notice due costs no extra read. A notice is claimed before it is
sent (a conditional ADD of its percentage), so concurrent workers send it once; if sending
fails the claim is given back and the next counted message tries again. Usage that jumps
past several thresholds at once sends only the highest.
"""

from __future__ import annotations

import logging
from datetime import datetime

from pynamodb.exceptions import UpdateError

from chalicelib.core import db
from chalicelib.limits.models import UsageWindow

log = logging.getLogger("postline.limits.notices")

PERCENTS = (80, 90, 100)


def due(limit: int, used: int, notified: set[int] | None) -> int | None:
    """The notice ``used`` calls for: the highest threshold reached, if above every notice
    already sent this cycle."""
    reached = [p for p in PERCENTS if p * limit <= used * 100]
    if not reached or reached[-1] <= max(notified or {0}):
        return None
    return reached[-1]


def render(percent: int, used: int, limit: int, cycle_end: datetime) -> dict[str, str]:
    renews = f"{cycle_end:%B} {cycle_end.day}, {cycle_end.year} (UTC)"
    if percent >= 100:
        subject = "Monthly messages limit reached"
        lead = (f"Your account has sent {limit:,} messages this billing cycle, its monthly limit. Until the "
                f"cycle renews on {renews}, new mail is refused: the API answers 403 and SMTP 535 5.7.0 "
                "Monthly messages limit reached.")
    else:
        subject = f"You have used {percent}% of your monthly sending limit"
        lead = (f"Your account has sent {used:,} of its {limit:,} messages this billing cycle ({percent}%). "
                f"The limit renews on {renews}; mail over it is refused until then.")
    text = f"Hello,\n\n{lead}\n\nTo raise the limit, ask your Postline operator to change your plan.\n"
    return {"subject": subject, "text": text}


def send_due(account_id: int, scope: str, month: str, limit: int, used: int, notified: set[int] | None,
             cycle_end: datetime) -> int | None:
    """Send the notice ``used`` calls for; return its percentage, or None if none was due or
    another worker sent it."""
    percent = due(limit, used, notified)
    if percent is None:
        return None
    window = UsageWindow(scope, month)
    try:
        window.update(actions=[UsageWindow.notified.add({percent})], condition=~UsageWindow.notified.contains(percent))
    except UpdateError as exc:
        if db.condition_failed(exc):
            return None  # another worker sent this one
        raise
    try:
        _deliver(account_id, render(percent, min(used, limit), limit, cycle_end))
    except Exception:
        log.exception("usage notice %d%% for account %s not sent; the next message retries", percent, account_id)
        window.update(actions=[UsageWindow.notified.delete({percent})])
        return None
    return percent


def _deliver(account_id: int, notice: dict[str, str]) -> None:
    from chalicelib.accounts import service as accounts
    from chalicelib.domains import system_mail

    owner = accounts.get_account(account_id).owner_email
    system_mail.send(owner, notice["subject"], notice["text"])
