"""The domains capability's tables, queues and routes agree with infra/template.yaml and OpenAPI."""

from __future__ import annotations

from chalicelib.core import health, openapi
from chalicelib.domains import instructions, verification
from chalicelib.domains.models import Domain, DomainAccountSettings, SetupInstructionRequest
from local import stack


def _by_table_name(template: dict) -> dict:
    return {res["Properties"]["TableName"]["Fn::Sub"].replace("${ResourcePrefix}", ""): res["Properties"]
            for res in template["Resources"].values() if res["Type"] == "AWS::DynamoDB::Table"}


def test_models_have_their_tables_with_the_same_keys_and_indexes():
    tables = _by_table_name(stack.load_template())
    for model in (Domain, DomainAccountSettings, SetupInstructionRequest):
        props = tables[model.Meta.table_name.replace("postline-dev-", "")]
        keys = {k["AttributeName"]: k["KeyType"] for k in props["KeySchema"]}
        model_keys = {name: ("HASH" if attr.is_hash_key else "RANGE")
                      for name, attr in model.get_attributes().items() if attr.is_hash_key or attr.is_range_key}
        assert keys == model_keys, model.__name__
        indexes = {i["IndexName"]: {k["AttributeName"]: k["KeyType"] for k in i["KeySchema"]}
                   for i in props.get("GlobalSecondaryIndexes", [])}
        model_indexes = {idx.Meta.index_name: {a.attr_name: ("HASH" if a.is_hash_key else "RANGE")
                                               for a in idx.Meta.attributes.values()}
                         for idx in model._indexes.values()} if hasattr(model, "_indexes") else {}
        assert indexes == model_indexes, model.__name__


def test_queues_have_a_dlq_and_report_healthy():
    resources = stack.load_template()["Resources"]
    queues = {res["Properties"]["QueueName"]["Fn::Sub"].replace("${ResourcePrefix}", ""): res["Properties"]
              for res in resources.values() if res["Type"] == "AWS::SQS::Queue"}
    for name in (verification.CHECK_QUEUE, instructions.QUEUE):
        dlq = queues[name]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        assert resources[dlq]["Properties"]["QueueName"]["Fn::Sub"].endswith(f"{name}-dlq")
    report = health.report()
    assert report["queues"][verification.CHECK_QUEUE] == "ok"
    assert report["queues"][instructions.QUEUE] == "ok"
    assert report["tables"]["postline-dev-domains"] == "ok"


def test_every_domain_route_is_documented(app):
    doc = openapi.document()["paths"]
    served = {(p, m.lower()) for p, methods in app.routes.items() for m in methods if "domains" in p}
    documented = {(p, m) for p, item in doc.items() if "domains" in p for m in item if m in openapi.METHODS}
    assert served == documented
