"""Renders per second of a mid-size template: Postline's engine beside bare pybars3.

Postline's side is the call the sending pipeline makes per message, ``render_string(source,
variables)``: content hash, cache lookup, render with the guide's helpers. The baseline is
pybars3 compiling the same source once and calling the compiled function. Both run in the
same process, in alternating rounds, and the median round of each is reported.

Run from the repository root: ``.venv/bin/python bench/templates.py``
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pybars import Compiler  # noqa: E402

from chalicelib.templates import engine  # noqa: E402

ROUNDS = 5
ROUND_SECONDS = 0.6

ROW = """        <tr>
          <td>{{name}}</td>
          <td>{{quantity}}</td>
          <td>${{price}}</td>
          <td>{{#if discount}}-{{discount}}%{{else}}&mdash;{{/if}}</td>
        </tr>
"""
TEMPLATE = """<html>
  <body>
    <h1>Order {{order.number}}</h1>
    <p>Hello {{customer.name}},</p>
    <p>Thank you for your order. We are getting it ready and will let you know when it ships.</p>
    <table>
      <tbody>
        {{#each order.items}}
""" + ROW + """        {{/each}}
      </tbody>
    </table>
    {{#with customer.address}}
    <address>
      {{#if company}}{{company}}<br>{{/if}}
      {{street}}<br>{{city}}, {{zip}}<br>{{country}}
    </address>
    {{else}}
    <p>No shipping address.</p>
    {{/with}}
    <p>Shipping {{#unless order.isRush}}within 3-5 business days{{else}}within 24 hours{{/unless}}.</p>
    <p>Total: ${{order.total}}</p>
    {{#if footer}}<p>{{{footer}}}</p>{{/if}}
  </body>
</html>
"""
VARIABLES = {
    "customer": {"name": "Jane <Doe>", "address": {
        "company": "Acme & Co", "street": "1 Main St", "city": "Anytown", "zip": "12345", "country": "USA"}},
    "order": {"number": "A-1001", "isRush": False, "total": 1234.5, "items": [
        {"name": f"Product {i}", "quantity": i % 4 + 1, "price": 10 * i, "discount": i % 3 * 5} for i in range(28)]},
    "footer": "<a href='https://example.com/help'>Help</a>",
}


def rate(render) -> float:
    count, start = 0, time.perf_counter()
    deadline = start + ROUND_SECONDS
    while time.perf_counter() < deadline:
        for _ in range(50):
            render()
        count += 50
    return count / (time.perf_counter() - start)


def main() -> None:
    t0 = time.perf_counter()
    bare = Compiler().compile(TEMPLATE)
    bare_compile = time.perf_counter() - t0
    engine.clear_cache()
    t0 = time.perf_counter()
    ours_output = engine.render_string(TEMPLATE, VARIABLES)
    ours_compile = time.perf_counter() - t0
    bare_output = bare(VARIABLES)
    # same work: identical up to the line breaks pybars loses inside #each
    assert " ".join(ours_output.split()) == " ".join(bare_output.split()), "outputs differ"

    ours_rates, bare_rates = [], []
    for _ in range(ROUNDS):
        bare_rates.append(rate(lambda: bare(VARIABLES)))
        ours_rates.append(rate(lambda: engine.render_string(TEMPLATE, VARIABLES)))
    ours, base = statistics.median(ours_rates), statistics.median(bare_rates)
    print(f"template: {len(TEMPLATE)} chars source, {len(ours_output)} chars output, 28 rows")
    print(f"first compile: postline {ours_compile * 1000:.1f} ms, bare pybars3 {bare_compile * 1000:.1f} ms")
    print("rounds postline (renders/s):", ", ".join(f"{r:.0f}" for r in ours_rates))
    print("rounds bare     (renders/s):", ", ".join(f"{r:.0f}" for r in bare_rates))
    print(f"postline: {ours:.0f} renders/s ({1e6 / ours:.0f} us each); bare pybars3: {base:.0f} renders/s "
          f"({1e6 / base:.0f} us each)")
    print(f"RESULT templates {ours:.0f} renders/s ratio={ours / base:.2f}")


if __name__ == "__main__":
    main()
