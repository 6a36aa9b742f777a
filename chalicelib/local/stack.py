"""Create Postline's resources on the local AWS emulation from infra/template.yaml.

moto's CloudFormation does the work (intrinsics, ordering, names); a short post-pass fills
what it skips (shared/spec/extracts/stack-probe-2.md): TTL settings. Resources of type
AWS::Serverless::* are overrides of Chalice's own functions, meaningful only when merged
into the SAM template, so they are left out here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from chalicelib import aws
from chalicelib.core.config import settings

TEMPLATE = Path(__file__).resolve().parents[2] / "infra" / "template.yaml"
STACK_NAME = "postline"


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


def local_template(path: Path = TEMPLATE) -> dict[str, Any]:
    template = load_template(path)
    template["Resources"] = {
        name: res for name, res in template["Resources"].items()
        if not res["Type"].startswith("AWS::Serverless::")
    }
    return template


def deploy(path: Path = TEMPLATE) -> dict[str, Any]:
    """Create (or leave in place) the stack on the emulator and apply the post-pass."""
    import json

    template = local_template(path)
    cfn = aws.client("cloudformation")
    existing = [s for s in cfn.list_stacks()["StackSummaries"]
                if s["StackName"] == STACK_NAME and s["StackStatus"] != "DELETE_COMPLETE"]
    if not existing:
        cfn.create_stack(
            StackName=STACK_NAME,
            TemplateBody=json.dumps(template),
            Parameters=[{"ParameterKey": "ResourcePrefix", "ParameterValue": settings().resource_prefix}],
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
        )
    _post_pass(template)
    return template


def _post_pass(template: dict[str, Any]) -> None:
    ddb = aws.client("dynamodb")
    prefix = settings().resource_prefix
    for res in template["Resources"].values():
        if res["Type"] == "AWS::DynamoDB::Table":
            ttl = res["Properties"].get("TimeToLiveSpecification")
            if ttl and ttl.get("Enabled"):
                name = _subst(res["Properties"]["TableName"], prefix)
                ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={
                    "AttributeName": ttl["AttributeName"], "Enabled": True})


def _subst(value: Any, prefix: str) -> str:
    """Resolve the "${ResourcePrefix}name" form used for every resource name."""
    text = value["Fn::Sub"] if isinstance(value, dict) else value
    return text.replace("${ResourcePrefix}", prefix)
