"""Finish the SAM template `chalice package` writes, with settings Chalice cannot express.

Usage: python infra/postprocess_sam.py build/package/sam.yaml [--translated OUT.yaml]
(`make package` runs it, then cfn-lint on both files.)

- Every SQS event source gets FunctionResponseTypes: [ReportBatchItemFailures]. Postline's
  consumers return {"batchItemFailures": [...]} (chalicelib/core/queues.process_batch);
  without this setting Lambda ignores the list and a batch with one bad record is retried
  whole, and a record that succeeded is redone. Chalice names these events
  "<Function>SqsEventSource", Type: SQS; this matches on the type, not the name.
- Every custom domain of infra/template.yaml is mapped to the REST API (map_custom_domains), and
  the bootstrap function is named in the outputs (bootstrap_output) for `make bootstrap`.
- Every AWS::Serverless::Api answers an unknown route with 404 {"error": "Not Found"}, as
  the app does for unknown resources, instead of API Gateway's 403 "Missing Authentication
  Token". It is set as the Api's GatewayResponses (which SAM writes into the API
  definition) rather than as an AWS::ApiGateway::GatewayResponse in infra/template.yaml,
  because a separate resource takes effect only after a later redeployment of the API.

With --translated, the finished template is also put through the SAM transform (offline,
as CloudFormation will do it) and the plain CloudFormation result written to OUT: cfn-lint
does not expand SAM resources itself, so this is what checks the AWS::Serverless parts
(an unknown SAM property fails here, not at deploy time).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
from pathlib import Path
from typing import Any

import yaml

NOT_FOUND_RESPONSE = {
    "StatusCode": 404,
    "ResponseTemplates": {"application/json": json.dumps({"error": "Not Found"})},
}


def _resources(template: dict[str, Any], kind: str) -> list[tuple[str, dict[str, Any]]]:
    return [(name, res) for name, res in (template.get("Resources") or {}).items() if res.get("Type") == kind]


def _queues_by_name(template: dict[str, Any]) -> dict[str, str]:
    """Real queue name -> logical id, resolving the "${ResourcePrefix}<name>" convention."""
    prefix = os.environ.get("POSTLINE_RESOURCE_PREFIX") or (
        template.get("Parameters", {}).get("ResourcePrefix", {}).get("Default", ""))
    out = {}
    for logical_id, queue in _resources(template, "AWS::SQS::Queue"):
        name = queue.get("Properties", {}).get("QueueName")
        if isinstance(name, dict):
            name = name.get("Fn::Sub", "")
        if isinstance(name, str):
            out[name.replace("${ResourcePrefix}", prefix)] = logical_id
    return out


def report_batch_item_failures(template: dict[str, Any]) -> list[str]:
    """Set ReportBatchItemFailures on every SQS event and point it at its queue resource.

    Chalice names the queue by a built ARN string; GetAtt on the queue resource makes
    CloudFormation create the queue before the mapping and fails the build if a consumer's
    queue is missing from infra/template.yaml. Returns the events changed.
    """
    queues = _queues_by_name(template)
    changed = []
    for name, function in _resources(template, "AWS::Serverless::Function"):
        for event_name, event in (function.get("Properties", {}).get("Events") or {}).items():
            if event.get("Type") == "SQS":
                props = event.setdefault("Properties", {})
                props["FunctionResponseTypes"] = ["ReportBatchItemFailures"]
                arn = props.get("Queue")
                arn = arn.get("Fn::Sub", "") if isinstance(arn, dict) else str(arn or "")
                queue_name = arn.rsplit(":", 1)[-1]
                if queue_name not in queues:
                    raise SystemExit(
                        f"{name} consumes queue {queue_name!r}, which infra/template.yaml does not declare")
                props["Queue"] = {"Fn::GetAtt": [queues[queue_name], "Arn"]}
                changed.append(f"{name}.{event_name}")
    return changed


def signing_secret_parameter(template: dict[str, Any]) -> list[str]:
    """Give every function POSTLINE_SIGNING_SECRET from a NoEcho stack parameter.

    The secret signs unsubscribe and raw-message links and must never sit in the repository
    or in .chalice/config.json, so `make deploy` passes it as SigningSecret at deploy time.
    """
    template.setdefault("Parameters", {})["SigningSecret"] = {
        "Type": "String", "NoEcho": True, "MinLength": 16,
        "Description": "HMAC key of unsubscribe and raw-message links (POSTLINE_SIGNING_SECRET)"}
    changed = []
    for name, function in _resources(template, "AWS::Serverless::Function"):
        env = function.setdefault("Properties", {}).setdefault("Environment", {}).setdefault("Variables", {})
        env["POSTLINE_SIGNING_SECRET"] = {"Ref": "SigningSecret"}
        changed.append(name)
    return changed


def not_found_for_unknown_routes(template: dict[str, Any]) -> list[str]:
    changed = []
    for name, api in _resources(template, "AWS::Serverless::Api"):
        responses = api.setdefault("Properties", {}).setdefault("GatewayResponses", {})
        responses["MISSING_AUTHENTICATION_TOKEN"] = NOT_FOUND_RESPONSE
        changed.append(name)
    return changed


def map_custom_domains(template: dict[str, Any]) -> list[str]:
    """Map each custom domain of infra/template.yaml (AWS::ApiGateway::DomainName) to Chalice's
    REST API at the root of its stage, under the domain's own condition. Done here because
    the API (RestAPI) exists only in Chalice's half of the template. Returns the domains mapped."""
    apis = _resources(template, "AWS::Serverless::Api")
    if not apis:
        return []
    api = apis[0][0]
    mapped = []
    for name, domain in _resources(template, "AWS::ApiGateway::DomainName"):
        mapping: dict[str, Any] = {"Type": "AWS::ApiGateway::BasePathMapping", "Properties": {
            "DomainName": {"Ref": name}, "RestApiId": {"Ref": api}, "Stage": {"Ref": f"{api}.Stage"}}}
        if "Condition" in domain:
            mapping["Condition"] = domain["Condition"]
        template["Resources"][f"{name}Mapping"] = mapping
        mapped.append(name)
    return mapped


