"""SES event publishing, emulated: moto accepts SendEmail but publishes no events.

``install()`` wraps moto's SESv2 SendEmail (in whichever process moto runs: the local
emulator, or the test process): after each accepted send with a configuration set, it puts
SES's own event JSON (``Send``, then what the recipient address asks for) on the queue the
configuration set's event destination feeds in AWS (``<prefix>ses-events`` beside the
``<prefix><stream>`` configuration set; infra/template.yaml), delayed a moment as SES's
are. The events worker reads them exactly as it reads SES's.

What happens follows SES's mailbox simulator (``@simulator.amazonses.com``), plus
addresses of Postline's own for soft bounces and each bounce category:

| recipient | events |
|---|---|
| ``success@`` | Delivery |
| ``bounce@`` | Bounce, Permanent/General, 550 5.1.1 (``badrecipient``: suppressed) |
| ``ooto@`` | Delivery (the out-of-office reply goes to the sender; it is not an event) |
| ``complaint@`` | Delivery, then Complaint (``abuse``) |
| ``suppressionlist@`` | Bounce, Permanent/OnAccountSuppressionList |
| ``bounce+<category>@`` | Bounce whose diagnostic is ``<category>``'s (Permanent for 5xx samples, else Transient) |
| ``softbounce+<category>@`` | DeliveryDelay with ``<category>``'s diagnostic, then Delivery |
| ``softfail+<category>@`` | DeliveryDelay, then a Transient Bounce: SES gave up |
| any other address | Delivery |
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import functools
import json
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

log = logging.getLogger("postline.local.ses_events")

SIMULATOR = "simulator.amazonses.com"
QUEUE_SUFFIX = "ses-events"
DEDICATED = "dedicated-"
STREAM_SUFFIXES = ("transactional", "bulk")  # configuration sets are "<prefix><stream>"
DELAY_SECONDS = 1  # SES publishes after the send returns; the delivery worker records it first
MESSAGE_TAG = "postline-message-id"

# One diagnostic per bounce category (seed-C §2.2), as receiving servers word them.
CATEGORY_SAMPLES: dict[str, tuple[str, str]] = {
    "transientfail": ("4.0.0", "smtp; 450 4.0.0 Temporary failure, try again"),
    "greylisting": ("4.7.1", "smtp; 451 4.7.1 Greylisted, please try again in 5 minutes"),
    "badsender": ("5.1.8", "smtp; 553 5.1.8 Sender address rejected: domain of sender has no A or MX"),
    "block": ("5.7.1", "smtp; 554 5.7.1 Service unavailable; client host blocked using zen.spamhaus.org"),
    "content": ("5.6.0", "smtp; 554 5.6.0 Message contains a forbidden attachment type"),
    "dnsFail": ("5.4.4", "smtp; 550 5.4.4 Unable to route: host not found"),
    "generalfail": ("5.0.0", "smtp; 550 5.0.0 Delivery failed"),
    "other": ("", ""),
    "relayfail": ("5.7.1", "smtp; 554 5.7.1 Relay access denied"),
    "serverfail": ("4.3.0", "smtp; 421 4.3.0 Server error, mail system not accepting messages"),
    "spam": ("5.7.1", "smtp; 550 5.7.1 Message rejected as spam by content filtering"),
    "verifyfail": ("5.7.1", "smtp; 550 5.7.1 Sender verify failed"),
    "timeout": ("4.4.7", "smtp; 421 4.4.7 Connection timed out; message expired"),
    "badrecipient": ("5.1.1", "smtp; 550 5.1.1 The email account that you tried to reach does not exist"),
    "overquota": ("5.2.2", "smtp; 552 5.2.2 The recipient's mailbox is full"),
    "serverpolicy": ("5.7.1", "smtp; 550 5.7.1 Message refused by local policy"),
    "spam_gmail": ("4.7.28", "smtp; 421 4.7.28 Gmail has detected an unusual rate of unsolicited mail"),
}

_SAMPLES_BY_LOWER_NAME = {k.lower(): v for k, v in CATEGORY_SAMPLES.items()}  # addresses come lower-cased
_original_send_email = None


def install(delay_seconds: int = DELAY_SECONDS) -> None:
    """Publish events after every SESv2 SendEmail moto accepts (idempotent)."""
    global _original_send_email
    from moto.sesv2.responses import SESV2Response

    if _original_send_email is not None:
        return
    _original_send_email = original = SESV2Response.send_email

    @functools.wraps(original)
    def send_email(self: Any) -> str:
        answer = original(self)
        try:
            _publish(self, json.loads(self.body), json.loads(answer)["MessageId"], delay_seconds)
        except Exception:  # the send stands, as SES's does; only its events are lost
            log.exception("emulated SES events for a send failed")
        return answer

    SESV2Response.send_email = send_email


def uninstall() -> None:
    global _original_send_email
    from moto.sesv2.responses import SESV2Response

    if _original_send_email is not None:
        SESV2Response.send_email = _original_send_email
        _original_send_email = None


def queue_for(configuration_set: str) -> str | None:
    for stream in STREAM_SUFFIXES:
        if configuration_set.endswith(stream):
            return configuration_set[: -len(stream)] + QUEUE_SUFFIX
    prefix, dedicated, _pool = configuration_set.partition(DEDICATED)
    if dedicated:  # a dedicated IP pool's set (sending/dedicated_ips.py) reports to the same topic
        return prefix + QUEUE_SUFFIX
    return None


def _publish(response: Any, params: dict[str, Any], ses_message_id: str, delay_seconds: int) -> None:
    from moto.sqs.models import sqs_backends

    configuration_set = params.get("ConfigurationSetName")
    queue = queue_for(configuration_set or "")
    if queue is None:
        return  # SES publishes events only through a configuration set's destinations
    raw = base64.b64decode(((params.get("Content") or {}).get("Raw") or {}).get("Data") or b"")
    recipients = (params.get("Destination") or {}).get("ToAddresses") or []
    tags = {t["Name"]: t["Value"] for t in params.get("EmailTags") or []}
    backend = sqs_backends[response.current_account][response.region]
    for recipient in recipients:
        m = mail(ses_message_id, params.get("FromEmailAddress") or "", recipient, raw, configuration_set, tags)
        for event in events_for(m, recipient):
            backend.send_message(queue, json.dumps(event), delay_seconds=delay_seconds)


def mail(ses_message_id: str, source: str, recipient: str, raw: bytes, configuration_set: str,
         tags: dict[str, str], at: datetime | None = None) -> dict[str, Any]:
    """SES's ``mail`` object of an event: the message as it was sent."""
    headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
    listed = [{"name": k, "value": str(v)} for k, v in headers.items()]
    common = {"from": [headers.get("From", source)], "to": [headers.get("To", recipient)],
              "messageId": headers.get("Message-ID"), "subject": headers.get("Subject")}
    domain = source.rpartition("@")[2].strip(">")
    all_tags = {"ses:configuration-set": [configuration_set], "ses:from-domain": [domain],
                "ses:source-ip": ["127.0.0.1"], "ses:caller-identity": ["postline"],
                **{k: [v] for k, v in tags.items()}}
    return {"timestamp": _iso(at or datetime.now(UTC)), "source": source,
            "sourceArn": f"arn:aws:ses:us-east-1:123456789012:identity/{domain}",
            "sendingAccountId": "123456789012", "messageId": ses_message_id, "destination": [recipient],
            "headersTruncated": False, "headers": listed, "commonHeaders": {k: v for k, v in common.items() if v},
            "tags": all_tags}


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def _after(m: dict[str, Any], seconds: float) -> str:
    return _iso(datetime.fromisoformat(m["timestamp"].replace("Z", "+00:00")) + timedelta(seconds=seconds))


