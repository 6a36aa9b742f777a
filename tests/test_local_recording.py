"""Persistence of the local stack: which recorded requests are replayed, and a real restart."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
from local_support import free_port, running_emulator

from chalicelib.local import recording


def entry(service: str | None, method: str = "POST", target: str | None = None, url: str = "http://127.0.0.1:4566/",
          body: str = "{}") -> dict:
    headers = {"Host": "127.0.0.1:4566", "Content-Type": "application/x-amz-json-1.0"}
    if service:
        headers["Authorization"] = (f"AWS4-HMAC-SHA256 Credential=local/20300101/us-east-1/{service}/aws4_request, "
                                    "SignedHeaders=host;x-amz-date, Signature=abc")
    if target:
        headers["X-Amz-Target"] = target
    return {"headers": headers, "method": method, "url": url, "body": body, "body_encoded": False}


def test_only_dynamodb_and_s3_writes_are_kept_in_order():
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
        entry("dynamodb", target="DynamoDB_20120810.TransactWriteItems"),
        entry("s3", "DELETE", url="http://127.0.0.1:4566/bucket/a%20b.txt"),
        entry("dynamodb", target="DynamoDB_20120810.BatchWriteItem"),
        entry("dynamodb", target="DynamoDB_20120810.DeleteItem"),
        entry("dynamodb", target="DynamoDB_20120810.UpdateItem"),
    ]
    lines = [json.dumps(e) for e in recorded] + ['{"headers": {"Authoriz', ""]  # a line cut short by a kill

    kept = [json.loads(line) for line in recording.filter_lines(lines)]

    assert [(e["method"], e["headers"].get("X-Amz-Target", e["url"])) for e in kept] == [
        ("POST", "DynamoDB_20120810.PutItem"),
        ("PUT", "http://127.0.0.1:4566/bucket/a%20b.txt"),
        ("PUT", recorded[11]["url"]),
        ("POST", "DynamoDB_20120810.TransactWriteItems"),
        ("DELETE", "http://127.0.0.1:4566/bucket/a%20b.txt"),
        ("POST", "DynamoDB_20120810.BatchWriteItem"),
        ("POST", "DynamoDB_20120810.DeleteItem"),
        ("POST", "DynamoDB_20120810.UpdateItem"),
    ]
    assert kept[0]["body"] == '{"n": 1}'
    assert all("Host" not in e["headers"] for e in kept)  # replayed to whatever port the emulator has now


def test_compact_rewrites_the_file_to_the_kept_lines(tmp_path):
    path = tmp_path / "rec.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in [
        entry("dynamodb", target="DynamoDB_20120810.Scan"), entry("dynamodb", target="DynamoDB_20120810.PutItem")]))
    assert recording.compact(path) == 1
    assert [json.loads(line)["headers"]["X-Amz-Target"] for line in path.read_text().splitlines()] == [
        "DynamoDB_20120810.PutItem"]
    assert recording.compact(tmp_path / "missing.jsonl") == 0


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


def test_dynamodb_items_and_s3_objects_survive_restarts_of_the_emulator(tmp_path: Path):
    path = tmp_path / "aws-recording.jsonl"
    with running_emulator(path) as emulator:
        ddb, s3, sqs = _boot(emulator.endpoint)
        emulator.start_recording()
        ddb.put_item(TableName="things", Item={"pk": {"S": "kept"}, "raw": {"B": b"\x00\x01"}})
        for _ in range(30):  # a counter: 30 writes of history, one item of state
            ddb.update_item(TableName="things", Key={"pk": {"S": "kept"}}, UpdateExpression="ADD n :one",
                            ExpressionAttributeValues={":one": {"N": "1"}})
        ddb.put_item(TableName="things", Item={"pk": {"S": "gone"}})
        ddb.delete_item(TableName="things", Key={"pk": {"S": "gone"}})
        s3.put_object(Bucket="files", Key="dir/a b.bin", Body=b"\x00\xffbinary")
        ddb.scan(TableName="things")
        queue = sqs.create_queue(QueueName="work")["QueueUrl"]
        sqs.send_message(QueueUrl=queue, MessageBody="x")
        sqs.receive_message(QueueUrl=queue)
    # the server kept only writes while it ran (chalicelib/local/moto_server.py)
    recorded = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(recorded) == 34 and all(recording.is_persistent_write(e) for e in recorded)
    expected = [{"pk": {"S": "kept"}, "raw": {"B": b"\x00\x01"}, "n": {"N": "30"}}]

    recording.compact(path)
    with running_emulator(path, free_port()) as emulator:  # another port: replay must not care
        ddb, s3, sqs = _boot(emulator.endpoint)
        emulator.replay_recording()
        assert ddb.scan(TableName="things")["Items"] == expected
        assert s3.get_object(Bucket="files", Key="dir/a b.bin")["Body"].read() == b"\x00\xffbinary"
        assert sqs.list_queues().get("QueueUrls", []) == []  # queues are not replayed; re-drive rebuilds work
        # the history of 33 DynamoDB writes becomes one BatchWriteItem of the one item left
        assert recording.rewrite_with_snapshot(path, ddb, emulator.endpoint, "us-east-1") == 2

    with running_emulator(path) as emulator:
        ddb, s3, _ = _boot(emulator.endpoint)
        emulator.replay_recording()
        assert ddb.scan(TableName="things")["Items"] == expected
        assert s3.get_object(Bucket="files", Key="dir/a b.bin")["Body"].read() == b"\x00\xffbinary"
