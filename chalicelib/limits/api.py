"""Billing usage: the current cycle's sending volume against the plan (the SDK's billing API)."""

from __future__ import annotations

from chalice import Blueprint

from chalicelib.core.http import api_route, principal
from chalicelib.limits import service

bp = Blueprint(__name__)


@api_route(bp, "/billing/usage", ["GET"])
def billing_usage(account_id=None):
    return service.billing_usage(principal(bp, account_id))
