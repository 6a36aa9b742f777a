"""Every SMTP reply Postline gives, in one place (the seeds' texts where they give one)."""

from __future__ import annotations

AUTH_INVALID = "535 5.7.8 Authentication credentials invalid"
TOKEN_NOT_LIVE = "530 5.7.0 Authentication required: the API token was deleted or has expired, log in again"
TIMEOUT = "421 4.4.2 Timeout waiting for the client, closing connection"
AUTH_THROTTLED = "454 4.7.0 Too many failed authentication attempts, try again in {seconds} seconds"
TOO_MANY_ACCOUNT_CONNECTIONS = "535 5.7.8 Too many connections per account"  # seed-B §6
MONTHLY_LIMIT = "535 5.7.0 Monthly messages limit reached"  # seed-C glossary
TOO_MANY_IP_CONNECTIONS = "421 4.7.0 Too many connections from your IP address, try again later"
TOO_MANY_MESSAGES = "421 4.7.0 Too many messages on this connection (at most {limit}), reconnect to send more"
TOO_MANY_RECIPIENTS = "452 4.5.3 Too many recipients (at most {limit} per message)"
BAD_RECIPIENT = "553 5.1.3 Recipient address is not valid: {address}"
BAD_SENDER = "553 5.1.7 Sender address is not valid: {address}"
SENDER_NOT_ALLOWED = "550 5.7.1 {reason}"
CONTENT_REFUSED = "550 5.6.0 {reason}"
EIGHT_BIT_HEADERS = ("550 5.6.7 Message headers must be ASCII: encode non-ASCII text as RFC 2047 "
                     "encoded words (SMTPUTF8 is not offered)")
HEADERS_TOO_LARGE = "552 5.3.4 Message header section is larger than {limit} bytes"
TEMPORARY_FAILURE = "451 4.3.0 Temporary server error, try again later"
QUEUED = "250 2.0.0 Ok: queued as {message_id}"
