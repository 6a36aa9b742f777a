"""Deliverability levels of the bounce and spam rates (seed-C §1.1, fixed thresholds).

Below the warning band a rate is good, inside it (both ends included) a warning, above it
critical: bounce 2-5%, spam 0.08-0.1%. Rates here are percentages, as the seed states them.
"""

from __future__ import annotations

GOOD, WARNING, CRITICAL = "good", "warning", "critical"
LABELS = {GOOD: "All good", WARNING: "Attention required", CRITICAL: "Critical"}  # the seed's alert labels
BOUNCE_BAND = (2.0, 5.0)
SPAM_BAND = (0.08, 0.1)


def level(rate_percent: float, band: tuple[float, float]) -> str:
    low, high = band
    if rate_percent < low:
        return GOOD
    return WARNING if rate_percent <= high else CRITICAL


def bounce_level(rate_percent: float) -> str:
    return level(rate_percent, BOUNCE_BAND)


def spam_level(rate_percent: float) -> str:
    return level(rate_percent, SPAM_BAND)
