"""SESv2 SendEmail (raw content) and what each kind of failure means for the message.

The client makes exactly one attempt per call: retries are the worker's (through SQS with
a delay), because botocore's own retry of a call whose answer was lost could send twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
)

from chalicelib.core import aws
from chalicelib.sending.notifications import MESSAGE_TAG

SENT, RETRY, REJECTED, FAILED, UNKNOWN = "sent", "retry", "rejected", "failed", "unknown"

# SES is busy or over a quota: the same message can go through later.
_RETRY_CODES = {
    "TooManyRequestsException", "ThrottlingException", "Throttling", "LimitExceededException",
    "SendingPausedException", "InternalFailure", "InternalServerError", "ServiceUnavailable",
    "ServiceUnavailableException", "RequestTimeout", "RequestTimeoutException",
}


@dataclass(frozen=True)
class Result:
    outcome: str  # SENT, RETRY, REJECTED, FAILED or UNKNOWN
    ses_message_id: str | None = None
    reason: str | None = None


def _send_email(**params: Any) -> dict[str, Any]:
    return aws.client("sesv2", max_attempts=1).send_email(**params)


def submit(raw: bytes, sender: str, recipient: str, configuration_set: str | None,
           message_id: str | None = None) -> Result:
    params: dict[str, Any] = {
        "FromEmailAddress": sender,
        "Destination": {"ToAddresses": [recipient]},
        "Content": {"Raw": {"Data": raw}},
    }
    if message_id:  # SES's event notifications carry the tag: how they find the message
        params["EmailTags"] = [{"Name": MESSAGE_TAG, "Value": message_id}]
    if configuration_set:
        params["ConfigurationSetName"] = configuration_set
    try:
        response = _send_email(**params)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code, message = error.get("Code", ""), error.get("Message", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        reason = f"SES {code}: {message}".strip().rstrip(":")
        if code in _RETRY_CODES or status >= 500:
            return Result(RETRY, reason=reason)
        if code == "MessageRejected":
            return Result(REJECTED, reason=reason)
        return Result(FAILED, reason=reason)
    except (EndpointConnectionError, ConnectTimeoutError) as exc:  # the request never left
        return Result(RETRY, reason=f"SES unreachable: {exc}")
    except Exception as exc:  # e.g. a read timeout: SES may have accepted it
        return Result(UNKNOWN, reason=f"SES call interrupted ({type(exc).__name__}); outcome unknown")
    return Result(SENT, ses_message_id=response.get("MessageId"))
