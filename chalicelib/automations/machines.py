"""Step Functions: one state machine per activated automation version, one execution per run.

Machines are created through the API at activation, not declared in CloudFormation: a
version exists only once someone activates it, and (locally) moto's executing backend does
not see machines that CloudFormation created (shared/spec/extracts/stack-probe-2.md §6).
"""

from __future__ import annotations

import json
import logging
from functools import lru_cache
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.automations import compiler
from chalicelib.automations.models import AutomationVersion
from chalicelib.core import aws, queues
from chalicelib.core.config import settings

log = logging.getLogger("postline.automations")
ACTIONS_QUEUE = queues.register("automation-actions")


def machine_name(account_id: int, automation_id: int, version: int) -> str:
    return f"{settings().resource_prefix}automation-{account_id}-{automation_id}-v{version}"[:80]


@lru_cache(maxsize=1)
def _account_id() -> str:
    return aws.client("sts").get_caller_identity()["Account"]


def role_arn() -> str:
    """POSTLINE_AUTOMATION_ROLE_ARN, or the role infra/template.yaml creates under its fixed name."""
    configured = settings().automation_role_arn
    if configured:
        return configured
    return f"arn:aws:iam::{_account_id()}:role/{settings().resource_prefix}automations-sfn"


def definition_for(name: str, version: int, steps: list[dict[str, Any]]) -> dict[str, Any]:
    return compiler.compile_asl(steps, name=name, version=version, queue_url=aws.queue_url(ACTIONS_QUEUE),
                                runs_table=settings().table_name("automation_runs"),
                                stats_table=settings().table_name("automation_stats"))


def ensure_machine(account_id: int, automation_id: int, version: int, definition: dict[str, Any]) -> str:
    """Create the version's state machine (or find it, if a retry already did); return its ARN."""
    sfn = aws.client("stepfunctions")
    name = machine_name(account_id, automation_id, version)
    try:
        return sfn.create_state_machine(
            name=name, definition=json.dumps(definition), roleArn=role_arn(), type="STANDARD",
        )["stateMachineArn"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "StateMachineAlreadyExists":
            raise
    arn = f"arn:aws:states:{settings().region}:{_account_id()}:stateMachine:{name}"
    sfn.describe_state_machine(stateMachineArn=arn)  # raises if the guess is wrong
    return arn


def make(automation_name: str, record: AutomationVersion) -> str:
    """Create a version's state machine from its record (or find it); its ARN."""
    version = int(record.version)
    return ensure_machine(record.account_id, record.automation_id, version,
                          definition_for(automation_name, version, record.steps or []))


def compile_version(automation_name: str, record: AutomationVersion) -> str:
    """The state machine of a version record, made and written to the record the first time."""
    if not record.state_machine_arn:
        arn = make(automation_name, record)
        record.update(actions=[AutomationVersion.state_machine_arn.set(arn)])
    return record.state_machine_arn


def start(machine_arn: str, execution_name: str, payload: dict[str, Any]) -> str:
    """Start one execution; a second start under the same name is the same run (idempotent)."""
    sfn = aws.client("stepfunctions")
    try:
        return sfn.start_execution(stateMachineArn=machine_arn, name=execution_name,
                                   input=json.dumps(payload))["executionArn"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ExecutionAlreadyExists":
            raise
        log.info("execution %s already exists; not starting it twice", execution_name)
        return machine_arn.replace(":stateMachine:", ":execution:") + f":{execution_name}"


def answer(token: str, output: dict[str, Any] | None = None, *, error: str | None = None,
           cause: str = "") -> bool:
    """SendTaskSuccess/Failure. False when the token is already spent (a redelivered task)."""
    sfn = aws.client("stepfunctions")
    try:
        if error:
            sfn.send_task_failure(taskToken=token, error=error, cause=cause[:32000])
        else:
            sfn.send_task_success(taskToken=token, output=json.dumps(output or {}))
        return True
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("InvalidToken", "TaskTimedOut", "TaskDoesNotExist"):
            log.info("task token already answered or expired (%s)", exc.response["Error"]["Code"])
            return False
        raise
