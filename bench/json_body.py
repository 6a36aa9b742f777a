"""Read request bodies through the edge's JSON parser (``core.jsonbody.parse``: UTF-8,
nesting at most 64 levels, no lone surrogates) beside bare ``json.loads``, on the bodies the
API gets: a small send, one with escaped emoji (what ASCII-only encoders send), a send with a
5 MB attachment, a batch of 500 and a 50,000-contact import. No AWS is involved (0 AWS calls
per body); rounds alternate the two so both see the same machine.

    .venv/bin/python bench/json_body.py [rounds]
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from chalicelib.core import jsonbody  # noqa: E402

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 5


def bodies() -> dict[str, bytes]:
    sender = {"email": "app@example.com", "name": "App"}
    return {
        "send 1 KB": json.dumps({"from": sender, "to": [{"email": f"r{i}@x.test"} for i in range(5)],
                                 "subject": "Hi", "text": "x" * 500, "html": "<p>" + "y" * 500 + "</p>"}).encode(),
        "send with emoji": json.dumps({"from": {**sender, "name": "App \U0001F600"}, "to": ["r@x.test"],
                                       "subject": "Hi \U0001F600", "text": "x" * 500}).encode(),
        "send 5 MB attachment": json.dumps({"from": sender, "to": ["r@x.test"], "subject": "s", "text": "t",
                                            "attachments": [{"filename": "a.bin", "content": base64.b64encode(
                                                os.urandom(5_000_000)).decode()}]}).encode(),
        "batch of 500": json.dumps({"base": {"from": sender, "subject": "s", "text": "t"}, "requests": [
            {"to": [{"email": f"r{i}@x.test", "name": "R"}], "custom_variables": {"i": str(i)}}
            for i in range(500)]}).encode(),
        "import of 50,000": json.dumps({"contacts": [
            {"email": f"c{i}@x.test", "fields": {"first_name": "Ann \U0001F600", "n": i}, "list_ids_included": [1]}
            for i in range(50_000)]}).encode(),
    }


def main() -> None:
    ours_total = base_total = 0.0
    for name, raw in bodies().items():
        repeat = max(1, int(2_000_000 / len(raw)))  # about 2 MB of text per round
        ours = base = 0.0
        for _ in range(ROUNDS):
            started = time.process_time()
            for _ in range(repeat):
                json.loads(raw)
            base += time.process_time() - started
            started = time.process_time()
            for _ in range(repeat):
                jsonbody.parse(raw)
            ours += time.process_time() - started
        count = ROUNDS * repeat
        print(f"{name:>22}: {len(raw) / 1e6:6.2f} MB  json.loads {base / count * 1000:8.3f} ms  "
              f"jsonbody.parse {ours / count * 1000:8.3f} ms  CPU ms per body  0 AWS calls")
        ours_total += ours / count
        base_total += base / count
    # bodies per CPU second over the five kinds (one of each), higher is better
    print(f"RESULT json_body {1 / ours_total:.2f} body-sets/s ratio={base_total / ours_total:.2f}")


if __name__ == "__main__":
    main()
