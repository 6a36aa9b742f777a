"""The seams between automations and the capabilities whose services it calls.

Automations act on contacts (chalicelib/contacts) and send through the normal sending
pipeline (chalicelib/sending). Everything the action worker, the trigger endpoint and
activation need from them goes through the two objects below, so wiring a capability's
service is one edit here. Each method names the service function it stands for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass
class ContactView:
    id: str
    email: str
    # subscribed | unsubscribed | pending | bounced; "" when not read from contacts (a view
    # built from an event carries only id and email). Ask ``mailable`` before mailing.
    status: str = ""
    fields: dict[str, Any] = field(default_factory=dict)  # by merge tag
    list_ids: set[int] = field(default_factory=set)
    raw: Any = field(default=None, repr=False, compare=False)  # the owner's own record


class Contacts(Protocol):
    def get(self, account_id: int, contact_id: str | None = None, email: str | None = None) -> ContactView | None: ...
    def mailable(self, contact: ContactView) -> bool: ...
    def update_field(self, account_id: int, contact_id: str, name: str, value: Any) -> None: ...
    def unsubscribe(self, account_id: int, contact_id: str) -> None: ...
    def add_to_lists(self, account_id: int, contact_id: str, list_ids: list[int]) -> None: ...
    def remove_from_lists(self, account_id: int, contact_id: str, list_ids: list[int]) -> None: ...
    def missing(self, account_id: int, list_ids: set[int], fields: set[str]) -> dict[str, list[str]]: ...
    def check_conditions(self, account_id: int, group: dict[str, Any]) -> None: ...
    def matches(self, account_id: int, contact: ContactView, group: dict[str, Any]) -> bool: ...


class ContactsService:
    """chalicelib/contacts: its lookups, its update-or-create (the API's own rules and change
    events), its system status change for unsubscribes, and its segment grammar for splits.

    The action worker reads an account's field and list definitions for every step; it keeps
    them for a second (``VIEW_SECONDS``), so a batch of steps reads them once. Validation
    (activation, edits) always reads them fresh.
    """

    VIEW_SECONDS = 1.0

    def __init__(self) -> None:
        self._views: dict[int, tuple[float, Any]] = {}

    def _view(self, account_id: int) -> Any:
        import time

        from chalicelib.contacts import contacts

        now = time.monotonic()
        cached = self._views.get(int(account_id))
        if cached is None or now - cached[0] > self.VIEW_SECONDS:
            cached = (now, contacts.View.load(int(account_id)))
            self._views[int(account_id)] = cached
        return cached[1]

    def get(self, account_id: int, contact_id: str | None = None, email: str | None = None) -> ContactView | None:
        from chalicelib.contacts import contacts

        found = None
        if email:  # by email is a key lookup; by id goes through an index
            found = contacts.find(int(account_id), str(email))
            if found is not None and contact_id and found.contact_id != contact_id:
                found = None  # the email moved to another contact: look the contact up by id
        if found is None and contact_id:
            found = contacts.find(int(account_id), str(contact_id))
        if found is None:
            return None
        wire = self._view(account_id).wire(found)
        return ContactView(found.contact_id, found.email, found.status, dict(wire["fields"]),
                           {int(i) for i in wire["list_ids"]}, raw=found)

    @staticmethod
    def mailable(contact: ContactView) -> bool:
        """The contacts' ``mailable`` rule on the record ``get`` read; a view without one (built
        from an event) is not known to be mailable."""
        from chalicelib.contacts.common import mailable

        return contact.raw is not None and mailable(contact.raw)

    @staticmethod
    def _upsert(account_id: int, contact_id: str, body: dict[str, Any]) -> None:
        """Update by contact id. ``upsert_contact`` only creates for an unknown *email*; an
        unknown id raises NotFound, which the worker reports as "The contact no longer exists"."""
        from chalicelib.contacts import contacts
        from chalicelib.contacts.request_models import ContactUpdate
        from chalicelib.core.request_models import parse

        contacts.upsert_contact(int(account_id), contact_id, parse(ContactUpdate, body))

    def update_field(self, account_id: int, contact_id: str, name: str, value: Any) -> None:
        if name == "email":
            self._upsert(account_id, contact_id, {"email": value})
        else:
            self._upsert(account_id, contact_id, {"fields": {name: value}})

    def unsubscribe(self, account_id: int, contact_id: str) -> None:
        from chalicelib.contacts import status

        status.mark(int(account_id), contact_id, "unsubscribed", source="automation")

    def add_to_lists(self, account_id: int, contact_id: str, list_ids: list[int]) -> None:
        self._upsert(account_id, contact_id, {"list_ids_included": list(list_ids)})

    def remove_from_lists(self, account_id: int, contact_id: str, list_ids: list[int]) -> None:
        self._upsert(account_id, contact_id, {"list_ids_excluded": list(list_ids)})

    def missing(self, account_id: int, list_ids: set[int], fields: set[str]) -> dict[str, list[str]]:
        from chalicelib.contacts import fields as fields_mod
        from chalicelib.contacts import lists

        problems: dict[str, list[str]] = {}
        known_lists = lists.existing_ids(int(account_id))
        for list_id in sorted(set(list_ids) - known_lists):
            problems.setdefault("list_ids", []).append(f"list {list_id} does not exist")
        tags = fields_mod.schema(int(account_id)).by_tag
        for name in sorted(f for f in fields if f not in tags and f != "email"):
            problems.setdefault("field", []).append(f"field '{name}' does not exist")
        return problems

    @staticmethod
    def _normalise(account_id: int, group: dict[str, Any]) -> dict[str, Any]:
        from chalicelib.contacts import fields as fields_mod
        from chalicelib.contacts import lists, segments

        return segments.normalise(group, fields_mod.schema(int(account_id)), lists.existing_ids(int(account_id)))

    def check_conditions(self, account_id: int, group: dict[str, Any]) -> None:
        self._normalise(account_id, group)

    def matches(self, account_id: int, contact: ContactView, group: dict[str, Any]) -> bool:
        from chalicelib.contacts import segments

        view = self._view(account_id)
        return segments.matches(segments.normalise(group, view.schema, view.list_ids), contact.raw)


# The custom variable an automation's email carries: "<run id>:<step id>" (its idempotency key),
# which is how an open or click of it finds the step to count (counters.record_engagement).
STEP_MARKER = "automation_step"


class Sending(Protocol):
    def send(self, account_id: int, *, to: ContactView, template_id: Any, subject: str | None,
             from_email: str | None, from_name: str | None, variables: dict[str, Any],
             idempotency_key: str) -> str: ...
    def missing(self, account_id: int, templates: set[Any], senders: set[str]) -> dict[str, list[str]]: ...
    def engagement(self, account_id: int, message_ids: list[str]) -> dict[str, set[str]]: ...


class SendingPipeline:
    """Sends through chalicelib/sending exactly as an API client of the account would
    (``sending.service.send`` on the bulk stream: marketing mail, with unsubscribe links),
    so the message gets the same sender checks, rendering, suppressions, logs and SES path.
    """

    STREAM = "bulk"

    @staticmethod
    def _principal(account_id: int) -> Any:
        from chalicelib.core.permissions import ADMIN, Grant, Principal

        return Principal(int(account_id), 0, "automation", (Grant("account", int(account_id), ADMIN),))

    @staticmethod
    def _template(account_id: int, template_id: Any) -> Any:
        from chalicelib.templates import service as templates

        if isinstance(template_id, int):
            return templates.get_template(SendingPipeline._principal(account_id), template_id)
        return templates.get_template_by_uuid(account_id, template_id)

    def send(self, account_id: int, *, to: ContactView, template_id: Any, subject: str | None,
             from_email: str | None, from_name: str | None, variables: dict[str, Any],
             idempotency_key: str) -> str:
        from chalicelib.core.errors import NotFound, Unprocessable
        from chalicelib.sending import service as sending
        from chalicelib.sending.validation import SendError
        from chalicelib.templates import engine
        from chalicelib.templates import service as templates

        if not from_email:
            raise Unprocessable.field("from_email", "can't be blank: the step needs a From address")
        try:
            template = self._template(account_id, template_id)
        except NotFound:
            raise NotFound(f"template {template_id} does not exist (it may have been deleted)") from None
        sender: dict[str, Any] = {"email": from_email, **({"name": from_name} if from_name else {})}
        body: dict[str, Any] = {"from": sender, "to": [{"email": to.email}],
                                "custom_variables": {STEP_MARKER: idempotency_key}}
        if subject:  # a subject override: render here, send as plain content
            rendered = templates.render(template, variables)
            body.update(subject=engine.compile_template(subject, "subject").render(variables),
                        category=rendered.category or "automation")
            if rendered.html:
                body["html"] = rendered.html
            if rendered.text:
                body["text"] = rendered.text
        else:
            body.update(template_uuid=template.uuid, template_variables=variables)
        try:
            result = sending.send(self._principal(account_id), body, self.STREAM)
        except SendError as exc:
            if exc.status >= 500:
                raise
            raise Unprocessable("; ".join([*exc.errors, *([exc.detail] if exc.detail else [])])) from None
        return str(result["message_ids"][0])

    def engagement(self, account_id: int, message_ids: list[str]) -> dict[str, set[str]]:
        """Per message of the account: {"opened", "clicked"} as far as its email log knows."""
        from chalicelib.core.errors import NotFound
        from chalicelib.sending import email_logs

        out: dict[str, set[str]] = {}
        for message_id in message_ids:
            try:
                message = email_logs.get_message(self._principal(account_id), message_id)
            except NotFound:
                continue  # gone (retention): nothing seen
            out[message_id] = {name for name, count in (("opened", message.opens_count),
                                                         ("clicked", message.clicks_count)) if count}
        return out

    def missing(self, account_id: int, templates: set[Any], senders: set[str]) -> dict[str, list[str]]:
        from chalicelib.core.errors import Forbidden, NotFound
        from chalicelib.domains import service as domains

        problems: dict[str, list[str]] = {}
        for template_id in sorted(templates, key=str):
            try:
                self._template(account_id, template_id)
            except NotFound:
                problems.setdefault("template_id", []).append(f"template {template_id} does not exist")
        for address in sorted(senders):
            try:
                domains.sender_check(account_id, address, [])
            except Forbidden as exc:
                problems.setdefault("from_email", []).append(exc.message)
        return problems


contacts: Contacts = ContactsService()
sending: Sending = SendingPipeline()
