"""Deployment pieces of issue 5: the tables in infra/template.yaml, and the SMTP ingress
service template (cfn-lint'ed) and image agree with the code."""

from __future__ import annotations

import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from chalicelib.core import health
from chalicelib.limits.models import AccountLimits, UsageWindow
from chalicelib.smtp.models import SmtpSessions
from chalicelib.smtp.settings import settings as smtp_settings
from chalicelib.suppressions.models import Suppression
from local import stack

ROOT = Path(__file__).resolve().parents[2]
INGRESS = ROOT / "infra" / "smtp-ingress.yaml"


def _tables(template: dict) -> dict:
    return {res["Properties"]["TableName"]["Fn::Sub"].replace("${ResourcePrefix}", ""): res["Properties"]
            for res in template["Resources"].values() if res["Type"] == "AWS::DynamoDB::Table"}


@pytest.mark.parametrize("model", [Suppression, AccountLimits, UsageWindow, SmtpSessions])
def test_models_have_their_tables(model):
    props = _tables(stack.load_template())[model.Meta.table_name.replace("postline-dev-", "")]
    keys = {k["AttributeName"]: k["KeyType"] for k in props["KeySchema"]}
    assert keys == {name: ("HASH" if attr.is_hash_key else "RANGE")
                    for name, attr in model.get_attributes().items() if attr.is_hash_key or attr.is_range_key}
    indexes = {i["IndexName"]: {k["AttributeName"]: k["KeyType"] for k in i["KeySchema"]}
               for i in props.get("GlobalSecondaryIndexes", [])}
    assert indexes == {idx.Meta.index_name: {a.attr_name: ("HASH" if a.is_hash_key else "RANGE")
                                             for a in idx.Meta.attributes.values()}
                       for idx in getattr(model, "_indexes", {}).values()}
    assert health.report()["tables"][model.Meta.table_name] == "ok"


def test_ingress_template_passes_cfn_lint():
    lint = Path(sys.executable).with_name("cfn-lint")
    result = subprocess.run([str(lint), str(INGRESS)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ingress_listeners_reach_the_containers_ports():
    resources = stack.load_template(INGRESS)["Resources"]
    defaults = smtp_settings()
    container = resources["TaskDefinition"]["Properties"]["ContainerDefinitions"][0]
    assert container["Command"] == ["python", "-m", "chalicelib.smtp"]
    env = {e["Name"]: e["Value"] for e in container["Environment"]}
    ports = {int(env[n]) for n in ("POSTLINE_SMTP_PORT", "POSTLINE_BULK_SMTP_PORT", "POSTLINE_SMTP_TLS_PORT",
                                   "POSTLINE_BULK_SMTP_TLS_PORT")}
    assert ports == {defaults.port, defaults.bulk_port, defaults.tls_port, defaults.bulk_tls_port}
    assert ports == {p["ContainerPort"] for p in container["PortMappings"]}
    assert {s["Name"] for s in container["Secrets"]} >= {"POSTLINE_SMTP_TLS_CERT", "POSTLINE_SMTP_TLS_KEY"}
    groups = {name: r["Properties"] for name, r in resources.items()
              if r["Type"] == "AWS::ElasticLoadBalancingV2::TargetGroup"}
    for props in groups.values():
        attributes = {a["Key"]: a["Value"] for a in props["TargetGroupAttributes"]}
        assert attributes["stickiness.type"] == "source_ip" and attributes["preserve_client_ip.enabled"] == "true"
    listeners = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::ElasticLoadBalancingV2::Listener"]
    by_balancer: dict[str, dict[int, int]] = {}
    for listener in listeners:
        group = groups[listener["DefaultActions"][0]["TargetGroupArn"]["Ref"]]
        by_balancer.setdefault(listener["LoadBalancerArn"]["Ref"], {})[listener["Port"]] = group["Port"]
    assert by_balancer == {
        "TransactionalLoadBalancer": {587: defaults.port, 2525: defaults.port, 465: defaults.tls_port},
        "BulkLoadBalancer": {587: defaults.bulk_port, 2525: defaults.bulk_port, 465: defaults.bulk_tls_port},
    }
    service = resources["Service"]["Properties"]
    assert {(lb["ContainerPort"], lb["TargetGroupArn"]["Ref"]) for lb in service["LoadBalancers"]} == {
        (g["Port"], name) for name, g in groups.items()}


def test_image_runs_the_ingress():
    dockerfile = (ROOT / "infra" / "smtp" / "Dockerfile").read_text()
    assert 'CMD ["python", "-m", "chalicelib.smtp"]' in dockerfile
    assert "requirements.txt" in dockerfile and "requirements-dev" not in dockerfile


def test_pem_text_certificate_leaves_no_key_on_disk_and_no_key_in_repr(tmp_path, monkeypatch):
    import dataclasses
    import tempfile

    from chalicelib.smtp import tls

    cert_path, key_path = tls.self_signed(tmp_path / "made")
    config = dataclasses.replace(smtp_settings(), tls_cert=cert_path.read_text(), tls_key=key_path.read_text())
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # where mkstemp writes the PEM text
    context, made = tls.server_context(config)
    assert made is None and context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert list(scratch.iterdir()) == []  # the temporary PEM files are gone once loaded
    assert "PRIVATE KEY" not in repr(config) and "BEGIN" not in repr(config)
