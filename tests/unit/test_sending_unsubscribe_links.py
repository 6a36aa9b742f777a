"""Unsubscribe links in bodies: worked out once per body, then only the URL put in per
recipient. Held to the straightforward per-recipient rule over many bodies."""

from __future__ import annotations

import pytest

from chalicelib.sending import unsubscribe
from chalicelib.sending.unsubscribe import _BODY_END, FOOTER, PLACEHOLDER, has_link


def per_recipient(html, text, url):
    """The rule as written before the plans: fill, look for a link, place the footer."""
    if html is not None:
        html = html.replace(PLACEHOLDER, url)
        if not has_link(html):
            ends = list(_BODY_END.finditer(html))
            at = ends[-1].start() if ends else len(html)
            html = html[:at] + FOOTER.format(url=url) + html[at:]
    if text is not None:
        text = text.replace(PLACEHOLDER, url)
        if url not in text and "unsubscribe" not in text.lower():
            text = f"{text.rstrip()}\n\nUnsubscribe: {url}\n"
    return html, text


BODIES = [
    ("<html><body><p>News</p></body></html>", "News"),
    ("<html><body><p>News</p></BODY ></html>", "News\n\n"),
    ("<p>no body tag</p>", None),
    (None, "only text"),
    (f'<body><a href="{PLACEHOLDER}">Leave</a></body>', f"Leave: {PLACEHOLDER}"),
    (f"<body><p>Go to {PLACEHOLDER}</p></body>", "Nothing here"),
    (f"<body><a href='x'>see {PLACEHOLDER}</a></body>", "UNSUBSCRIBE by replying"),
    ('<body><a href="https://shop.example/unsubscribe?u=1">here</a></body>', "opt out: reply STOP"),
    ('<body><a href="https://shop.example/prefs">Opt-out</a></body>', None),
    ('<body><a href="https://shop.example/prefs">Manage</a> unsubscribe</body>', None),
    ("<body>one</body><body>two</body>", "x"),
    (f"<body>x</body>{PLACEHOLDER}", f"{PLACEHOLDER}{PLACEHOLDER}"),
    (f'<body><a href="{PLACEHOLDER}">a</a><a href="{PLACEHOLDER}">b</a></body>', ""),
    ("", ""),
]


@pytest.mark.parametrize(("html", "text"), BODIES)
def test_links_are_placed_as_the_per_recipient_rule_places_them(html, text):
    for n in range(3):  # the same body for several recipients: the plan is reused
        url = unsubscribe.url_for(f"00000000-0000-0000-0000-00000000000{n}")
        assert unsubscribe.with_links(html, text, url) == per_recipient(html, text, url)


def test_a_body_is_examined_once_for_many_recipients(monkeypatch):
    html = "<html><body>" + "<p>Weekly news</p>" * 200 + "</body></html>"
    calls = []
    search = unsubscribe._LINK.search
    monkeypatch.setattr(unsubscribe, "_LINK", type("Counting", (), {
        "search": staticmethod(lambda s: (calls.append(1), search(s))[1])})())
    unsubscribe._html_plan.cache_clear()
    for n in range(50):
        filled, _ = unsubscribe.with_links(html, None, unsubscribe.url_for(f"m-{n}"))
        assert filled.count("Unsubscribe</a>") == 1
    assert len(calls) == 1
