"""Sending routes: send and batch (sending hosts), email logs, raw messages, unsubscribe.

The sending hosts answer in the sending API's own error shape,
``{"success": false, "errors": [...]}`` (401 ``["Unauthorized"]``, 403 ``["Forbidden"]``),
unlike the management API; ``sending_route`` maps every error to it.
"""

from __future__ import annotations

import functools
import html
import logging
from collections.abc import Callable
from typing import Any

from chalice import Blueprint, Response

from chalicelib.core import hosts, request_models
from chalicelib.core.errors import (
    Forbidden,
    NotFound,
    PostlineError,
    RateLimited,
    Unauthorized,
    Unprocessable,
)
from chalicelib.core.http import (
    api_route,
    client_ip,
    created,
    error_response,
    json_body,
    json_object,
    principal,
    request_query,
)
from chalicelib.sending import (
    alerts,
    email_logs,
    events,
    hooks,
    service,
    stats,
    tracking,
    tracking_opt_outs,
    unsubscribe,
)
from chalicelib.sending.request_models import (
    BatchSend,
    EmailLogQuery,
    SendEmail,
    StatsQuery,
    TrackingOptOutCreate,
    TrackingOptOutList,
)
from chalicelib.sending.validation import SendError

log = logging.getLogger("postline.sending.api")
bp = Blueprint(__name__)

SEND_PATHS = ("/api/send", "/api/batch")
hosts.SENDING_ROUTES.update(SEND_PATHS)
BATCH_BODY_LIMIT = 50 * 1024 * 1024  # the batch spec's total payload limit
FORM_TYPES = ["application/x-www-form-urlencoded", "multipart/form-data", "text/plain", "application/json"]


def _reply(status: int, errors: list[str], headers: dict[str, str] | None = None, **extra: Any) -> Response:
    return Response(body={"success": False, "errors": errors, **extra}, status_code=status,
                    headers={"Content-Type": "application/json", **(headers or {})})


def sending_route(path: str, body: type[request_models.RequestModel]) -> Callable[[Callable[..., Any]], Any]:
    """A POST route of the sending hosts whose JSON body ``body`` describes (and parses)."""
    request_models.declare(["POST"], [path], body, None)

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return view(*args, **kwargs)
            except NotFound:
                return error_response(NotFound())  # as host routing answers
            except SendError as exc:
                return Response(body=exc.body(), status_code=exc.status, headers={"Content-Type": "application/json"})
            except Unauthorized:
                return _reply(401, ["Unauthorized"])
            except Forbidden:
                return _reply(403, ["Forbidden"])
            except RateLimited as exc:
                return _reply(429, [exc.message], exc.headers())
            except Unprocessable as exc:  # e.g. the body's lone surrogate: "'from.name' must not ..."
                return _reply(422, [message if field == "base" else f"'{field}' {message}"
                                    for field, messages in exc.errors.items() for message in messages])
            except PostlineError as exc:
                return _reply(exc.status, [exc.message])
            except Exception:
                log.exception("unhandled error in %s", view.__name__)
                return _reply(500, ["Internal server error"])

        bp.route(path, methods=["POST"])(wrapper)
        return wrapper

    return decorate


def _client_ip() -> str | None:
    return client_ip(bp)


def _stream() -> str:
    """transactional or bulk, from the host. hosts.SENDING_ROUTES also lets the sandbox host
    through; its send is another route (/api/send/{inbox_id}), so these paths are 404 there."""
    kind = hosts.host_kind(bp.current_request.headers)
    if kind not in (hosts.TRANSACTIONAL, hosts.BULK):
        raise NotFound()
    return kind


@sending_route("/api/send", SendEmail)
def send():
    from chalicelib.core.config import settings

    stream = _stream()
    who = principal(bp)
    # base64 makes attachments a third larger; the message limit itself is checked decoded
    body = json_body(bp, limit=2 * settings().max_message_bytes + 1024 * 1024)
    return service.send_request(who, request_models.parse(SendEmail, body).request, stream, _client_ip())


@sending_route("/api/batch", BatchSend)
def batch():
    stream = _stream()
    who = principal(bp)
    items = request_models.parse(BatchSend, json_body(bp, limit=BATCH_BODY_LIMIT)).items
    return service.batch(who, items, stream, _client_ip())


# ---------------------------------------------------------------- email logs


@api_route(bp, "/email_logs", ["GET"], query=EmailLogQuery)
def list_email_logs(account_id=None):
    who = principal(bp, account_id)
    return email_logs.list_messages(who, request_query(bp))


@api_route(bp, "/email_logs/{message_id}", ["GET"])
def get_email_log(message_id, account_id=None):
    return email_logs.message_detail(principal(bp, account_id), message_id)


@api_route(bp, "/api/raw_messages/{token}", ["GET"], prefixed=False)
def get_raw_message(token):
    # Postline's MIME is 7-bit by construction (QP, base64, RFC 2047), so it travels as text
    raw = email_logs.raw_message(token).decode("utf-8", errors="replace")
    return Response(body=raw, status_code=200,
                    headers={"Content-Type": "message/rfc822",
                             "Content-Disposition": f'attachment; filename="{token.split(".")[0]}.eml"'})


