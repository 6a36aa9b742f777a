"""Host routing like Mailtrap's: one API, four hosts, chosen by the Host's first label.

``send.<domain>`` is the transactional stream, ``bulk.<domain>`` the bulk stream,
``sandbox.<domain>`` the testing sandbox, ``mt-link.<sending domain>`` the open and click
tracking of that domain's mail, and any other host the management API.
"""

from __future__ import annotations

from collections.abc import Mapping

GENERAL = "general"
TRANSACTIONAL = "transactional"
BULK = "bulk"
SANDBOX = "sandbox"

TRACKING = "tracking"  # mt-link.<sending domain>: open pixel and click redirects

_FIRST_LABEL = {"send": TRANSACTIONAL, "bulk": BULK, "sandbox": SANDBOX, "mt-link": TRACKING}

# Routes served on the sending hosts; everything else is served on the general host only.
SENDING_ROUTES: set[str] = set()
# Routes served on every host (health, the API description).
ANY_HOST_ROUTES: set[str] = set()
# Routes served on the tracking hosts only.
TRACKING_ROUTES: set[str] = set()


def host_kind(headers: Mapping[str, str]) -> str:
    host = (headers.get("host") or "").split(":")[0].strip().lower()
    return _FIRST_LABEL.get(host.split(".")[0], GENERAL)


def serves(route: str, kind: str) -> bool:
    """Whether a route (its path pattern) is served on a host of this kind."""
    if route in ANY_HOST_ROUTES:
        return True
    if route in TRACKING_ROUTES or kind == TRACKING:
        return route in TRACKING_ROUTES and kind == TRACKING
    if route in SENDING_ROUTES:
        return kind != GENERAL
    return kind == GENERAL
