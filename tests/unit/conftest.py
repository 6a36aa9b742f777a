"""Unit tests run without the emulated AWS: a call that reaches for AWS anyway fails at once
(a refused local port) instead of trying the real endpoint."""

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def _no_aws():
    os.environ["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9"
    os.environ["AWS_MAX_ATTEMPTS"] = "1"
    yield
    os.environ.pop("AWS_ENDPOINT_URL", None)
    os.environ.pop("AWS_MAX_ATTEMPTS", None)