def bootstrap_output(template: dict[str, Any]) -> str | None:
    """Name the bootstrap function (app.py's ``bootstrap``) in the stack's outputs, for `make bootstrap`."""
    for name, function in _resources(template, "AWS::Serverless::Function"):
        if function.get("Properties", {}).get("Handler") == "app.bootstrap":
            template.setdefault("Outputs", {})["BootstrapFunctionName"] = {
                "Description": "invoked once by `make bootstrap` to create the first owner account",
                "Value": {"Ref": name}}
            return name
    return None


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True  # plain YAML: no &id001 anchors for shared dicts


def translate(template: dict[str, Any]) -> dict[str, Any]:
    """The CloudFormation the SAM transform makes of ``template``; raises on invalid SAM."""
    from samtranslator.translator.transform import transform

    class NoManagedPolicies:  # Postline's roles use inline policies only; no IAM lookup
        def load(self) -> dict[str, str]:
            return {}

    sam = copy.deepcopy(template)
    for _, function in _resources(sam, "AWS::Serverless::Function"):
        function["Properties"]["CodeUri"] = "s3://offline-check/deployment.zip"  # uploaded at deploy
    return transform(sam, {}, NoManagedPolicies())


def dump(template: dict[str, Any]) -> str:
    return yaml.dump(template, Dumper=_Dumper, sort_keys=False, default_flow_style=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Finish and check the SAM template from chalice package.")
    parser.add_argument("sam", type=Path)
    parser.add_argument("--translated", type=Path, help="write the SAM-transformed CloudFormation here")
    args = parser.parse_args(argv)
    template = yaml.safe_load(args.sam.read_text())
    events = report_batch_item_failures(template)
    apis = not_found_for_unknown_routes(template)
    signing_secret_parameter(template)
    domains = map_custom_domains(template)
    bootstrap = bootstrap_output(template)
    args.sam.write_text(dump(template))
    print(f"{args.sam}: ReportBatchItemFailures on {len(events)} SQS event(s){': ' if events else ''}"
          f"{', '.join(events)}; 404 for unknown routes on {', '.join(apis) or 'no API'}; "
          f"custom domains mapped: {', '.join(domains) or 'none'}; bootstrap function: {bootstrap or 'none'}")
    if args.translated:
        args.translated.write_text(dump(translate(template)))
        print(f"{args.translated}: the SAM transform accepted it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