# ---------------------------------------------------------------- unsubscribe


def _page(title: str, text: str, status: int = 200, form: bool = False) -> Response:
    button = ('<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">'
              '<button type="submit">Unsubscribe</button></form>') if form else ""
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
            f"<body style='font-family:sans-serif;text-align:center;margin-top:4em'>"
            f"<h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>{button}</body></html>")
    return Response(body=page, status_code=status, headers={"Content-Type": "text/html; charset=utf-8"})


@api_route(bp, "/api/unsubscribe/{token}", ["GET"], prefixed=False)
def unsubscribe_page(token):
    # A GET never unsubscribes (RFC 8058: link scanners follow links); it offers the button.
    if unsubscribe.verify(token) is None:
        return _page("Link not valid", "This unsubscribe link is not valid.", 404)
    return _page("Unsubscribe", "Stop receiving these emails from this sender?", form=True)


@api_route(bp, "/api/unsubscribe/{token}", ["POST"], prefixed=False, content_types=FORM_TYPES)
def unsubscribe_one_click(token):
    message = unsubscribe.opt_out(token, {"web_ip_address": _client_ip()})
    if message is None:
        return _page("Link not valid", "This unsubscribe link is not valid.", 404)
    return _page("Unsubscribed", "You will no longer receive these emails from this sender.")


# ---------------------------------------------------------------- open and click tracking (mt-link host)

TRACKING_PATHS = ("/o/{token}", "/c/{token}")
hosts.TRACKING_ROUTES.update(TRACKING_PATHS)


def _visitor() -> dict[str, str]:
    agent = (bp.current_request.headers or {}).get("user-agent")
    return {k: v for k, v in {"web_ip_address": _client_ip(), "user_agent": agent}.items() if v}


def _track(message_id: str, event_type: str, details: dict[str, str]) -> bool:
    try:
        message, new = events.record(message_id, event_type, details)
    except LookupError:
        return False  # a genuine link of a message that is gone
    first = (message.opens_count if event_type == "open" else message.clicks_count) == 1
    if new and first:  # stats count messages opened or clicked, not opens or clicks
        stats.count(message, "opened" if event_type == "open" else "clicked")
        hooks.email_engaged(message, event_type)
    return True


@api_route(bp, "/o/{token}", ["GET"], prefixed=False)
def tracking_pixel(token):
    message_id = tracking.verify_open(token)
    if message_id is None or not _track(message_id, "open", _visitor()):
        raise NotFound()
    accept = ((bp.current_request.headers or {}).get("accept") or "").lower()
    if "*/*" not in accept and "image/gif" not in accept:
        # API Gateway sends binary bodies only to requests that accept them: nothing to show
        return Response(body="", status_code=204, headers={"Cache-Control": "no-store, max-age=0"})
    return Response(body=tracking.PIXEL, status_code=200,
                    headers={"Content-Type": "image/gif", "Cache-Control": "no-store, max-age=0"})


@api_route(bp, "/c/{token}", ["GET"], prefixed=False)
def tracking_click(token):
    found = tracking.verify_click(token)
    if found is None:
        raise NotFound()
    message_id, url = found
    _track(message_id, "click", {"click_url": url, **_visitor()})
    return Response(body="", status_code=302, headers={"Location": url, "Cache-Control": "no-store"})


# ---------------------------------------------------------------- tracking opt-outs (management host)


@api_route(bp, "/tracking_opt_outs", ["GET"], query=TrackingOptOutList)
def list_tracking_opt_outs(account_id=None):
    who = principal(bp, account_id)
    return tracking_opt_outs.list_opt_outs(who, request_query(bp))


@api_route(bp, "/tracking_opt_outs", ["POST"], body=TrackingOptOutCreate)
def create_tracking_opt_out(account_id=None):
    who = principal(bp, account_id)
    # the account in the context: an unknown domain_id is reported beside the other fields' problems
    params = request_models.parse(TrackingOptOutCreate, json_object(bp), context={"account_id": who.account_id})
    body, new = tracking_opt_outs.create(who, params)
    return created({"data": body}) if new else {"data": body}


@api_route(bp, "/tracking_opt_outs/{opt_out_id}", ["DELETE"])
def delete_tracking_opt_out(opt_out_id, account_id=None):
    return tracking_opt_outs.delete(principal(bp, account_id), opt_out_id)


# ---------------------------------------------------------------- stats (management host)


@api_route(bp, "/stats", ["GET"], query=StatsQuery)
def sending_stats(account_id=None):
    who = principal(bp, account_id)
    return stats.summary(who, request_query(bp))


def _grouped_route(group: str) -> None:
    def grouped(account_id=None):
        who = principal(bp, account_id)
        return stats.grouped(who, request_query(bp), group)

    grouped.__name__ = f"sending_stats_by_{group}"  # a view name per route
    api_route(bp, f"/stats/{group}", ["GET"], query=StatsQuery)(grouped)


for _group in stats.GROUPS:
    _grouped_route(_group)


# ---------------------------------------------------------------- deliverability alerts (management host)


@api_route(bp, "/deliverability_alerts", ["GET"])
def deliverability_alerts(account_id=None):
    return {"data": alerts.recent(principal(bp, account_id))}

