"""Persistence of the local stack: which recorded requests are replayed, and a real restart."""

from __future__ import annotations

import json
import time
from pathlib import Path

import boto3
import pytest
from local_support import free_port, running_emulator

from local import recording


def entry(service: str | None, method: str = "POST", target: str | None = None, url: str = "http://127.0.0.1:4566/",
          body: str = "{}") -> dict:
    headers = {"Host": "127.0.0.1:4566", "Content-Type": "application/x-amz-json-1.0"}
    if service:
        headers["Authorization"] = (f"AWS4-HMAC-SHA256 Credential=local/20300101/us-east-1/{service}/aws4_request, "
                                    "SignedHeaders=host;x-amz-date, Signature=abc")
    if target:
        headers["X-Amz-Target"] = target
    return {"headers": headers, "method": method, "url": url, "body": body, "body_encoded": False}


def test_only_dynamodb_s3_and_ses_writes_are_kept():
    recorded = [
        entry("dynamodb", target="DynamoDB_20120810.PutItem", body='{"n": 1}'),
        entry("dynamodb", target="DynamoDB_20120810.GetItem"),
        entry("dynamodb", target="DynamoDB_20120810.Query"),
        entry("dynamodb", target="DynamoDB_20120810.CreateTable"),  # tables come from the template
        entry("sqs", body="Action=SendMessage&MessageBody=x"),
        entry("sqs", body="Action=ReceiveMessage"),
        entry("states", target="AWSStepFunctions.StartExecution"),
        entry("cloudformation", body="Action=CreateStack"),
        entry("s3", "PUT", url="http://127.0.0.1:4566/bucket/a%20b.txt", body="data"),
        entry("s3", "GET", url="http://127.0.0.1:4566/bucket/a%20b.txt"),
        entry("s3", "HEAD", url="http://127.0.0.1:4566/bucket/a%20b.txt"),
        entry(None, "PUT", url="http://127.0.0.1:4566/bucket/up?X-Amz-Algorithm=AWS4-HMAC-SHA256"
                               "&X-Amz-Credential=local%2F20300101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=x"),
        entry(None, "POST", url="http://127.0.0.1:4566/moto-api/config"),
        entry("ses", "POST", url="http://127.0.0.1:4566/v2/email/identities", body='{"EmailIdentity": "a.test"}'),
        entry("ses", "PUT", url="http://127.0.0.1:4566/v2/email/identities/a.test/mail-from"),
        entry("ses", "GET", url="http://127.0.0.1:4566/v2/email/identities/a.test"),
        entry("ses", "POST", url="http://127.0.0.1:4566/v2/email/outbound-emails"),  # a send changes nothing kept
        entry("ses", body="Action=VerifyDomainDkim&Domain=a.test"),
        entry("ses", body="Action=GetIdentityVerificationAttributes"),
        entry("ses", body="Action=SendRawEmail"),
        entry("dynamodb", target="DynamoDB_20120810.TransactWriteItems"),
        entry("s3", "DELETE", url="http://127.0.0.1:4566/bucket/a%20b.txt"),
        entry("dynamodb", target="DynamoDB_20120810.BatchWriteItem"),
        entry("dynamodb", target="DynamoDB_20120810.DeleteItem"),
        entry("dynamodb", target="DynamoDB_20120810.UpdateItem"),
    ]
    kept = [e for e in recorded if recording.is_persistent_write(e)]
    assert [(e["method"], e["headers"].get("X-Amz-Target", e["url"].replace("http://127.0.0.1:4566", "")),
             e["body"]) for e in kept] == [
        ("POST", "DynamoDB_20120810.PutItem", '{"n": 1}'),
        ("PUT", "/bucket/a%20b.txt", "data"),
        ("PUT", recorded[11]["url"].replace("http://127.0.0.1:4566", ""), "{}"),
        ("POST", "/v2/email/identities", '{"EmailIdentity": "a.test"}'),
        ("PUT", "/v2/email/identities/a.test/mail-from", "{}"),
        ("POST", "/", "Action=VerifyDomainDkim&Domain=a.test"),
        ("POST", "DynamoDB_20120810.TransactWriteItems", "{}"),
        ("DELETE", "/bucket/a%20b.txt", "{}"),
        ("POST", "DynamoDB_20120810.BatchWriteItem", "{}"),
        ("POST", "DynamoDB_20120810.DeleteItem", "{}"),
        ("POST", "DynamoDB_20120810.UpdateItem", "{}"),
    ]


