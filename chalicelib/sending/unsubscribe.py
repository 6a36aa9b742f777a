"""Unsubscribe links: signed per message, one-click (RFC 8058), recorded per domain and stream.

A link is ``<public API>/api/unsubscribe/<message id>.<signature>``: the signature is an
HMAC of the message id with the configured signing secret, so a link can't be forged or
pointed at another message. Using it records an opt-out of that recipient from that
domain's mail on that stream (seed: suppressions are per domain and stream; a bulk
unsubscribe leaves transactional mail alone) and an ``unsubscribe`` event on the message.
"""

from __future__ import annotations

import hmac
import re
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from chalicelib.core.config import settings
from chalicelib.core.signing import sign
from chalicelib.sending import events, stats
from chalicelib.sending.models import Message

PLACEHOLDER = "__unsubscribe_url__"
FOOTER = ('<div style="text-align: center; margin-top: 20px;">\n'
          '  <a href="{url}">Unsubscribe</a>\n</div>')
# A link whose address or text says unsubscribe / opt out counts as the sender's own.
_LINK = re.compile(
    r"<a\b[^>]*\bhref\s*=\s*[\"']?[^\"'>\s]*(unsubscribe|opt-?out)"
    r"|<a\b[^>]*>(?:(?!</a>).)*?(unsubscribe|opt[\s-]?out)(?:(?!</a>).)*?</a>",
    re.IGNORECASE | re.DOTALL)
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)


def _signature(message_id: str) -> str:
    return sign("unsubscribe", message_id)


def token_for(message_id: str) -> str:
    return f"{message_id}.{_signature(message_id)}"


def verify(token: str) -> str | None:
    """The message id a token was made for, or None if it is not genuine."""
    message_id, _, signature = (token or "").partition(".")
    if not message_id or not signature:
        return None
    return message_id if hmac.compare_digest(signature, _signature(message_id)) else None


def url_for(message_id: str) -> str:
    return f"{settings().public_api_url.rstrip('/')}/api/unsubscribe/{token_for(message_id)}"


def headers(message_id: str, domain_name: str, url: str) -> list[tuple[str, str]]:
    """List-Unsubscribe with a mailto and the one-click URL (RFC 2369, RFC 8058)."""
    mailto = f"mailto:unsubscribe@{domain_name}?subject={quote('unsubscribe ' + message_id)}"
    return [("List-Unsubscribe", f"<{mailto}>, <{url}>"),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")]


def has_link(html: str) -> bool:
    return _LINK.search(html) is not None


def with_links(html: str | None, text: str | None, url: str) -> tuple[str | None, str | None]:
    """Fill ``__unsubscribe_url__`` and add a footer link where the sender has none.

    A bulk dispatch sends one body to many recipients, each with its own URL: where the
    footer goes and whether the sender has a link of their own is worked out once per body
    (``_html_plan``, ``_text_plan``); per recipient only the URL is put in."""
    if html is not None:
        head, tail, footer = _html_plan(html, _sample_url())
        if footer:
            html = head.replace(PLACEHOLDER, url) + FOOTER.format(url=url) + tail.replace(PLACEHOLDER, url)
        else:
            html = html.replace(PLACEHOLDER, url)
    if text is not None:
        if _text_plan(text):
            text = f"{text.rstrip()}\n\nUnsubscribe: {url}\n"
        else:
            text = text.replace(PLACEHOLDER, url)
    return html, text


def _sample_url() -> str:
    return url_for("00000000-0000-0000-0000-000000000000")  # every link has this shape


@lru_cache(maxsize=8)  # bodies can be large: a few recent ones
def _html_plan(html: str, sample_url: str) -> tuple[str, str, bool]:
    """(before the last </body>, from it on, whether a footer link is needed): the sender
    has no link of their own once the placeholder holds a URL of the links' shape."""
    if has_link(html.replace(PLACEHOLDER, sample_url)):
        return html, "", False
    ends = list(_BODY_END.finditer(html))
    at = ends[-1].start() if ends else len(html)
    return html[:at], html[at:], True


@lru_cache(maxsize=8)  # bodies can be large: a few recent ones
def _text_plan(text: str) -> bool:
    """Whether a text body needs the unsubscribe line (it has no placeholder and no word of it)."""
    return PLACEHOLDER not in text and "unsubscribe" not in text.lower()


def opt_out(token: str, details: dict[str, Any] | None = None) -> Message | None:
    """Record the opt-out a link stands for; None if the link is not genuine. Idempotent."""
    message_id = verify(token)
    if message_id is None:
        return None
    try:  # one event per message, however often the link is used (events.ONCE_PER_MESSAGE)
        message, new = events.record(message_id, "unsubscribe", {k: v for k, v in (details or {}).items() if v})
    except LookupError:
        return None
    if new:
        stats.count(message, "unsubscribed")
    from chalicelib.sending import hooks  # the suppressions capability keeps opt-outs

    hooks.record_unsubscribe(message)  # idempotent: a repeated click finds the suppression there
    return message
