"""Webhooks routes: CRUD as the SDK calls it, plus run-a-test, reset secret, pause, resume and
the delivery history."""

from __future__ import annotations

from chalice import Blueprint

from chalicelib.core.http import api_route, principal, request_body
from chalicelib.webhooks import service
from chalicelib.webhooks.request_models import WebhookCreate, WebhookUpdate

bp = Blueprint(__name__)
ONE = "/webhooks/{webhook_id}"


@api_route(bp, "/webhooks", ["GET"])
def list_webhooks(account_id=None):
    return {"data": service.list_webhooks(principal(bp, account_id))}


@api_route(bp, "/webhooks", ["POST"], body=WebhookCreate)
def create_webhook(account_id=None):
    who = principal(bp, account_id)
    return {"data": service.create(who, request_body(bp))}  # 200, as mailtrap-openapi answers


@api_route(bp, ONE, ["GET"])
def get_webhook(webhook_id, account_id=None):
    return {"data": service.get(principal(bp, account_id), webhook_id)}


@api_route(bp, ONE, ["PATCH"], body=WebhookUpdate)
def update_webhook(webhook_id, account_id=None):
    who = principal(bp, account_id)
    return {"data": service.update(who, webhook_id, request_body(bp))}


@api_route(bp, ONE, ["DELETE"])
def delete_webhook(webhook_id, account_id=None):
    return {"data": service.delete(principal(bp, account_id), webhook_id)}


@api_route(bp, ONE + "/test", ["POST"])
def test_webhook(webhook_id, account_id=None):
    return {"data": service.run_test(principal(bp, account_id), webhook_id)}


@api_route(bp, ONE + "/reset_secret", ["POST"])
def reset_webhook_secret(webhook_id, account_id=None):
    return {"data": service.reset_secret(principal(bp, account_id), webhook_id)}


@api_route(bp, ONE + "/pause", ["POST"])
def pause_webhook(webhook_id, account_id=None):
    return {"data": service.set_active(principal(bp, account_id), webhook_id, False)}


@api_route(bp, ONE + "/resume", ["POST"])
def resume_webhook(webhook_id, account_id=None):
    return {"data": service.set_active(principal(bp, account_id), webhook_id, True)}


@api_route(bp, ONE + "/deliveries", ["GET"])
def webhook_deliveries(webhook_id, account_id=None):
    return {"data": service.history(principal(bp, account_id), webhook_id)}
