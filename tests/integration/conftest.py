"""Every test here runs against the emulated AWS (moto in-process, tests/conftest.py); and the
webhook tests' receiver fixtures."""

import pytest


@pytest.fixture(scope="session", autouse=True)
def _aws(emulated_aws):
    yield


@pytest.fixture()
def loopback(monkeypatch):
    """Webhooks may deliver to 127.0.0.0/8 (the egress guard refuses it otherwise)."""
    monkeypatch.setenv("POSTLINE_WEBHOOK_ALLOWED_NETWORKS", "127.0.0.0/8")


@pytest.fixture()
def receiver():
    """A real HTTP receiver on loopback that verifies webhook signatures (tests/webhook_support.py)."""
    from tests.webhook_support import Receiver

    r = Receiver()
    yield r
    r.close()