def send(m: dict[str, Any]) -> dict[str, Any]:
    return {"eventType": "Send", "mail": m, "send": {}}


def delivery(m: dict[str, Any], recipient: str) -> dict[str, Any]:
    return {"eventType": "Delivery", "mail": m, "delivery": {
        "timestamp": _after(m, 1), "processingTimeMillis": 1000, "recipients": [recipient],
        "smtpResponse": "250 2.6.0 Message received", "reportingMTA": "a8-70.smtp-out.amazonses.com",
        "remoteMtaIp": "127.0.0.1"}}


def bounce(m: dict[str, Any], recipient: str, bounce_type: str, subtype: str, status: str = "",
           diagnostic: str = "") -> dict[str, Any]:
    bounced = {"emailAddress": recipient, "action": "failed"}
    if status:
        bounced["status"] = status
    if diagnostic:
        bounced["diagnosticCode"] = diagnostic
    return {"eventType": "Bounce", "mail": m, "bounce": {
        "bounceType": bounce_type, "bounceSubType": subtype, "bouncedRecipients": [bounced],
        "timestamp": _after(m, 2), "feedbackId": f"{uuid.uuid4().hex}-000000",
        "reportingMTA": "dsn; a8-70.smtp-out.amazonses.com", "remoteMtaIp": "127.0.0.1"}}


