"""The stats endpoints over a year of counters for 1,000,000 events, beside a read of every day.

Everything runs in one process on the in-process AWS emulation (moto), as the test suite
does. Setup (not timed): an account, three verified domains, and the counter items the
events worker would have written for 1,000,000 events (sent, delivered, bounced, opened,
clicked, spam) over the last 365 days, spread over 2 streams x 6 mailbox providers x 10
categories per domain (120 buckets a domain-day), written straight into the table: each
domain's day item and its month item (the month's sums), as ``stats.Tally`` lays them out.

Ours: every stats endpoint for a year (mid-month to mid-month, across the new year), the
last 30 days and the last 7 days, through the API. Baseline: the same calls reading every
day's item of the period (``stats.daily_spans``). Each call is made by both sides in turn, so
a busy machine slows both alike. Prints items read, AWS calls, and wall and CPU ms per query;
the result is queries per CPU second (the machine is shared: wall time adds whatever else ran).
One round by default (about 5 minutes on 2 cores: the emulator takes ~35 ms to serialise one
day's item of 720 counters, and the baseline's year reads 1,095 of them per call);
``BENCH_ROUNDS=3`` repeats each call.

Run from the repository root: ``.venv/bin/python bench/stats.py``
"""

from __future__ import annotations

import os
import random
import time
import warnings
from collections import defaultdict
from datetime import timedelta

from _stack import AwsClock, emulated_aws

warnings.filterwarnings("ignore")
EVENTS = int(os.environ.get("BENCH_EVENTS", 1_000_000))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", 1))
DOMAINS, STREAMS = 3, ("transactional", "bulk")
PROVIDERS = ("Google", "Outlook", "Yahoo", "iCloud", "Proton", "Other")
CATEGORIES = [f"Category {i}" for i in range(10)]
ENDPOINTS = ("", "/domains", "/categories", "/email_service_providers", "/date")
# per message sent: how many of each event follow it (the rest of the 1,000,000)
SHARES = {"sent": 1.0, "delivered": 0.95, "bounced": 0.03, "opened": 0.4, "clicked": 0.2, "spam": 0.01}


def counter_items(account_id: int, domain_ids: list[int], days: list) -> tuple[list[dict], int]:
    """The day and month items for EVENTS events, as DynamoDB JSON, and the events they count."""
    rng = random.Random(7)
    buckets = len(days) * DOMAINS * len(STREAMS) * len(PROVIDERS) * len(CATEGORIES)
    mean_sent = EVENTS / sum(SHARES.values()) / buckets
    items: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    events = 0
    for day in days:
        for domain_id in domain_ids:
            for stream in STREAMS:
                for provider in PROVIDERS:
                    for category in CATEGORIES:
                        sent = int(rng.random() * 2 * mean_sent + 0.5)
                        for count, share in SHARES.items():
                            n = round(sent * share + rng.random() - 0.5)
                            if n <= 0:
                                continue
                            events += n
                            name = f"{count}#{stream}#{provider}#{category}"
                            items[f"day#{day}#{domain_id}"][name] += n
                            items[f"month#{day.isoformat()[:7]}#{domain_id}"][name] += n
    return [{"account_id": {"N": str(account_id)}, "bucket": {"S": bucket},
             **{name: {"N": str(n)} for name, n in counts.items()}} for bucket, counts in items.items()], events


