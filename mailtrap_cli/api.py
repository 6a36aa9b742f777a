"""The HTTP calls the commands make (standard library only), with the token as a Bearer header."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlencode


class ApiError(Exception):
    """The API refused or could not be reached; the message is what to tell the user."""


def get(base_url: str, token: str, path: str, params: list[tuple[str, str]] = ()) -> Any:
    url = f"{base_url}{path}" + (f"?{urlencode(list(params))}" if params else "")
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}", "Accept": "application/json",
                                                   "User-Agent": "mailtrap-cli (Postline)"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        try:
            errors = json.loads(exc.read() or b"{}")
        except ValueError:
            errors = {}
        detail = errors.get("errors") or errors.get("error") or exc.reason if isinstance(errors, dict) else exc.reason
        raise ApiError(f"{exc.code}: {detail}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise ApiError(f"can't reach {base_url}: {getattr(exc, 'reason', exc)}") from None
