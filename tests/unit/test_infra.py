"""infra/template.yaml against the code: every table, queue and consumer the app uses is
declared, with the same keys, indexes and dead-letter queues, and the template lints.

Data-driven: a capability that adds a model, a queue or a consumer is checked here without
editing this file.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
from chalice.app import SQSEventConfig

from chalicelib.core.config import settings
from local import stack
from local.pump import queue_name

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return stack.load_template()


@pytest.fixture(scope="module")
def all_models(app):
    from chalicelib.core.db import ALL_MODELS  # complete once app.py imported every capability

    return list(ALL_MODELS)


def _name(value: Any) -> str:
    """A resource name as deployed with this stage's prefix ("${ResourcePrefix}x" form)."""
    text = value["Fn::Sub"] if isinstance(value, dict) else value
    return text.replace("${ResourcePrefix}", settings().resource_prefix)


def _of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in template["Resources"].items() if res["Type"] == kind}


def _tables(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {_name(res["Properties"]["TableName"]): res["Properties"]
            for res in _of_type(template, "AWS::DynamoDB::Table").values()}


def _keys(key_schema: list[dict[str, str]]) -> dict[str, str]:
    return {k["KeyType"]: k["AttributeName"] for k in key_schema}


def _indexes(indexes: list[dict[str, Any]], name_key: str, schema_key: str) -> dict[str, Any]:
    return {ix[name_key]: (_keys(ix[schema_key]), ix["projection" if "projection" in ix else "Projection"]
                           ["ProjectionType"]) for ix in indexes or []}


def test_every_model_has_its_table_with_the_same_keys_and_indexes(template, all_models):
    tables = _tables(template)
    assert all_models, "no pynamodb models registered"
    for model in all_models:
        name = model.Meta.table_name
        assert name in tables, f"{model.__name__}: table {name} is not in infra/template.yaml"
        declared = tables[name]
        schema = model._get_schema()
        assert _keys(declared["KeySchema"]) == _keys(schema["key_schema"]), f"{name}: key schema differs"
        types = {a["AttributeName"]: a["AttributeType"] for a in declared["AttributeDefinitions"]}
        for attr in schema["attribute_definitions"] + [a for ix in schema["global_secondary_indexes"]
                                                       + schema["local_secondary_indexes"]
                                                       for a in ix["attribute_definitions"]]:
            assert types.get(attr["AttributeName"]) == attr["AttributeType"], \
                f"{name}: attribute {attr['AttributeName']} should be declared with type {attr['AttributeType']}"
        assert _indexes(declared.get("GlobalSecondaryIndexes"), "IndexName", "KeySchema") == \
            _indexes(schema["global_secondary_indexes"], "index_name", "key_schema"), f"{name}: GSIs differ"
        assert _indexes(declared.get("LocalSecondaryIndexes"), "IndexName", "KeySchema") == \
            _indexes(schema["local_secondary_indexes"], "index_name", "key_schema"), f"{name}: LSIs differ"
        ttl = model._ttl_attribute()
        if ttl is not None:
            spec = declared.get("TimeToLiveSpecification") or {}
            assert spec == {"AttributeName": ttl.attr_name, "Enabled": True}, f"{name}: TTL on {ttl.attr_name} missing"


def _queues(template: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    return {_name(res["Properties"]["QueueName"]): (logical, res["Properties"])
            for logical, res in _of_type(template, "AWS::SQS::Queue").items()}


def _check_queue_with_dlq(template: dict[str, Any], name: str) -> dict[str, Any]:
    queues = _queues(template)
    assert name in queues, f"queue {name} is not in infra/template.yaml"
    _, props = queues[name]
    policy = props.get("RedrivePolicy") or {}
    target = policy.get("deadLetterTargetArn") or {}
    assert target.get("Fn::GetAtt", [None])[0] in _of_type(template, "AWS::SQS::Queue"), \
        f"queue {name}: RedrivePolicy.deadLetterTargetArn must be !GetAtt <its DLQ>.Arn"
    assert int(policy.get("maxReceiveCount", 0)) >= 1, f"queue {name}: RedrivePolicy needs maxReceiveCount"
    return props


def test_every_registered_queue_has_a_dead_letter_queue(template, app):
    from chalicelib.core import queues

    for short in sorted(queues.QUEUES):
        _check_queue_with_dlq(template, settings().queue_name(short))


def test_every_dead_letter_queue_has_a_consumer_and_its_queue_a_handler(template, app):
    # nothing is stuck without a reason: a record in any DLQ ends its owner, saying why
    from chalicelib.core import deadletters, queues

    consumed = {queue_name(s) for s in app.event_sources if isinstance(s, SQSEventConfig)}
    for short in sorted(queues.QUEUES):
        dlq = settings().queue_name(deadletters.dead_letter_queue(short))
        assert dlq in _dead_letter_queues(template), f"{dlq} is not the DLQ the template gives {short}"
        assert dlq in consumed, f"{dlq} has no consumer in app.py (deadletters.settle)"
        assert short in deadletters.handlers(), \
            f"{short}: no @deadletters.register handler says what a dead record means"
    assert _dead_letter_queues(template) <= consumed, "a DLQ in infra/template.yaml has no consumer"


def _lambda_timeouts(handler: str) -> list[int]:
    """The function's timeout in every stage, looked up as chalice does (stage, per function, top level)."""
    from chalice.config import Config

    on_disk = json.loads((ROOT / ".chalice" / "config.json").read_text())
    return [Config(chalice_stage=stage, config_from_disk=on_disk).scope(stage, handler).lambda_timeout or 60
            for stage in on_disk.get("stages", {})]


def _dead_letter_queues(template: dict[str, Any]) -> set[str]:
    queues = _queues(template)
    targets = {(q.get("RedrivePolicy") or {}).get("deadLetterTargetArn", {}).get("Fn::GetAtt", [None])[0]
               for _, q in queues.values()}
    return {name for name, (logical, _) in queues.items() if logical in targets}


def test_every_consumer_reads_a_declared_queue_that_outlasts_its_function(template, app):
    # AWS refuses an event source mapping whose queue's visibility timeout is shorter than
    # the function's timeout, and the local pump refuses to start without the queue. A DLQ's
    # consumer (core/deadletters.py) reads a queue that has no DLQ of its own.
    dead = _dead_letter_queues(template)
    for source in app.event_sources:
        if isinstance(source, SQSEventConfig):
            if queue_name(source) in dead:
                props = _queues(template)[queue_name(source)][1]
            else:
                props = _check_queue_with_dlq(template, queue_name(source))
            visibility = int(props.get("VisibilityTimeout", 30))
            assert visibility >= max(_lambda_timeouts(source.name)), \
                f"{queue_name(source)}: VisibilityTimeout {visibility}s is shorter than {source.name}'s Lambda timeout"


def test_template_passes_cfn_lint():
    from cfnlint.api import ManualArgs, lint_file

    matches = lint_file(ROOT / "infra" / "template.yaml", ManualArgs())
    assert not matches, "\n".join(str(m) for m in matches)


def _chalice_like_sam() -> dict[str, Any]:
    """The shape `chalice package` writes for an SQS consumer, a schedule and the REST API."""
    function = {"Runtime": "python3.11", "Handler": "app.x", "CodeUri": "./deployment.zip"}
    return {
        "AWSTemplateFormatVersion": "2010-09-09", "Transform": "AWS::Serverless-2016-10-31",
        "Parameters": {"ResourcePrefix": {"Type": "String", "Default": "postline-dev-"}},
        "Resources": {
            "Deliver": {"Type": "AWS::Serverless::Function", "Properties": {**function, "Events": {
                "DeliverSqsEventSource": {"Type": "SQS", "Properties": {
                    "Queue": {"Fn::Sub": "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:postline-dev-q"},
                    "BatchSize": 10}}}}},
            "Purge": {"Type": "AWS::Serverless::Function", "Properties": {**function, "Events": {
                "PurgeEvent": {"Type": "Schedule", "Properties": {"Schedule": "rate(1 hour)"}}}}},
            "Q": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": {"Fn::Sub": "${ResourcePrefix}q"}}},
            "RestAPI": {"Type": "AWS::Serverless::Api", "Properties": {"StageName": "api", "DefinitionBody": {
                "swagger": "2.0", "info": {"title": "t", "version": "1"}, "paths": {}}}},
        },
    }


def test_package_postprocess_reports_batch_failures_and_404s_and_sam_accepts_it():
    spec = importlib.util.spec_from_file_location("postprocess_sam", ROOT / "infra" / "postprocess_sam.py")
    postprocess_sam = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(postprocess_sam)
    template = _chalice_like_sam()
    assert postprocess_sam.report_batch_item_failures(template) == ["Deliver.DeliverSqsEventSource"]
    assert postprocess_sam.not_found_for_unknown_routes(template) == ["RestAPI"]
    assert "FunctionResponseTypes" not in template["Resources"]["Purge"]["Properties"]["Events"]["PurgeEvent"][
        "Properties"]
    # the mapping names its queue resource, so CloudFormation creates the queue first
    queue_ref = template["Resources"]["Deliver"]["Properties"]["Events"]["DeliverSqsEventSource"]["Properties"]["Queue"]
    assert queue_ref == {"Fn::GetAtt": ["Q", "Arn"]}

    cfn = postprocess_sam.translate(template)
    mappings = [r["Properties"] for r in cfn["Resources"].values() if r["Type"] == "AWS::Lambda::EventSourceMapping"]
    assert [m["FunctionResponseTypes"] for m in mappings] == [["ReportBatchItemFailures"]]
    responses = cfn["Resources"]["RestAPI"]["Properties"]["Body"]["x-amazon-apigateway-gateway-responses"]
    assert responses["MISSING_AUTHENTICATION_TOKEN"]["statusCode"] == "404"
    assert json.loads(responses["MISSING_AUTHENTICATION_TOKEN"]["responseTemplates"]["application/json"]) == {
        "error": "Not Found"}


def test_package_postprocess_refuses_a_consumer_without_its_queue():
    spec = importlib.util.spec_from_file_location("postprocess_sam", ROOT / "infra" / "postprocess_sam.py")
    postprocess_sam = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(postprocess_sam)
    template = _chalice_like_sam()
    del template["Resources"]["Q"]
    with pytest.raises(SystemExit, match="does not declare"):
        postprocess_sam.report_batch_item_failures(template)


def test_package_postprocess_gives_every_function_the_signing_secret_from_a_noecho_parameter():
    spec = importlib.util.spec_from_file_location("postprocess_sam", ROOT / "infra" / "postprocess_sam.py")
    postprocess_sam = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(postprocess_sam)
    template = _chalice_like_sam()
    assert postprocess_sam.signing_secret_parameter(template) == ["Deliver", "Purge"]
    assert template["Parameters"]["SigningSecret"]["NoEcho"] is True
    for name in ("Deliver", "Purge"):
        env = template["Resources"][name]["Properties"]["Environment"]["Variables"]
        assert env["POSTLINE_SIGNING_SECRET"] == {"Ref": "SigningSecret"}


def test_the_four_hosts_are_custom_domains_from_stack_parameters_with_their_dns_records(template):
    from chalicelib.core import hosts

    params = template["Parameters"]
    assert params["DomainName"]["Default"] == "" and params["CertificateArn"]["Default"] == ""  # optional
    def host(name: dict[str, str]) -> str:  # {"Ref": "DomainName"} or {"Fn::Sub": "send.${DomainName}"}
        return name.get("Fn::Sub") or "${" + name["Ref"] + "}"

    domains = {host(res["Properties"]["DomainName"]): res
               for res in _of_type(template, "AWS::ApiGateway::DomainName").values()}
    assert set(domains) == {"${DomainName}", "send.${DomainName}", "bulk.${DomainName}", "sandbox.${DomainName}"}
    for res in domains.values():
        assert res["Condition"] == "HasCustomDomains"
        assert res["Properties"]["RegionalCertificateArn"] == {"Ref": "CertificateArn"}
        assert res["Properties"]["EndpointConfiguration"]["Types"] == ["REGIONAL"]
    # the sending hosts' first labels are the ones host routing knows
    for name in ("send", "bulk", "sandbox"):
        assert hosts.host_kind({"host": f"{name}.postline.example.com"}) != hosts.GENERAL
    records = template["Outputs"]["DnsRecords"]["Value"]["Fn::If"]
    assert records[0] == "HasCustomDomains"
    lines = records[1]["Fn::Sub"].strip().splitlines()
    assert [line.split()[0] for line in lines] == ["${DomainName}.", "send.${DomainName}.", "bulk.${DomainName}.",
                                                   "sandbox.${DomainName}."]
    assert all(" IN CNAME ${" in line and ".RegionalDomainName}." in line for line in lines)


def test_package_postprocess_maps_each_custom_domain_to_the_api_and_names_the_bootstrap_function():
    spec = importlib.util.spec_from_file_location("postprocess_sam", ROOT / "infra" / "postprocess_sam.py")
    postprocess_sam = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(postprocess_sam)
    template = _chalice_like_sam()
    template["Parameters"].update({"DomainName": {"Type": "String", "Default": ""},
                                   "CertificateArn": {"Type": "String", "Default": ""}})
    template["Conditions"] = {"HasCustomDomains": {"Fn::Not": [{"Fn::Equals": [{"Ref": "DomainName"}, ""]}]}}
    template["Resources"]["SendDomain"] = {"Type": "AWS::ApiGateway::DomainName", "Condition": "HasCustomDomains",
                                           "Properties": {"DomainName": {"Fn::Sub": "send.${DomainName}"},
                                                          "RegionalCertificateArn": {"Ref": "CertificateArn"},
                                                          "EndpointConfiguration": {"Types": ["REGIONAL"]}}}
    template["Resources"]["Bootstrap"] = {"Type": "AWS::Serverless::Function", "Properties": {
        "Runtime": "python3.11", "Handler": "app.bootstrap", "CodeUri": "./deployment.zip"}}
    assert postprocess_sam.map_custom_domains(template) == ["SendDomain"]
    assert postprocess_sam.bootstrap_output(template) == "Bootstrap"
    assert template["Outputs"]["BootstrapFunctionName"]["Value"] == {"Ref": "Bootstrap"}

    cfn = postprocess_sam.translate(template)
    mapping = cfn["Resources"]["SendDomainMapping"]
    assert mapping["Type"] == "AWS::ApiGateway::BasePathMapping" and mapping["Condition"] == "HasCustomDomains"
    stage = mapping["Properties"]["Stage"]["Ref"]
    assert cfn["Resources"][stage]["Type"] == "AWS::ApiGateway::Stage"  # the API's deployed stage, made first
    assert mapping["Properties"]["RestApiId"] == {"Ref": "RestAPI"} and "BasePath" not in mapping["Properties"]


def test_function_settings_name_real_functions_and_the_api_fits_api_gateway(app):
    from chalice.config import Config

    on_disk = json.loads((ROOT / ".chalice" / "config.json").read_text())
    functions = set(app.handler_map) | {"api_handler"}
    sections = [on_disk] + list(on_disk["stages"].values())
    for section in sections:  # chalice ignores settings of a function that does not exist
        assert set(section.get("lambda_functions") or {}) <= functions
    for stage in on_disk["stages"]:
        config = Config(chalice_stage=stage, config_from_disk=on_disk)
        assert config.scope(stage, "api_handler").lambda_timeout <= 29  # API Gateway answers 504 after 29 s
        for name in functions:
            scoped = config.scope(stage, name)
            assert scoped.lambda_memory_size >= 256 and scoped.lambda_timeout, name
