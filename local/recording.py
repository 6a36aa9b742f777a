"""What survives a restart of the local stack: the emulator's state file.

``.postline/aws-recording.jsonl`` holds one JSON document a line:

1. a snapshot of what persists: a ``begin`` line; DynamoDB items (ITEMS_PER_LINE a line) and
   S3 buckets and objects, in compact form (local/snapshot.py); SES's write
   requests (identities, DKIM, MAIL FROM, configuration sets: a few per domain, so they are
   kept as requests); an ``end`` line;
2. the journal: every DynamoDB, S3 and SES write the emulator served after it, in the order
   it applied them, in moto's recorder format (method, URL, headers, body).

The emulator appends journal lines under one lock, each in a single write
(local/moto_server.py), so lines never interleave. At boot it loads the snapshot
straight into its backends and replays the journal in process; it writes a new snapshot
(the whole file, replaced atomically) after a boot that replayed a journal, when the journal
grows past a limit, and at shutdown, so a start loads data, not its history.

Reads, SQS and Step Functions are not kept: replayed, a ReceiveMessage hides a message
again and executions start twice (stack-probe-2 §3). Queued work is rebuilt by the re-drive
hooks instead (chalicelib/core/redrive.py).
"""

from __future__ import annotations

import base64
import json
import logging
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

log = logging.getLogger("postline.local.recording")

# The service a SigV4 request is for is in its credential scope: <key>/<date>/<region>/<service>/aws4_request
_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/]+/([^/]+)/aws4_request")

DYNAMODB_WRITES = frozenset({
    "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems",
})
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# SES v1 (query protocol) actions that change nothing kept: reads and sends
_SES_V1_NOT_WRITES = ("Get", "List", "Describe", "Send", "Test")
_SES_V2_SENDS = ("/v2/email/outbound-emails", "/v2/email/outbound-bulk-emails")


class RecordingError(RuntimeError):
    """The state file can't be trusted; the message says which line and how to recover."""


def _header(headers: dict[str, Any], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return str(value)
    return ""


def service_of(entry: dict[str, Any]) -> str | None:
    """The AWS service a recorded request was signed for (header or presigned-URL scope)."""
    match = _SCOPE.search(_header(entry.get("headers") or {}, "authorization"))
    if match:
        return match.group(1)
    credential = parse_qs(urlparse(entry.get("url") or "").query).get("X-Amz-Credential")
    if credential:
        parts = credential[0].split("/")
        if len(parts) == 5:
            return parts[3]
    return None


def _ses_action(entry: dict[str, Any]) -> str | None:
    body = entry.get("body")
    if body is None:
        return None
    if entry.get("body_encoded"):
        body = base64.b64decode(body).decode("utf-8", "replace")
    return (parse_qs(str(body)).get("Action") or [""])[0]


def is_persistent_write(entry: dict[str, Any]) -> bool:
    """True for a request that changes a DynamoDB item, an S3 bucket/object or SES settings.

    SES v1 names its action in the body: without a ``body`` key, any SES v1 POST counts."""
    service = service_of(entry)
    method = str(entry.get("method", "")).upper()
    if service == "dynamodb":
        target = _header(entry.get("headers") or {}, "x-amz-target")
        return target.rpartition(".")[2] in DYNAMODB_WRITES
    if service == "s3":
        return method not in READ_METHODS
    if service in ("ses", "email"):
        path = urlparse(entry.get("url") or "").path
        if path.startswith("/v2/"):
            return method not in READ_METHODS and not path.startswith(_SES_V2_SENDS)
        action = _ses_action(entry)
        return method == "POST" and (action is None or not action.startswith(_SES_V1_NOT_WRITES))
    return False


def is_ses(entry: dict[str, Any]) -> bool:
    return service_of(entry) in ("ses", "email")


def check(path: Path) -> int:
    """Make sure every line of the state file reads; returns how many there are.

    A line cut short in the middle of the file means lost or damaged data: refuse, saying
    where and how to recover. The last line cut short is a write the emulator died in (a
    kill, a crash): it never took effect, so it is cut off with a warning."""
    if not path.exists():
        return 0
    count, offset, torn, unterminated = 0, 0, None, False
    with path.open("rb") as src:
        for number, raw in enumerate(src, start=1):
            if torn is not None:
                raise RecordingError(
                    f"{path}: line {torn[0]} is unreadable ({torn[1]}) and is not the last line, so the saved "
                    "AWS state can't be trusted. To recover, delete that line (the writes it held are lost), "
                    "or start from scratch by deleting the state directory.")
            if raw.strip() and not (raw.startswith(b'{"snapshot":') and raw.endswith(b"}\n")):
                try:  # journal lines only: a snapshot is written whole, then renamed into place
                    json.loads(raw)
                except ValueError as exc:
                    torn = (number, str(exc)[:80], offset)
            offset += len(raw)
            count, unterminated = number, not raw.endswith(b"\n")
    if torn is not None:
        log.warning("%s: the last line (%d) was cut short, most likely by a kill mid-write; it is dropped "
                    "(that one write never took effect)", path, torn[0])
        with path.open("r+b") as dst:
            dst.truncate(torn[2])
        return count - 1
    if unterminated:  # complete, but the next line appended must not run on from it
        with path.open("ab") as dst:
            dst.write(b"\n")
    return count


def request_line(service: str, region: str, url: str, target: str, body: dict[str, Any]) -> str:
    """A recorded request as moto's recorder would write it (moto does not check signatures)."""
    headers = {
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": target,
        "Authorization": f"AWS4-HMAC-SHA256 Credential=local/20000101/{region}/{service}/aws4_request, "
                         "SignedHeaders=content-type;x-amz-target, Signature=0",
    }
    return json.dumps({"headers": headers, "method": "POST", "url": url, "body": json.dumps(body, default=_wire),
                       "body_encoded": False})


def _wire(value: Any) -> str:
    # boto3 hands binary attributes (B, BS) over as bytes; on the wire they are base64
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"cannot encode {type(value).__name__}")
