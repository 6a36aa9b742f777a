"""Unit tests run without the emulated AWS: a call that reaches for AWS anyway fails at once
(a refused local port) instead of trying the real endpoint. Per test, so the setting never
outlives a unit test into the integration tests of the same session."""

import pytest


@pytest.fixture(autouse=True)
def _no_aws(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
