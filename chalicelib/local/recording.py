"""What survives a restart of the local stack: DynamoDB and S3 writes, replayed at boot.

moto's recorder appends every request it serves to a JSON-lines file (method, URL,
headers, body). Replaying all of it is wrong for SQS and Step Functions (a replayed
ReceiveMessage hides a message again, executions start twice; stack-probe-2 §3) and slow
for reads, so before each boot the file is cut down to the requests that change DynamoDB
items or S3 objects. Queued work is rebuilt by the re-drive hooks instead
(chalicelib/core/redrive.py).

History would still grow with every write (each API call counts against a rate limit with
an UpdateItem) and replay runs at about 350 requests/s, so after each replay the DynamoDB
part is rewritten as a snapshot: one BatchWriteItem per 25 items as they are now.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

log = logging.getLogger("postline.local.recording")

# The service a SigV4 request is for is in its credential scope: <key>/<date>/<region>/<service>/aws4_request
_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/]+/([^/]+)/aws4_request")

DYNAMODB_WRITES = frozenset({
    "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems",
})
S3_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Replayed requests go to whatever port the emulator listens on now, not the recorded one.
_DROPPED_HEADERS = frozenset({"host"})


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


def is_persistent_write(entry: dict[str, Any]) -> bool:
    """True for a request that changes a DynamoDB item or an S3 bucket/object."""
    service = service_of(entry)
    if service == "dynamodb":
        target = _header(entry.get("headers") or {}, "x-amz-target")
        return target.rpartition(".")[2] in DYNAMODB_WRITES
    if service == "s3":
        return str(entry.get("method", "")).upper() not in S3_READ_METHODS
    return False


def filter_lines(lines: Iterable[str]) -> Iterator[str]:
    """The recorded lines worth replaying, normalised; unreadable lines are skipped."""
    for line in lines:
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:  # a line cut short when the emulator was killed mid-write
            log.warning("skipping an unreadable line of the AWS recording")
            continue
        if not isinstance(entry, dict) or not is_persistent_write(entry):
            continue
        entry["headers"] = {k: v for k, v in (entry.get("headers") or {}).items()
                            if k.lower() not in _DROPPED_HEADERS}
        yield json.dumps(entry)


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


def dynamodb_snapshot(ddb: Any, endpoint: str, region: str) -> Iterator[str]:
    """Lines that recreate every item of every table as it is now."""
    for page in ddb.get_paginator("list_tables").paginate():
        for table in page["TableNames"]:
            for scanned in ddb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
                items = scanned["Items"]
                for start in range(0, len(items), 25):  # BatchWriteItem's limit
                    yield request_line("dynamodb", region, endpoint.rstrip("/") + "/",
                                       "DynamoDB_20120810.BatchWriteItem",
                                       {"RequestItems": {table: [{"PutRequest": {"Item": item}}
                                                                 for item in items[start:start + 25]]}})


def rewrite_with_snapshot(path: Path, ddb: Any, endpoint: str, region: str) -> int:
    """Replace the DynamoDB history in the recording by a snapshot of the tables.

    Call it after a replay and before anything writes again (the runtime does so at boot,
    before recording restarts), so the snapshot and the file cannot disagree. S3 lines are
    kept as they are. Returns the number of lines written.
    """
    tmp = path.with_suffix(path.suffix + ".tmp")
    written = 0
    with tmp.open("w", encoding="utf-8") as dst:
        if path.exists():
            with path.open(encoding="utf-8", errors="replace") as src:
                for line in filter_lines(src):
                    if service_of(json.loads(line)) != "dynamodb":
                        dst.write(line + "\n")
                        written += 1
        for line in dynamodb_snapshot(ddb, endpoint, region):
            dst.write(line + "\n")
            written += 1
    os.replace(tmp, path)
    return written


def compact(path: Path) -> int:
    """Rewrite the recording in place to its persistent writes; returns how many remain."""
    if not path.exists():
        return 0
    tmp = path.with_suffix(path.suffix + ".tmp")
    kept = 0
    with path.open(encoding="utf-8", errors="replace") as src, tmp.open("w", encoding="utf-8") as dst:
        for line in filter_lines(src):
            dst.write(line + "\n")
            kept += 1
    os.replace(tmp, path)  # atomic: a crash leaves the old file or the new one, never half
    return kept
