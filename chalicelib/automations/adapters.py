"""The seams between automations and the capabilities whose services it calls.

Automations act on contacts (chalicelib/contacts) and send through the normal sending
pipeline (chalicelib/sending). Everything the action worker, the trigger endpoint and
activation need from them goes through the two objects below, so wiring a capability's
service is one edit here. Each method names the service function it stands for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


class CapabilityUnavailable(RuntimeError):
    """The capability a step needs is not part of this deployment (yet)."""


@dataclass
class ContactView:
    id: str
    email: str
    status: str = "subscribed"  # subscribed | unsubscribed | pending | bounced
    fields: dict[str, Any] = field(default_factory=dict)
    list_ids: set[int] = field(default_factory=set)


class Contacts(Protocol):
    def get(self, account_id: int, contact_id: str | None = None, email: str | None = None) -> ContactView | None: ...
    def update_field(self, account_id: int, contact_id: str, name: str, value: Any) -> None: ...
    def unsubscribe(self, account_id: int, contact_id: str) -> None: ...
    def add_to_lists(self, account_id: int, contact_id: str, list_ids: list[int]) -> None: ...
    def remove_from_lists(self, account_id: int, contact_id: str, list_ids: list[int]) -> None: ...
    def missing(self, account_id: int, list_ids: set[int], fields: set[str]) -> dict[str, list[str]]: ...


class Sending(Protocol):
    def send(self, account_id: int, *, to: ContactView, template_id: Any, subject: str | None,
             from_email: str | None, from_name: str | None, variables: dict[str, Any],
             idempotency_key: str) -> str: ...
    def missing(self, account_id: int, templates: set[Any], senders: set[str]) -> dict[str, list[str]]: ...


class _Unwired:
    """Stands in until the capability's branch is merged: every call says so plainly."""

    def __init__(self, capability: str) -> None:
        self.capability = capability

    def __getattr__(self, name: str) -> Any:
        if name == "missing":
            return lambda *args, **kwargs: {}
        def unavailable(*args: Any, **kwargs: Any) -> Any:
            raise CapabilityUnavailable(f"{self.capability} is not wired into automations yet")
        return unavailable


contacts: Contacts = _Unwired("contacts")  # type: ignore[assignment]
sending: Sending = _Unwired("sending")  # type: ignore[assignment]