def main() -> None:
    with emulated_aws():
        from chalice.test import Client

        import app as app_module
        from chalicelib.accounts import service as accounts
        from chalicelib.core import aws, clock
        from chalicelib.sending import stats
        from tests.sending_support import verified_domain

        account, token = accounts.create_account("Bench", "owner@bench.example")
        domain_ids = [verified_domain(account.account_id).domain_id for _ in range(DOMAINS)]
        today = clock.now().date()
        days = [today - timedelta(days=i) for i in range(365)]
        items, events = counter_items(account.account_id, domain_ids, days)
        ddb = aws.client("dynamodb")
        for start in range(0, len(items), 25):
            ddb.batch_write_item(RequestItems={stats.StatsCounter.Meta.table_name: [
                {"PutRequest": {"Item": item}} for item in items[start:start + 25]]})
        print(f"{events:,} events in {len(items)} counter items "
              f"({DOMAINS} domains x 365 days + their months; {len(STREAMS) * len(PROVIDERS) * len(CATEGORIES)} "
              f"buckets a domain-day; one item per bucket-day would be "
              f"{365 * DOMAINS * len(STREAMS) * len(PROVIDERS) * len(CATEGORIES):,} items)")

        read = stats.read_items
        items_read = [0]

        def counted(*args):
            for item in read(*args):
                items_read[0] += 1
                yield item

        stats.read_items = counted
        periods = {"year": today - timedelta(days=364), "month": today - timedelta(days=29),
                   "week": today - timedelta(days=6)}
        headers = {"Host": "postline.test", "Authorization": f"Bearer {token}"}
        mixed_spans = stats.spans
        # (side, period, endpoint) -> [items, calls, wall s, cpu s, queries]
        figures: dict[tuple, list[float]] = defaultdict(lambda: [0, 0, 0.0, 0.0, 0])
        with Client(app_module.app) as client, AwsClock() as aws_clock:
            expected = {}
            for _ in range(ROUNDS):
                for period, start in periods.items():
                    for endpoint in ENDPOINTS:
                        for side in ("ours", "daily"):
                            stats.spans = mixed_spans if side == "ours" else stats.daily_spans
                            path = f"/api/stats{endpoint}?start_date={start}&end_date={today}"
                            items_read[0], calls = 0, aws_clock.calls
                            wall, cpu = time.perf_counter(), time.process_time()
                            response = client.http.get(path, headers=headers)
                            f = figures[(side, period, endpoint)]
                            f[2] += time.perf_counter() - wall
                            f[3] += time.process_time() - cpu
                            f[0], f[1], f[4] = f[0] + items_read[0], f[1] + aws_clock.calls - calls, f[4] + 1
                            assert response.status_code == 200, response.body
                            assert expected.setdefault(path, response.body) == response.body, path
        stats.read_items, stats.spans = read, mixed_spans

        print(f"{'period':6} {'endpoint':36} {'items ours/daily':>17} {'AWS calls ours/daily':>21} "
              f"{'ms ours/daily':>15} {'CPU ms ours/daily':>18}")
        totals = {"ours": [0.0, 0, 0, 0.0, 0], "daily": [0.0, 0, 0, 0.0, 0]}  # wall, queries, calls, cpu, items
        for period in periods:
            for endpoint in ENDPOINTS:
                o, d = figures[("ours", period, endpoint)], figures[("daily", period, endpoint)]
                for side, f in (("ours", o), ("daily", d)):
                    for i, j in ((0, 2), (1, 4), (2, 1), (3, 3), (4, 0)):
                        totals[side][i] += f[j]
                print(f"{period:6} /api/stats{endpoint:26} {o[0] / o[4]:>8.0f}/{d[0] / d[4]:<8.0f} "
                      f"{o[1] / o[4]:>10.1f}/{d[1] / d[4]:<10.1f} "
                      f"{1000 * o[2] / o[4]:>7.1f}/{1000 * d[2] / d[4]:<7.1f} "
                      f"{1000 * o[3] / o[4]:>9.1f}/{1000 * d[3] / d[4]:<8.1f}")
        for side, (wall, queries, calls, cpu, items) in totals.items():
            print(f"{side}: {items / queries:.0f} items read, {calls / queries:.1f} AWS calls, "
                  f"{1000 * wall / queries:.0f} ms, {1000 * cpu / queries:.0f} CPU ms per query; "
                  f"{1000 * cpu / max(items, 1):.1f} CPU ms per item read")
        # CPU time is what a query costs; wall time adds whatever else ran on the shared machine
        ours, daily = (totals[s][1] / totals[s][3] for s in ("ours", "daily"))
        print(f"all endpoints and periods: {ours:.2f} queries per CPU second, daily-only {daily:.2f}")
        print(f"RESULT stats {ours:.2f} queries/s ratio={ours / daily:.2f}")


if __name__ == "__main__":
    main()
