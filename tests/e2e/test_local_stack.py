"""The local stack loader: what it leaves out, and the post-pass (TTL, executable state machines)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from chalicelib.core import aws
from local import stack

TINY = """
Parameters:
  ResourcePrefix: {Type: String, Default: tiny-}
Resources:
  Jobs:
    Type: AWS::SQS::Queue
    Properties: {QueueName: !Sub "${ResourcePrefix}jobs"}
  Marks:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Sub "${ResourcePrefix}marks"
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
      TimeToLiveSpecification: {AttributeName: expires, Enabled: true}
  FlowRole:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Statement: [{Effect: Allow, Principal: {Service: states.amazonaws.com}, Action: sts:AssumeRole}]
  Flow:
    Type: AWS::StepFunctions::StateMachine
    Properties:
      StateMachineName: !Sub "${ResourcePrefix}flow"
      RoleArn: !GetAtt FlowRole.Arn
      DefinitionString: !Sub |
        {"StartAt": "Enqueue", "States": {"Enqueue": {
          "Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage",
          "Parameters": {"QueueUrl": "${Jobs}", "MessageBody": {"run.$": "$$.Execution.Name", "n.$": "$.n"}},
          "End": true}}}
  NotFoundResponse:
    Type: AWS::ApiGateway::GatewayResponse
    Properties:
      RestApiId: !Ref RestAPI
      ResponseType: MISSING_AUTHENTICATION_TOKEN
      StatusCode: "404"
  NotFoundAlarmTopic:
    Type: AWS::SNS::Topic
    Properties:
      TopicName: !Sub "${ResourcePrefix}${NotFoundResponse}"
  Worker:
    Type: AWS::Serverless::Function
    Properties: {Timeout: 30}
Outputs:
  FlowArn: {Value: !Ref Flow}
  ApiUrl: {Value: !Sub "https://${RestAPI}.execute-api.${AWS::Region}.amazonaws.com"}
"""


def _write(tmp_path: Path) -> Path:
    path = tmp_path / "template.yaml"
    path.write_text(TINY)
    return path


def test_local_template_leaves_out_what_refers_to_chalice_resources(tmp_path):
    template = stack.local_template(_write(tmp_path))
    # kept: everything declared here; left out: SAM overrides, what refers to Chalice's
    # RestAPI, and what refers to those in turn
    assert set(template["Resources"]) == {"Jobs", "Marks", "FlowRole", "Flow"}
    assert set(template["Outputs"]) == {"FlowArn"}


def test_deploy_enables_ttl_and_makes_state_machines_executable(tmp_path):
    stack.deploy(_write(tmp_path), stack_name="tiny")
    ttl = aws.client("dynamodb").describe_time_to_live(TableName="postline-dev-marks")
    assert ttl["TimeToLiveDescription"] == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires"}

    sfn, sqs = aws.client("stepfunctions"), aws.client("sqs")
    arn = "arn:aws:states:us-east-1:123456789012:stateMachine:postline-dev-flow"  # as CloudFormation named it
    run = sfn.start_execution(stateMachineArn=arn, name="run-1", input=json.dumps({"n": 7}))
    deadline = time.monotonic() + 10
    while (status := sfn.describe_execution(executionArn=run["executionArn"])["status"]) == "RUNNING":
        assert time.monotonic() < deadline, "the execution never finished"
        time.sleep(0.05)
    assert status == "SUCCEEDED"
    url = sqs.get_queue_url(QueueName="postline-dev-jobs")["QueueUrl"]
    bodies = [json.loads(m["Body"]) for m in sqs.receive_message(QueueUrl=url).get("Messages", [])]
    assert bodies == [{"run": "run-1", "n": 7}]  # "$$" survived the template and the copy

    stack.deploy(_write(tmp_path), stack_name="tiny")  # a second deploy on the same emulator is harmless
    assert sfn.describe_state_machine(stateMachineArn=arn)["name"] == "postline-dev-flow"
