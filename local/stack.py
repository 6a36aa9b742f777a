"""Create Postline's resources on the local AWS emulation from infra/template.yaml.

moto's CloudFormation does the work (intrinsics, ordering, names); a short post-pass fills
what it skips (shared/spec/extracts/stack-probe-2.md §1, §6):
- TimeToLiveSpecification is ignored: set it with UpdateTimeToLive;
- state machines created by CloudFormation land in moto's non-executing Step Functions
  backend: read each one back with execution off, then create it again (same name, so the
  same ARN) with execution on;
- AWS::SES::ConfigurationSet is not supported: create it through SESv2.

Left out locally: resources of type AWS::Serverless::* (overrides of Chalice's own
functions, meaningful only merged into the SAM template), and any resource that refers to
a logical id the template does not declare (a Chalice-generated resource such as RestAPI
or APIHandler), and whatever refers to those in turn.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests
import yaml

from chalicelib.core import aws
from chalicelib.core.config import settings

log = logging.getLogger("postline.local.stack")

TEMPLATE = Path(__file__).resolve().parents[1] / "infra" / "template.yaml"
STACK_NAME = "postline"
# In-process moto (mock_aws) answers its control API on this host; a server on its own.
_IN_PROCESS_CONTROL = "http://motoapi.amazonaws.com"


class CfnLoader(yaml.SafeLoader):
    """YAML loader that keeps CloudFormation short-form tags (!Ref, !Sub...) as their long form."""


def _tag(name: str):
    def construct(loader: yaml.Loader, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if name == "GetAtt" and isinstance(value, str):
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {"Ref" if name == "Ref" else f"Fn::{name}": value}
    return construct


for _name in ("Ref", "Sub", "GetAtt", "Join", "Select", "Split", "If", "Equals", "Not", "And", "Or",
              "FindInMap", "ImportValue", "Base64", "GetAZs", "Condition"):
    CfnLoader.add_constructor(f"!{_name}", _tag(_name))


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    return yaml.load(path.read_text(), Loader=CfnLoader)


_SUB_VARIABLE = re.compile(r"\$\{([^!}][^}]*)\}")


def references(node: Any) -> Iterator[str]:
    """Logical ids a template fragment refers to (Ref, GetAtt, ${...} in Sub)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                yield value
            elif key == "Fn::GetAtt":
                target = value[0] if isinstance(value, list) else str(value).split(".", 1)[0]
                yield target
            elif key == "Fn::Sub":
                text, local = (value[0], value[1]) if isinstance(value, list) else (value, {})
                for var in _SUB_VARIABLE.findall(text):
                    name = var.split(".", 1)[0]
                    if name not in local:
                        yield name
                yield from references(local)
            else:
                yield from references(value)
    elif isinstance(node, list):
        for item in node:
            yield from references(item)


def local_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """The template minus what only exists once merged with Chalice's (see module docstring)."""
    template = load_template(path)
    parameters = set(template.get("Parameters") or {})
    resources = {name: res for name, res in template["Resources"].items()
                 if not res["Type"].startswith("AWS::Serverless::")}

    def unresolved(node: Any) -> set[str]:
        return {r for r in references(node) if not r.startswith("AWS::") and r not in resources
                and r not in parameters}

    changed = True
    while changed:  # drop dependants of dropped resources until nothing changes
        changed = False
        for name, res in list(resources.items()):
            depends = res.get("DependsOn") or []
            depends = {depends} if isinstance(depends, str) else set(depends)
            missing = unresolved(res.get("Properties") or {}) | (depends - set(resources))
            if missing:
                log.info("not created locally: %s (refers to %s)", name, ", ".join(sorted(missing)))
                del resources[name]
                changed = True
    template["Resources"] = resources
    template["Outputs"] = {name: out for name, out in (template.get("Outputs") or {}).items()
                           if not unresolved(out)}
    return template