def delay(m: dict[str, Any], recipient: str, status: str, diagnostic: str) -> dict[str, Any]:
    delayed = {"emailAddress": recipient, "status": status, "diagnosticCode": diagnostic}
    delayed = {k: v for k, v in delayed.items() if v}
    return {"eventType": "DeliveryDelay", "mail": m, "deliveryDelay": {
        "timestamp": _after(m, 0.5), "delayType": "General" if diagnostic else "Undetermined",
        "expirationTime": _after(m, 86400),
        "delayedRecipients": [delayed], "reportingMTA": "a8-70.smtp-out.amazonses.com"}}


def complaint(m: dict[str, Any], recipient: str) -> dict[str, Any]:
    return {"eventType": "Complaint", "mail": m, "complaint": {
        "complainedRecipients": [{"emailAddress": recipient}], "timestamp": _after(m, 3),
        "feedbackId": f"{uuid.uuid4().hex}-000000", "complaintSubType": None,
        "userAgent": "Mail Simulator", "complaintFeedbackType": "abuse", "arrivalDate": _after(m, 3)}}


def events_for(m: dict[str, Any], recipient: str) -> list[dict[str, Any]]:
    """The events SES would publish for a send to ``recipient`` (see the module's table)."""
    local, _, domain = recipient.lower().partition("@")
    out = [send(m)]
    if domain != SIMULATOR:
        return out + [delivery(m, recipient)]
    scheme, _, category = local.partition("+")
    status, diagnostic = _SAMPLES_BY_LOWER_NAME.get(category, ("", ""))
    if scheme == "bounce" and category:
        kind = "Permanent" if status.startswith("5") else "Transient" if status else "Undetermined"
        return out + [bounce(m, recipient, kind, "General" if status else "Undetermined", status, diagnostic)]
    if scheme == "bounce":
        return out + [bounce(m, recipient, "Permanent", "General", "5.1.1", "smtp; 550 5.1.1 user unknown")]
    if scheme == "suppressionlist":
        return out + [bounce(m, recipient, "Permanent", "OnAccountSuppressionList")]
    if scheme == "complaint":
        return out + [delivery(m, recipient), complaint(m, recipient)]
    if scheme in ("softbounce", "softfail"):
        out.append(delay(m, recipient, status, diagnostic))
        if scheme == "softbounce":
            return out + [delivery(m, recipient)]
        return out + [bounce(m, recipient, "Transient", "General", status, diagnostic)]
    return out + [delivery(m, recipient)]  # success@, ooto@ and anything else
