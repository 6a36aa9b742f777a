"""Run the official Mailtrap SDK against the app in-process.

The SDK always speaks https to fixed hosts (mailtrap.io, send.api.mailtrap.io, ...). This
requests adapter hands each request to chalice's test client with the original Host header,
so the SDK's own request building and pydantic response parsing are exercised for real,
and host routing sees the same first labels it would in production.
"""

from __future__ import annotations

import contextlib
from urllib.parse import urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict


class ChaliceAdapter(BaseAdapter):
    def __init__(self, client):
        super().__init__()
        self.client = client

    def send(self, request, **kwargs):
        url = urlsplit(request.url)
        path = url.path + (f"?{url.query}" if url.query else "")
        headers = {k: v for k, v in request.headers.items()}
        headers["Host"] = url.hostname
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        raw = self.client.http.request(request.method, path, headers=headers, body=body)
        response = requests.Response()
        response.status_code = raw.status_code
        response.headers = CaseInsensitiveDict(raw.headers)
        response._content = raw.body if isinstance(raw.body, bytes) else (raw.body or "").encode()
        response.url = request.url
        response.request = request
        response.encoding = "utf-8"
        return response

    def close(self):
        pass


@contextlib.contextmanager
def sdk_session(client):
    """Inside this block every requests.Session the SDK makes is routed to ``client``."""
    import mailtrap.http

    original = mailtrap.http.Session

    class RoutedSession(requests.Session):
        def __init__(self):
            super().__init__()
            self.mount("https://", ChaliceAdapter(client))

    mailtrap.http.Session = RoutedSession
    try:
        yield
    finally:
        mailtrap.http.Session = original
