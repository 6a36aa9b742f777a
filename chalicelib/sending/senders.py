"""Who may send from which address: the domains capability decides, sending asks it once.

``domains.service.sender_check`` says whether the From address is on a verified, compliant
domain of the account (From Header Mismatch: the From domain must match a domain exactly);
the token must also be an admin of that domain (a domain grant or account admin). The
result is reduced to the few settings the pipeline needs, so nothing else in sending
depends on the domain model's shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.core.config import settings
from chalicelib.core.emails import valid_email
from chalicelib.core.errors import Forbidden
from chalicelib.core.permissions import ADMIN, Principal
from chalicelib.sending.validation import SendError, SendRequest


@dataclass(frozen=True)
class SenderDomain:
    domain_id: int
    domain_name: str
    configuration_set: str | None
    auto_bcc: tuple[str, ...] = ()
    auto_bcc_headers: tuple[tuple[str, str], ...] = ()
    auto_unsubscribe: bool = False  # transactional mail gets unsubscribe links too
    track_opens: bool = False  # an open pixel in HTML bodies (chalicelib/sending/tracking.py)
    track_clicks: bool = False  # links through the tracking host
    demo: bool = False


def configuration_set(stream: str) -> str:
    """The SES configuration set of a stream (infra/template.yaml): event destinations and IP pools."""
    return f"{settings().resource_prefix}{stream}"


def _reduce(domain: Any, stream: str) -> SenderDomain:
    headers = []
    for header in getattr(domain, "auto_bcc_headers", None) or []:
        name = header.get("name") if isinstance(header, dict) else getattr(header, "name", None)
        value = header.get("value") if isinstance(header, dict) else getattr(header, "value", None)
        if name and value is not None:
            headers.append((str(name), str(value)))
    bcc = tuple(e for e in (valid_email(a) for a in getattr(domain, "auto_bcc_emails", None) or []) if e)
    return SenderDomain(
        domain_id=int(domain.domain_id),
        domain_name=str(domain.domain_name),
        configuration_set=getattr(domain, "configuration_set", None) or configuration_set(stream),
        auto_bcc=bcc,
        auto_bcc_headers=tuple(headers),
        auto_unsubscribe=bool(getattr(domain, "auto_unsubscribe_link_enabled", False)),
        track_opens=bool(getattr(domain, "open_tracking_enabled", False)),
        track_clicks=bool(getattr(domain, "click_tracking_enabled", False)),
        demo=bool(getattr(domain, "demo", False)),
    )


class SenderResolver:
    """Resolves senders for one API call; a batch from one address asks the domains service once."""

    def __init__(self, principal: Principal, stream: str) -> None:
        self.principal = principal
        self.stream = stream
        self._by_address: dict[str, SenderDomain] = {}

    def resolve(self, request: SendRequest) -> SenderDomain:
        return self._resolve(request.sender.email, [address.email for _, address in request.recipients()])

    def problem(self, address: str) -> str | None:
        """Why the token may not send from this address (None: it may), before the recipients
        are known: the SMTP ingress asks at MAIL FROM."""
        try:
            self._resolve(address, [])
        except SendError as exc:
            return exc.detail or "; ".join(exc.errors)
        return None

    def _resolve(self, address: str, recipients: list[str]) -> SenderDomain:
        key = address.lower()
        sender = self._by_address.get(key)
        if sender is None or sender.demo:  # the demo domain's answer depends on the recipients
            sender = self._check(address, recipients)
            self._by_address[key] = sender
        if not self.principal.can(ADMIN, "domain", sender.domain_id):
            raise SendError(403, ["Forbidden"], detail=(
                f"The API token needs admin access to the sending domain {sender.domain_name} "
                "(a domain admin permission or account admin)"))
        return sender

    def _check(self, address: str, recipients: list[str]) -> SenderDomain:
        from chalicelib.domains import service as domains  # the domains capability owns the rule

        try:
            domain = domains.sender_check(self.principal.account_id, address, recipients)
        except Forbidden as exc:
            raise SendError(403, ["Forbidden"], detail=exc.message) from None
        return _reduce(domain, self.stream)
