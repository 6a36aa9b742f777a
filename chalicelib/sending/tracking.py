"""Open and click tracking: links and a pixel on the domain's tracking host, signed per message.

With the domain's open tracking on, an HTML body gets a 1x1 pixel
``<tracking host>/o/<message id>.<signature>``; with click tracking on, each ``http(s)``
link becomes ``<tracking host>/c/<message id>.<url, base64url>.<signature>``, which records a
``click`` and redirects (302) to the URL. The tracking host is ``mt-link.<sending domain>``
(the CNAME the domain's DNS records ask for) with the scheme and port of the public API.

Left alone (seed-C §3.2): an ``<a>`` with ``data-mt-no-track`` and the same URL in the text
part; ``mailto:``, ``tel:`` and in-page (``#...``) links; Postline's own unsubscribe links.
The signature is an HMAC of the message id and the URL with the signing secret, so a link
can't be forged, pointed at another message, or turned into an open redirect.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from functools import lru_cache
from urllib.parse import urlsplit

from chalicelib.core.config import settings
from chalicelib.core.signing import sign

TRACKING_LABEL = "mt-link"
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")  # 1x1 transparent GIF
_ANCHOR = re.compile(r"<a\b[^>]*>", re.IGNORECASE)
_HREF = re.compile(r"""(\bhref\s*=\s*)(["'])(.*?)\2""", re.IGNORECASE | re.DOTALL)
_NO_TRACK = re.compile(r"\sdata-mt-no-track\b", re.IGNORECASE)
_TEXT_URL = re.compile(r"https?://[^\s<>\"')\]]+", re.IGNORECASE)
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)


def base_url(domain_name: str) -> str:
    return _base_url(domain_name, settings().public_api_url)


@lru_cache(maxsize=256)
def _base_url(domain_name: str, public_api_url: str) -> str:
    public = urlsplit(public_api_url)
    port = f":{public.port}" if public.port else ""
    return f"{public.scheme or 'https'}://{TRACKING_LABEL}.{domain_name}{port}"


def _encode(url: str) -> str:
    return base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


def _decode(text: str) -> str | None:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def open_url(message_id: str, domain_name: str) -> str:
    return f"{base_url(domain_name)}/o/{message_id}.{sign('open', message_id)}"


def click_url(message_id: str, domain_name: str, url: str) -> str:
    encoded = _encode(url)
    return f"{base_url(domain_name)}/c/{message_id}.{encoded}.{sign('click', f'{message_id}:{encoded}')}"


def verify_open(token: str) -> str | None:
    """The message id of a genuine open token, else None."""
    message_id, _, signature = (token or "").removesuffix(".gif").partition(".")
    return message_id if message_id and hmac.compare_digest(signature, sign("open", message_id)) else None


def verify_click(token: str) -> tuple[str, str] | None:
    """(message id, URL) of a genuine click token, else None."""
    parts = (token or "").split(".")
    if len(parts) != 3 or not hmac.compare_digest(parts[2], sign("click", f"{parts[0]}:{parts[1]}")):
        return None
    url = _decode(parts[1])
    return (parts[0], url) if url and trackable(url) else None


def trackable(url: str) -> bool:
    """Only web links are rewritten: mailto:, tel:, anchors and Postline's own unsubscribe links aren't."""
    lowered = url.strip().lower()
    own = settings().public_api_url.rstrip("/").lower() + "/api/unsubscribe/"
    return lowered.startswith(("http://", "https://")) and not lowered.startswith(own)


def with_tracking(html: str | None, text: str | None, message_id: str, domain_name: str, opens: bool,
                  clicks: bool) -> tuple[str | None, str | None]:
    """The bodies of one message with its tracked links and pixel."""
    untracked: set[str] = set()
    if html is not None and clicks:
        def rewrite_anchor(anchor: re.Match[str]) -> str:
            tag = anchor.group(0)
            href = _HREF.search(tag)
            if href is None:
                return tag
            url = href.group(3).strip()
            if _NO_TRACK.search(tag) or not trackable(url):
                untracked.add(url)
                return tag
            tracked = click_url(message_id, domain_name, _unescape(url))
            return tag[:href.start(3)] + tracked + tag[href.end(3):]

        html = _ANCHOR.sub(rewrite_anchor, html)
    if text is not None and clicks:
        text = _TEXT_URL.sub(lambda m: m.group(0) if m.group(0) in untracked or not trackable(m.group(0))
                             else click_url(message_id, domain_name, m.group(0)), text)
    if html is not None and opens:
        pixel = f'<img src="{open_url(message_id, domain_name)}" width="1" height="1" alt="" style="display:none">'
        at = _pixel_at(html) if not clicks else _pixel_at.__wrapped__(html)  # a rewritten body is new each time
        html = html[:at] + pixel + html[at:]
    return html, text


@lru_cache(maxsize=8)  # a bulk dispatch sends one body to many: where the pixel goes, once per body
def _pixel_at(html: str) -> int:
    ends = list(_BODY_END.finditer(html))
    return ends[-1].start() if ends else len(html)


def _unescape(url: str) -> str:
    """An href's URL as a browser reads it (``&amp;`` in HTML is ``&``)."""
    return url.replace("&amp;", "&")