def test_a_torn_line_in_the_middle_stops_the_start_naming_it_and_how_to_recover(tmp_path):
    path = tmp_path / "aws-recording.jsonl"
    good = json.dumps(entry("dynamodb", target="DynamoDB_20120810.PutItem"))
    path.write_text(f"{good}\n{good[:40]}\n{good}\n")
    with pytest.raises(recording.RecordingError) as raised:
        recording.check(path)
    message = str(raised.value)
    assert f"{path}: line 2 is unreadable" in message and "delete that line" in message
    assert path.read_text() == f"{good}\n{good[:40]}\n{good}\n"  # nothing changed on the user's disk


def test_a_torn_last_line_is_cut_off_with_a_warning(tmp_path, monkeypatch):
    warnings: list[str] = []  # the logger itself: other tests may reconfigure logging
    monkeypatch.setattr(recording.log, "warning", lambda message, *args: warnings.append(message % args))
    path = tmp_path / "aws-recording.jsonl"
    good = json.dumps(entry("dynamodb", target="DynamoDB_20120810.PutItem"))
    path.write_text(f"{good}\n{good}\n{good[:40]}")  # killed in the middle of writing the third
    assert recording.check(path) == 2
    assert path.read_text() == f"{good}\n{good}\n"
    assert len(warnings) == 1 and f"{path}: the last line (3) was cut short" in warnings[0]
    path.write_text(good)  # complete, only the line end missing: kept, and ended for the next append
    assert recording.check(path) == 1 and path.read_text() == good + "\n"
    assert recording.check(tmp_path / "missing.jsonl") == 0


