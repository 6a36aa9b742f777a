"""Every test here runs against the emulated AWS (moto in-process, tests/conftest.py)."""

import pytest


@pytest.fixture(scope="session", autouse=True)
def _aws(emulated_aws):
    yield
