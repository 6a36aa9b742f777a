"""Plans and the limits they carry (seed: Sending Limits; glossary: monthly limit).

- Hourly throughput is a soft limit: mail over it is queued and sent in a later hour.
  150/hour at signup; paid plans start at 600 or 800 (seed-B §6).
- The daily cap exists on the free plan only (150/day): over it mail is rejected.
- The monthly quota is the plan's volume (free: 4,000): over it mail is rejected, and SMTP
  answers ``535 5.7.0 Monthly messages limit reached``.
A self-hosted operator moves an account to another plan or sets any value with
``python -m local.limits``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    key: str
    name: str  # as the billing usage shows it
    hourly: int | None  # None: no hourly rate
    daily: int | None  # None: no daily cap
    monthly: int | None  # None: no monthly quota
    testing_sent: int  # sandbox volumes, reported by billing usage
    testing_forwarded: int


PLANS = {p.key: p for p in (
    Plan("free", "Free", hourly=150, daily=150, monthly=4_000, testing_sent=100, testing_forwarded=0),
    Plan("basic", "Basic 10K", hourly=600, daily=None, monthly=10_000, testing_sent=500, testing_forwarded=100),
    Plan("business", "Business 100K", hourly=800, daily=None, monthly=100_000, testing_sent=5_000,
         testing_forwarded=1_000),
    Plan("enterprise", "Enterprise 1.5M", hourly=800, daily=None, monthly=1_500_000, testing_sent=50_000,
         testing_forwarded=10_000),
    Plan("unlimited", "Unlimited", hourly=None, daily=None, monthly=None, testing_sent=1_000_000,
         testing_forwarded=1_000_000),
)}
DEFAULT_PLAN = "free"


def plan(key: str | None) -> Plan:
    return PLANS.get((key or "").lower(), PLANS[DEFAULT_PLAN])