def _boot(emulator_endpoint: str):
    """What the runtime does on every start before replaying: the resources from the template."""
    kw = {"endpoint_url": emulator_endpoint, "region_name": "us-east-1",
          "aws_access_key_id": "local", "aws_secret_access_key": "local"}
    ddb, s3, sqs = boto3.client("dynamodb", **kw), boto3.client("s3", **kw), boto3.client("sqs", **kw)
    ddb.create_table(TableName="things", BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
    s3.create_bucket(Bucket="files")
    return ddb, s3, sqs


def _restart(path: Path, port: int | None = None):
    """A new emulator on the same state file: the template's resources, then the saved state."""
    return running_emulator(path, port)


def test_dynamodb_items_s3_objects_and_ses_identities_survive_restarts_of_the_emulator(tmp_path: Path):
    path = tmp_path / "aws-recording.jsonl"
    kw = {"region_name": "us-east-1", "aws_access_key_id": "local", "aws_secret_access_key": "local"}
    with running_emulator(path) as emulator:
        ddb, s3, sqs = _boot(emulator.endpoint)
        emulator.start_recording()
        ddb.put_item(TableName="things", Item={"pk": {"S": "kept"}, "raw": {"B": b"\x00\x01"},
                                               "nested": {"M": {"b": {"B": b"\x02"}, "l": {"L": [{"N": "1"}]}}}})
        for _ in range(30):  # a counter: 30 writes of history, one item of state
            ddb.update_item(TableName="things", Key={"pk": {"S": "kept"}}, UpdateExpression="ADD n :one",
                            ExpressionAttributeValues={":one": {"N": "1"}})
        ddb.put_item(TableName="things", Item={"pk": {"S": "gone"}})
        ddb.delete_item(TableName="things", Key={"pk": {"S": "gone"}})
        s3.put_object(Bucket="files", Key="dir/a b.bin", Body=b"\x00\xffbinary", ContentType="image/png",
                      Metadata={"owner": "7"})
        metadata = s3.get_object(Bucket="files", Key="dir/a b.bin")["Metadata"]  # as moto's server spells it
        sesv2 = boto3.client("sesv2", endpoint_url=emulator.endpoint, **kw)
        sesv2.create_email_identity(EmailIdentity="kept.example.org")
        sesv2.create_email_identity(EmailIdentity="dropped.example.org")
        sesv2.delete_email_identity(EmailIdentity="dropped.example.org")
        boto3.client("ses", endpoint_url=emulator.endpoint, **kw).verify_domain_dkim(Domain="kept.example.org")
        ddb.scan(TableName="things")
        queue = sqs.create_queue(QueueName="work")["QueueUrl"]
        sqs.send_message(QueueUrl=queue, MessageBody="x")
        sqs.receive_message(QueueUrl=queue)
    # the server journaled only writes while it ran, in order
    recorded = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(recorded) == 38 and all(recording.is_persistent_write(e) for e in recorded)
    expected = [{"pk": {"S": "kept"}, "raw": {"B": b"\x00\x01"}, "n": {"N": "30"},
                 "nested": {"M": {"b": {"B": b"\x02"}, "l": {"L": [{"N": "1"}]}}}}]

    def check_state(emulator) -> None:
        ddb, s3, sqs = _boot(emulator.endpoint)
        emulator.restore()
        assert ddb.scan(TableName="things")["Items"] == expected
        got = s3.get_object(Bucket="files", Key="dir/a b.bin")
        assert (got["Body"].read(), got["ContentType"], got["Metadata"]) == (b"\x00\xffbinary", "image/png", metadata)
        assert sqs.list_queues().get("QueueUrls", []) == []  # queues are not kept; re-drive rebuilds work
        sesv2 = boto3.client("sesv2", endpoint_url=emulator.endpoint, **kw)
        assert [i["IdentityName"] for i in sesv2.list_email_identities()["EmailIdentities"]] == ["kept.example.org"]
        sesv2.send_email(FromEmailAddress="a@kept.example.org", Destination={"ToAddresses": ["b@x.test"]},
                         Content={"Simple": {"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "t"}}}})

    with _restart(path, free_port()) as emulator:  # another port: the journal must not care
        check_state(emulator)
        # the history of 38 writes becomes a snapshot: one line of items, the bucket and its
        # object, SES's four writes kept as requests
        saved = emulator.snapshot()
        assert (saved["items"], saved["objects"], saved["ses_requests"]) == (1, 1, 4)
    lines = path.read_text().splitlines()
    assert [json.loads(line).get("snapshot") for line in lines] == [
        "begin", None, None, None, None, "dynamodb", "s3-bucket", "s3-object", "end"]

    with _restart(path) as emulator:
        check_state(emulator)


def test_no_snapshot_before_the_saved_state_is_loaded(tmp_path: Path):
    """A snapshot of an emulator that has not loaded the file would replace the file by nothing."""
    from local.emulator import EmulatorError

    path = tmp_path / "aws-recording.jsonl"
    saved = json.dumps(entry("dynamodb", target="DynamoDB_20120810.PutItem")) + "\n"
    path.write_text(saved)
    with running_emulator(path) as emulator:
        with pytest.raises(EmulatorError, match="409"):
            emulator.snapshot()
    assert path.read_text() == saved


def test_concurrent_batch_writes_all_survive_a_restart(tmp_path: Path):
    """16 threads writing long BatchWriteItem lines at once: none may tear or interleave."""
    from concurrent.futures import ThreadPoolExecutor

    path = tmp_path / "aws-recording.jsonl"
    threads, batches = 16, 12
    padding = "x" * 600  # 25 items of this make a line far longer than a write buffer

    def write(ddb, worker: int) -> None:
        for batch in range(batches):
            ddb.batch_write_item(RequestItems={"things": [
                {"PutRequest": {"Item": {"pk": {"S": f"{worker}-{batch}-{n}"}, "pad": {"S": padding}}}}
                for n in range(25)]})

    with running_emulator(path) as emulator:
        ddb, _, _ = _boot(emulator.endpoint)
        emulator.start_recording()
        with ThreadPoolExecutor(threads) as pool:
            for _ in pool.map(lambda w: write(ddb, w), range(threads)):
                pass
    assert recording.check(path) == threads * batches
    with _restart(path) as emulator:
        ddb, _, _ = _boot(emulator.endpoint)
        assert emulator.restore()["requests"] == threads * batches
        keys = {item["pk"]["S"] for page in ddb.get_paginator("scan").paginate(TableName="things")
                for item in page["Items"]}
    assert len(keys) == threads * batches * 25


def test_the_journal_is_snapshotted_once_it_grows_past_the_limit_and_writes_go_on_after_it(tmp_path: Path):
    from local.emulator import SnapshotTimer

    path = tmp_path / "aws-recording.jsonl"
    with running_emulator(path) as emulator:
        ddb, _, _ = _boot(emulator.endpoint)
        emulator.restore()
        emulator.start_recording()
        timer = SnapshotTimer(emulator, path, limit=4000, interval=0.05).start()
        try:
            for n in range(10):
                ddb.put_item(TableName="things", Item={"pk": {"S": f"before-{n}"}, "pad": {"S": "x" * 500}})
            deadline = time.monotonic() + 20
            while json.loads(path.read_text().splitlines()[0]).get("snapshot") != "begin":
                assert time.monotonic() < deadline, "no snapshot after the journal passed its limit"
                time.sleep(0.05)
        finally:
            timer.stop()
        ddb.put_item(TableName="things", Item={"pk": {"S": "after"}})
    kinds = [json.loads(line).get("snapshot") for line in path.read_text().splitlines()]
    after = len(kinds) - 1 - kinds.index("end")
    assert 1 <= after < 11 and kinds[-after:] == [None] * after  # journaled after the snapshot
    with _restart(path) as emulator:
        ddb, _, _ = _boot(emulator.endpoint)
        assert emulator.restore()["requests"] == after  # only what came after the snapshot is replayed
        assert len(ddb.scan(TableName="things")["Items"]) == 11
