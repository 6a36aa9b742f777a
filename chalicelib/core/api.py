"""Routes every host serves: health, the OpenAPI document and its human page."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.core import health, hosts, openapi
from chalicelib.core.http import api_route

bp = Blueprint(__name__)
hosts.ANY_HOST_ROUTES.update({"/api/health", "/api/openapi.json", "/api/docs"})


@api_route(bp, "/api/health", ["GET"], prefixed=False)
def get_health():
    report = health.report()
    return Response(body=report, status_code=200 if report["status"] == "ok" else 503)


@api_route(bp, "/api/openapi.json", ["GET"], prefixed=False)
def get_openapi():
    return openapi.document()


@api_route(bp, "/api/docs", ["GET"], prefixed=False)
def get_docs():
    return Response(body=openapi.docs_page(), headers={"Content-Type": "text/html; charset=utf-8"})