def deploy(path: Path = TEMPLATE, stack_name: str = STACK_NAME) -> dict[str, Any]:
    """Create (or leave in place) the stack on the emulator and apply the post-pass."""
    template = local_template(path)
    cfn = aws.client("cloudformation")
    existing = [s for s in cfn.list_stacks()["StackSummaries"]
                if s["StackName"] == stack_name and s["StackStatus"] != "DELETE_COMPLETE"]
    if not existing:
        parameters = []
        if "ResourcePrefix" in (template.get("Parameters") or {}):
            parameters = [{"ParameterKey": "ResourcePrefix", "ParameterValue": settings().resource_prefix}]
        cfn.create_stack(
            StackName=stack_name,
            TemplateBody=json.dumps(template),
            Parameters=parameters,
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
        )
    _post_pass(template, stack_name)
    return template


def _post_pass(template: dict[str, Any], stack_name: str) -> None:
    # Types moto's CloudFormation skips come back without ids; they are created below.
    physical = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in
                aws.client("cloudformation").describe_stack_resources(StackName=stack_name)["StackResources"]
                if "LogicalResourceId" in r}
    ddb = aws.client("dynamodb")
    machines: dict[str, dict[str, Any]] = {}
    for logical, res in template["Resources"].items():
        props = res.get("Properties") or {}
        if res["Type"] == "AWS::DynamoDB::Table":
            ttl = props.get("TimeToLiveSpecification")
            if ttl and ttl.get("Enabled"):
                ddb.update_time_to_live(TableName=physical[logical], TimeToLiveSpecification={
                    "AttributeName": ttl["AttributeName"], "Enabled": True})
        elif res["Type"] == "AWS::StepFunctions::StateMachine":
            machines[physical[logical]] = props
        elif res["Type"] == "AWS::SES::ConfigurationSet":
            _ensure_configuration_set(_resolve_prefix(props["Name"]))
    if machines:
        _recreate_state_machines(machines)


def _resolve_prefix(value: Any) -> str:
    """The "${ResourcePrefix}<name>" convention every resource name follows."""
    text = value.get("Fn::Sub", "") if isinstance(value, dict) else str(value)
    return text.replace("${ResourcePrefix}", settings().resource_prefix)


def _ensure_configuration_set(name: str) -> None:
    sesv2 = aws.client("sesv2")
    try:
        sesv2.get_configuration_set(ConfigurationSetName=name)
    except sesv2.exceptions.NotFoundException:
        sesv2.create_configuration_set(ConfigurationSetName=name)


def _control_url() -> str:
    return (settings().aws_endpoint_url or _IN_PROCESS_CONTROL).rstrip("/") + "/moto-api/config"


def _set_sfn_execution(enabled: bool) -> None:
    response = requests.post(_control_url(), json={"stepfunctions": {"execute_state_machine": enabled}}, timeout=10)
    response.raise_for_status()


def _recreate_state_machines(machines: dict[str, dict[str, Any]]) -> None:
    """Copy CloudFormation's state machines into moto's executing backend (same ARNs)."""
    sfn = aws.client("stepfunctions")
    _set_sfn_execution(False)  # the backend CloudFormation wrote to
    try:
        described = {arn: sfn.describe_state_machine(stateMachineArn=arn) for arn in machines}
    finally:
        _set_sfn_execution(True)
    for arn, machine in described.items():
        props = machines[arn]
        try:
            sfn.describe_state_machine(stateMachineArn=arn)
            continue  # already there (a second deploy on the same emulator)
        except sfn.exceptions.StateMachineDoesNotExist:
            pass
        # CloudFormation in moto keeps only name, definition and role; the type comes from
        # the template (moto does not enforce Express limits either way: stack-probe §3).
        created = sfn.create_state_machine(
            name=machine["name"], definition=machine["definition"], roleArn=machine["roleArn"],
            type=props.get("StateMachineType", "STANDARD"))
        if created["stateMachineArn"] != arn:
            raise RuntimeError(f"state machine {machine['name']} re-created as {created['stateMachineArn']}, "
                               f"not {arn}")
