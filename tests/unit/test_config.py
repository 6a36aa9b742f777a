"""core.config: derived defaults follow the values they derive from; secrets stay out of reprs."""

from __future__ import annotations

from chalicelib.core import config


def test_settings_repr_never_shows_the_signing_secret(settings_env):
    settings_env(POSTLINE_SIGNING_SECRET="s3cr3t-do-not-log")
    cfg = config.settings()
    assert cfg.signing_secret == "s3cr3t-do-not-log"
    assert "s3cr3t-do-not-log" not in repr(cfg) and "signing_secret" not in repr(cfg)
    assert "stage=" in repr(cfg)  # the rest is still there for debugging


def test_derived_defaults_follow_region_and_demo_domain(settings_env, monkeypatch):
    monkeypatch.delenv("POSTLINE_MAIL_FROM_MX", raising=False)
    monkeypatch.delenv("POSTLINE_SYSTEM_SENDER", raising=False)
    settings_env(AWS_DEFAULT_REGION="eu-west-1", POSTLINE_DEMO_DOMAIN="Demo.Example.TEST")
    cfg = config.settings()
    assert cfg.region == "eu-west-1"
    assert cfg.mail_from_mx == "feedback-smtp.eu-west-1.amazonses.com"
    assert cfg.demo_domain == "demo.example.test"
    assert cfg.system_sender == "Postline <no-reply@demo.example.test>"
    settings_env(POSTLINE_MAIL_FROM_MX="MX.Own.Example", POSTLINE_SYSTEM_SENDER="Ops <ops@own.example>")
    cfg = config.settings()
    assert (cfg.mail_from_mx, cfg.system_sender) == ("mx.own.example", "Ops <ops@own.example>")
