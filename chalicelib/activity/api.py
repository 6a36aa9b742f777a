"""Activity (audit) log route: the account's last activities."""

from __future__ import annotations

from chalice import Blueprint

from chalicelib.activity import service
from chalicelib.core.http import api_route, principal

bp = Blueprint(__name__)


@api_route(bp, "/activity_log", ["GET"])
def list_activity(account_id=None):
    return {"data": service.list_entries(principal(bp, account_id))}
