"""The fixed bounce and spam thresholds (seed-C §1.1, acceptance check 9)."""

from __future__ import annotations

import pytest

from chalicelib.sending.deliverability import CRITICAL, GOOD, WARNING, bounce_level, spam_level


@pytest.mark.parametrize("rate,expected", [(0.0, GOOD), (1.9, GOOD), (2.0, WARNING), (5.0, WARNING),
                                           (5.01, CRITICAL)])
def test_bounce_rate_levels(rate, expected):
    assert bounce_level(rate) == expected


@pytest.mark.parametrize("rate,expected", [(0.079, GOOD), (0.08, WARNING), (0.1, WARNING), (0.11, CRITICAL)])
def test_spam_rate_levels(rate, expected):
    assert spam_level(rate) == expected

