"""The emulator's state as snapshot lines, and back: DynamoDB items and S3 objects.

Runs inside the moto server process (local/moto_server.py), reading and writing
moto's backends directly: loading 100k items this way takes seconds, where the same items
sent as BatchWriteItem requests took minutes. Items are kept in DynamoDB's wire format and
object bodies in base64, so a snapshot does not depend on moto's classes. Tables and
buckets come from infra/template.yaml at every boot; a snapshot holds what is in them.
"""

from __future__ import annotations

import base64
import datetime
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

ITEMS_PER_LINE = 500


def _json_default(value: Any) -> Any:
    """moto's DynamoType as DynamoDB's JSON; json's C encoder walks the maps and lists it holds."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    if isinstance(value, DynamoType):
        return {value.type: value.value}
    if isinstance(value, bytes):  # binary written in process; over HTTP moto keeps the base64 text
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"cannot encode {type(value).__name__}")


def encode(line: dict[str, Any]) -> str:
    """A snapshot line from ``dump`` as JSON text."""
    return json.dumps(line, separators=(",", ":"), default=_json_default)


def dump() -> Iterator[dict[str, Any]]:
    """Every DynamoDB item and S3 object, as snapshot lines (dicts to write with ``encode``)."""
    from moto.dynamodb.models import dynamodb_backends
    from moto.s3.models import FakeKey, s3_backends

    for account, regions in list(dynamodb_backends.items()):
        for region, backend in list(regions.items()):
            for name, table in list(backend.tables.items()):
                items = [item.attrs for item in table.all_items()]
                for start in range(0, len(items), ITEMS_PER_LINE):
                    yield {"snapshot": "dynamodb", "account": account, "region": region, "table": name,
                           "items": items[start:start + ITEMS_PER_LINE]}
    for account, regions in list(s3_backends.items()):
        for backend in list(regions.values()):
            for bucket in list(backend.buckets.values()):
                if bucket.account_id != account:
                    continue  # the shared bucket namespace lists other accounts' buckets too
                yield {"snapshot": "s3-bucket", "account": account, "bucket": bucket.name,
                       "region": bucket.region_name}
                for key in bucket.keys.values():
                    if not isinstance(key, FakeKey):  # a delete marker
                        continue
                    yield {"snapshot": "s3-object", "account": account, "bucket": bucket.name, "key": key.name,
                           "body": base64.b64encode(key.value).decode("ascii"), "metadata": dict(key._metadata),
                           "storage": key.storage_class, "encryption": key.encryption,
                           "kms_key_id": key.kms_key_id, "last_modified": key.last_modified.isoformat()}


@dataclass
class Loaded:
    items: int = 0
    objects: int = 0
    missing_tables: dict[str, int] = field(default_factory=dict)  # table name -> items not loaded


def load(line: dict[str, Any], loaded: Loaded) -> None:
    """Put one snapshot line's items or object into moto's backends."""
    kind = line["snapshot"]
    if kind == "dynamodb":
        _load_items(line, loaded)
    elif kind == "s3-bucket":
        from moto.s3.models import s3_backends

        backend = s3_backends[line["account"]]["aws"]
        if line["bucket"] not in backend.buckets:
            backend.create_bucket(line["bucket"], line["region"])
    elif kind == "s3-object":
        from moto.s3.models import s3_backends

        key = s3_backends[line["account"]]["aws"].put_object(
            line["bucket"], line["key"], base64.b64decode(line["body"]), storage=line.get("storage"),
            encryption=line.get("encryption"), kms_key_id=line.get("kms_key_id"), disable_notification=True)
        key.set_metadata(dict(line.get("metadata") or {}))
        if line.get("last_modified"):
            key.last_modified = datetime.datetime.fromisoformat(line["last_modified"])
        loaded.objects += 1


def _load_items(line: dict[str, Any], loaded: Loaded) -> None:
    from moto.dynamodb.models import dynamodb_backends
    from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict

    table = dynamodb_backends[line["account"]][line["region"]].tables.get(line["table"])
    if table is None:  # gone from the template: nothing to put its items in
        loaded.missing_tables[line["table"]] = loaded.missing_tables.get(line["table"], 0) + len(line["items"])
        return
    hash_attr, range_attr = table.hash_key_attr, table.range_key_attr
    for attrs in line["items"]:
        # Built as moto's Item.__deepcopy__ builds one: its constructor re-measures the whole
        # item at each attribute (most of the load time), and these items passed when written.
        item = Item.__new__(Item)
        item.attrs = LimitedSizeDict.__new__(LimitedSizeDict)
        dict.update(item.attrs, {name: DynamoType(value) for name, value in attrs.items()})
        item.hash_key = item.attrs[hash_attr]
        if range_attr:
            item.range_key = item.attrs[range_attr]
            table.items[item.hash_key][item.range_key] = item
        else:
            item.range_key = None
            table.items[item.hash_key] = item
    loaded.items += len(line["items"])
