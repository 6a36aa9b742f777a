"""Dedicated IPs and their warm-up (seed-C §2.3).

An account may have one dedicated IP: an SES dedicated IP pool used through its own
configuration set (DeliveryOptions.SendingPoolName). During the 21-day warm-up each message
takes a slot from the IP's day and clock-hour counters (one conditional ADD each, so two
workers can't overshoot); a message without a slot goes through the shared configuration
set. Nothing is ever rejected for lack of a slot. After day 21 there is no cap.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist, UpdateError

from chalicelib.core import aws, clock, db
from chalicelib.core.config import settings
from chalicelib.core.db import BaseModel, TimestampedModel, table_name

# (per day, max per hour) for warm-up days 1..21.
WARMUP = (
    (300, 60), (390, 80), (510, 100), (660, 130), (860, 170), (1100, 220), (1400, 290),
    (1900, 380), (2400, 490), (3200, 640), (4100, 830), (5400, 1100), (7000, 1400), (9100, 1800),
    (11800, 2400), (15400, 3100), (20000, 4000), (26000, 5200), (33700, 6700), (43900, 8800),
    (57000, 11400),
)
_CACHE_SECONDS = 60.0


class DedicatedIp(TimestampedModel):
    class Meta:
        table_name = table_name("dedicated_ips")

    account_id = NumberAttribute(hash_key=True)
    ip = UnicodeAttribute()
    pool_name = UnicodeAttribute()
    configuration_set = UnicodeAttribute()
    warmup_start = UnicodeAttribute()  # YYYY-MM-DD (UTC): warm-up day 1


class IpSlots(BaseModel):
    class Meta:
        table_name = table_name("dedicated_ip_slots")

    ip = UnicodeAttribute(hash_key=True)
    window = UnicodeAttribute(range_key=True)  # "d2026-12-08" or "h2026-12-08T10"
    used = NumberAttribute(default=0)
    expires = TTLAttribute(null=True)


def warmup_day(ip: DedicatedIp, now: datetime) -> int:
    return (now.astimezone(UTC).date() - date.fromisoformat(ip.warmup_start)).days + 1


def caps(day: int) -> tuple[int, int] | None:
    """The (per day, per hour) caps of warm-up day ``day``; None after the warm-up."""
    if day > len(WARMUP):
        return None
    return WARMUP[max(day, 1) - 1]


_cache: dict[int, tuple[float, DedicatedIp | None]] = {}


def for_account(account_id: int) -> DedicatedIp | None:
    """The account's dedicated IP, cached a minute per worker (most accounts have none)."""
    hit = _cache.get(int(account_id))
    if hit and hit[0] > time.monotonic():
        return hit[1]
    try:
        ip: DedicatedIp | None = DedicatedIp.get(int(account_id))
    except DoesNotExist:
        ip = None
    _cache[int(account_id)] = (time.monotonic() + _CACHE_SECONDS, ip)
    return ip


def forget_cached() -> None:
    _cache.clear()


def _take(ip: str, window: str, cap: int, ends: datetime) -> bool:
    try:
        IpSlots(ip, window).update(
            actions=[IpSlots.used.add(1), IpSlots.expires.set(ends + timedelta(hours=2))],
            condition=IpSlots.used.does_not_exist() | (IpSlots.used < cap))
        return True
    except UpdateError as exc:
        if db.condition_failed(exc):
            return False
        raise


def take_slot(ip: DedicatedIp, now: datetime) -> bool:
    """One message's slot on the IP now: within both the clock hour's and the day's cap."""
    limit = caps(warmup_day(ip, now))
    if limit is None:
        return True
    per_day, per_hour = limit
    now = now.astimezone(UTC)
    hour = now.replace(minute=0, second=0, microsecond=0)
    day = hour.replace(hour=0)
    if not _take(ip.ip, f"h{hour:%Y-%m-%dT%H}", per_hour, hour + timedelta(hours=1)):
        return False
    if _take(ip.ip, f"d{day:%Y-%m-%d}", per_day, day + timedelta(days=1)):
        return True
    IpSlots(ip.ip, f"h{hour:%Y-%m-%dT%H}").update(actions=[IpSlots.used.add(-1)])  # give the hour's slot back
    return False


def configuration_set(account_id: int, shared: str | None, now: datetime) -> str | None:
    """The configuration set a message goes through: the dedicated pool's when it has a slot."""
    ip = for_account(account_id)
    if ip is None or warmup_day(ip, now) < 1 or not take_slot(ip, now):
        return shared
    return ip.configuration_set


def assign(account_id: int, ip: str, pool_name: str, warmup_start: date | None = None) -> DedicatedIp:
    """Give an account a dedicated IP (operators: python -m local.dedicated_ips). Creates the
    SES dedicated IP pool and its configuration set when missing."""
    ses = aws.client("sesv2")
    config_set = f"{settings().resource_prefix}dedicated-{pool_name}"
    for create, kwargs in ((ses.create_dedicated_ip_pool, {"PoolName": pool_name}),
                           (ses.create_configuration_set, {"ConfigurationSetName": config_set,
                                                           "DeliveryOptions": {"SendingPoolName": pool_name}})):
        try:
            create(**kwargs)
        except ses.exceptions.AlreadyExistsException:
            pass
    _publish_events(config_set)
    record = DedicatedIp(int(account_id), ip=ip, pool_name=pool_name, configuration_set=config_set,
                         warmup_start=(warmup_start or clock.now().date()).isoformat())
    record.save()
    _cache.pop(int(account_id), None)
    return record


EVENT_TYPES = ["send", "reject", "bounce", "complaint", "delivery", "deliveryDelay", "renderingFailure", "subscription"]


def _publish_events(config_set: str) -> None:
    """The dedicated set reports SES's events where the stream sets do (infra/template.yaml:
    the ``ses-events`` topic, feeding the events worker): without it, mail sent through the
    dedicated IP would never be marked delivered, bounced or complained."""
    topic = aws.client("sns").create_topic(Name=f"{settings().resource_prefix}ses-events")["TopicArn"]  # idempotent
    ses = aws.client("ses")  # SES v1's call: the same configuration sets, and the emulator has it
    try:
        ses.create_configuration_set_event_destination(ConfigurationSetName=config_set, EventDestination={
            # named after its set: SES scopes the name per set, the emulator across all sets
            "Name": f"{config_set}-events"[:64], "Enabled": True, "MatchingEventTypes": EVENT_TYPES,
            "SNSDestination": {"TopicARN": topic}})
    except ses.exceptions.EventDestinationAlreadyExistsException:
        pass

