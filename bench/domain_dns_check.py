"""How long one domain's DNS check takes: Postline's parallel lookups vs one after another.

A dnslib server on 127.0.0.1 answers after a fixed delay, standing in for a recursive
resolver on a cache miss. Both runs use the same record checks (chalicelib.domains.dnscheck)
on the same published records; the baseline runs them sequentially.

    .venv/bin/python bench/domain_dns_check.py
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.dnsstub import StubZone, start  # noqa: E402

LATENCY_S = 0.02  # per answer
DOMAINS = 15


class SlowZone(StubZone):
    def resolve(self, request, handler):
        time.sleep(LATENCY_S)
        return super().resolve(request, handler)


def main() -> None:
    zone = SlowZone()
    server = start(zone)
    os.environ["POSTLINE_DNS_RESOLVER"] = f"127.0.0.1:{server.server.server_address[1]}"
    from chalicelib.core import config

    config.reload()
    from chalicelib.domains import dnscheck, records

    domains = []
    for i in range(DOMAINS):
        name = f"bench{i}.example.org"
        recs = records.build(name, f"plbench{i}", [f"tok{i}a", f"tok{i}b", f"tok{i}c"])
        for r in recs:
            value = {"TXT": f'"{r.value}"', "MX": f"{r.value}."}.get(r.type, r.value + ".")
            zone.set(r.domain, r.type, value)
        domains.append((name, [(r.key, r.type, r.domain, r.value) for r in recs]))

    def parallel(name, items):
        outcomes, caa = dnscheck.check_all(items, name, records.tracking_hostname(name))
        return outcomes + [caa]

    def sequential(name, items):
        res = dnscheck.resolver()
        outcomes = [dnscheck.check_record(res, *item, name) for item in items]
        return outcomes + [dnscheck.check_caa(res, records.tracking_hostname(name))]

    timings = {}
    for label, fn in (("sequential (baseline)", sequential), ("parallel (postline)", parallel)):
        per_domain = []
        for name, items in domains:
            t0 = time.perf_counter()
            outcomes = fn(name, items)
            per_domain.append((time.perf_counter() - t0) * 1000)
            assert all(o.status == dnscheck.PASS for o in outcomes), outcomes
        timings[label] = statistics.median(per_domain)
        print(f"{label:<24} median {timings[label]:7.1f} ms per domain "
              f"({len(domains[0][1])} records + CAA, {LATENCY_S * 1000:.0f} ms per DNS answer)")
    server.stop()
    ours, base = timings["parallel (postline)"], timings["sequential (baseline)"]
    # RESULT lines are "higher is better": domains checked per second, ours over the baseline's.
    print(f"RESULT domain_dns_check {1000 / ours:.1f} domains/s ratio={base / ours:.2f}")


if __name__ == "__main__":
    main()
