"""A small authoritative DNS server (dnslib) whose records can change while it runs.

Tests start one on 127.0.0.1 and point POSTLINE_DNS_RESOLVER at it. People can run it
beside ``make run`` to publish a domain's records locally; it re-reads the zone file
whenever the file changes:

    python -m tests.dnsstub --zone my.zone --port 5353
    POSTLINE_DNS_RESOLVER=127.0.0.1:5353 make run

Like a real authoritative server it answers NXDOMAIN for unknown names and an empty
answer for a known name without the asked type; a CNAME is returned for any type asked at
its name (without following it, as dnslib's ZoneResolver does).
"""

from __future__ import annotations

import argparse
import os
import threading
import time

from dnslib import QTYPE, RCODE, RR
from dnslib.server import BaseResolver, DNSLogger, DNSServer


class StubZone(BaseResolver):
    def __init__(self, zone_file: str | None = None) -> None:
        self._records: dict[str, list[RR]] = {}
        self._lock = threading.Lock()
        self._zone_file, self._mtime = zone_file, 0.0

    @staticmethod
    def _key(name: str) -> str:
        return name.rstrip(".").lower()

    def set(self, name: str, rtype: str, *values: str, ttl: int = 60) -> None:
        """Replace every ``rtype`` record at ``name`` with ``values`` (zone-file syntax)."""
        rrs = [rr for v in values for rr in RR.fromZone(f"{self._key(name)}. {ttl} IN {rtype} {v}")]
        with self._lock:
            kept = [rr for rr in self._records.get(self._key(name), []) if QTYPE[rr.rtype] != rtype]
            self._records[self._key(name)] = kept + rrs

    def remove(self, name: str, rtype: str | None = None) -> None:
        with self._lock:
            kept = [rr for rr in self._records.get(self._key(name), [])
                    if rtype is not None and QTYPE[rr.rtype] != rtype]
            if kept:
                self._records[self._key(name)] = kept
            else:
                self._records.pop(self._key(name), None)

    def load(self, zone_text: str) -> None:
        records: dict[str, list[RR]] = {}
        for rr in RR.fromZone(zone_text):
            records.setdefault(self._key(str(rr.rname)), []).append(rr)
        with self._lock:
            self._records = records

    def _reload_if_changed(self) -> None:
        if not self._zone_file:
            return
        try:
            mtime = os.stat(self._zone_file).st_mtime
        except OSError:
            return
        if mtime != self._mtime:
            self._mtime = mtime
            with open(self._zone_file) as fh:
                self.load(fh.read())

    def resolve(self, request, handler):  # dnslib's interface
        self._reload_if_changed()
        reply = request.reply()
        name, qtype = self._key(str(request.q.qname)), QTYPE[request.q.qtype]
        with self._lock:
            rrs = list(self._records.get(name, []))
        if not rrs:
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        for rr in rrs:
            if QTYPE[rr.rtype] in (qtype, "CNAME") or qtype == "ANY":
                reply.add_answer(rr)
        return reply


def start(zone: StubZone, port: int = 0, address: str = "127.0.0.1") -> DNSServer:
    """Serve ``zone`` over UDP in a thread; ``port=0`` picks a free port (``server.server.server_address``)."""
    server = DNSServer(zone, port=port, address=address, logger=DNSLogger("-request,-reply,-truncated,-error"))
    server.start_thread()
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve a zone file for POSTLINE_DNS_RESOLVER (reloads on change)")
    parser.add_argument("--zone", required=True, help="zone file, e.g. from python -m local.domains zone")
    parser.add_argument("--port", type=int, default=5353)
    parser.add_argument("--address", default="127.0.0.1")
    args = parser.parse_args()
    zone = StubZone(args.zone)
    zone._reload_if_changed()
    start(zone, args.port, args.address)
    where = f"{args.address}:{args.port}"
    print(f"serving {args.zone} on {where} (UDP); set POSTLINE_DNS_RESOLVER={where}")
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
