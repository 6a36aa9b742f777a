"""The HTTP edge shared by every capability: route registration, bodies, auth, errors.

``api_route`` registers a view under both path styles Mailtrap clients use
(``/api/accounts/{account_id}/x`` as the SDKs call it, ``/api/x`` as the current spec names
it) and maps every PostlineError to its Mailtrap-shaped response in one place.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable
from typing import Any

from chalice import Blueprint, ChaliceViewError, Response

from chalicelib.core import hosts, jsonbody, logs, ratelimit, request_models
from chalicelib.core.config import settings
from chalicelib.core.errors import (
    BadRequest,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    PostlineError,
)
from chalicelib.core.permissions import Principal

log = logging.getLogger("postline.http")
ACCOUNT_PREFIX = "/api/accounts/{account_id}"

# Who a token stands for is the accounts capability's answer, and accounts sits above core:
# it registers the answer here (chalicelib/accounts/api.py) rather than core importing it.
Authenticator = Callable[[str | None, str | None], Principal]
_authenticators: list[Authenticator] = []


def authenticator(answer: Authenticator) -> Authenticator:
    """Register ``answer(token value, client IP) -> Principal`` for ``principal`` to ask."""
    _authenticators[:] = [answer]
    return answer


def error_response(error: PostlineError) -> Response:
    return Response(body=error.body(), status_code=error.status,
                    headers={"Content-Type": "application/json", **error.headers()})


def _guarded(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except PostlineError as exc:
            return error_response(exc)
        except ChaliceViewError as exc:  # e.g. chalice's own JSON parsing
            return error_response(BadRequest(str(exc)))
        except Exception:  # never a stack trace or a secret to the client
            log.exception("unhandled error in %s", view.__name__)
            return error_response(PostlineError("Unexpected error"))

    return wrapper


def api_route(bp: Blueprint, path: str, methods: Iterable[str], *, unprefixed: str | None = "",
              prefixed: bool = True, body: type[request_models.RequestModel] | None = None,
              query: type[request_models.QueryModel] | None = None,
              **options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``view`` at ``/api/accounts/{account_id}<path>`` and ``/api<unprefixed or path>``.

    ``unprefixed=None`` skips the short form; ``prefixed=False`` registers ``path`` as given
    (for routes that are not account resources, such as ``/api/health``). ``body`` and
    ``query``: the route's request models (``core.request_models``), read by ``request_body`` and
    ``request_query`` and published in the OpenAPI document.
    """
    methods = list(methods)
    if not prefixed:
        paths = [path]
    else:
        paths = [ACCOUNT_PREFIX + path] + ([] if unprefixed is None else ["/api" + (unprefixed or path)])
    request_models.declare(methods, paths, body, query)

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        guarded = _guarded(view)
        for full_path in paths:
            bp.route(full_path, methods=methods, **options)(guarded)
        return guarded

    return decorate


def _declared(bp: Blueprint) -> request_models.Declared:
    request = bp.current_request
    return request_models.declared(request.method, (request.context or {}).get("resourcePath", ""))


def request_body(bp: Blueprint, *, allow_empty: bool = False) -> Any:
    """The JSON object of the request, parsed by the body model its route declared: a 422 in
    Mailtrap's shape when it does not validate (after ``json_object``'s 400s and 413)."""
    return request_body_later(bp, allow_empty=allow_empty)()


def request_body_later(bp: Blueprint, *, allow_empty: bool = False) -> Callable[[], Any]:
    """Read the JSON object now (an unreadable body is a 400 first) and validate it with the
    route's declared model when the returned function is called: after the lookups that
    answer 403 or 404, which come before a body's 422s."""
    model = _declared(bp).body
    if model is None:
        raise RuntimeError("the route declares no body model")
    body = json_object(bp, allow_empty=allow_empty)
    return lambda: request_models.parse(model, body)


def request_query(bp: Blueprint) -> Any:
    """The query string of the request, parsed by the query model its route declared."""
    model = _declared(bp).query
    if model is None:
        raise RuntimeError("the route declares no query model")
    return request_models.parse_query(model, bp.current_request.query_params)


def json_body(bp: Blueprint, *, allow_empty: bool = False, limit: int | None = None) -> Any:
    """The request's JSON body. Malformed JSON is a 400, oversize a 413, never a 500
    (``core.jsonbody``: nesting over 64 levels is a 400, a lone surrogate a 422 naming its field).

    ``limit``: the most bytes the body may have (default: the configured ``max_body_bytes``)."""
    raw = bp.current_request.raw_body or b""
    if len(raw) > (settings().max_body_bytes if limit is None else limit):
        raise PayloadTooLarge()
    if not raw.strip():
        if allow_empty:
            return {}
        raise BadRequest("Request body is empty; a JSON object is expected")
    return jsonbody.parse(raw)  # also refuses deep nesting (400) and lone surrogates (422)


def json_object(bp: Blueprint, *, allow_empty: bool = False) -> dict[str, Any]:
    body = json_body(bp, allow_empty=allow_empty)
    if not isinstance(body, dict):
        raise BadRequest("Request body must be a JSON object")
    return body


def token_from_headers(headers: Any) -> str | None:
    auth = headers.get("authorization") or ""
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return (headers.get("api-token") or "").strip() or None


def client_ip(bp: Blueprint) -> str | None:
    """The caller's address as API Gateway saw it (never a header the caller could forge)."""
    identity = (bp.current_request.context or {}).get("identity") or {}
    return identity.get("sourceIp")


def principal(bp: Blueprint, account_id: str | int | None = None) -> Principal:
    """Authenticate the caller, hold it to the account in the path, count it against its limit."""
    request = bp.current_request
    if not _authenticators:
        raise RuntimeError("no authenticator registered: chalicelib.accounts.api registers it")
    who = _authenticators[0](token_from_headers(request.headers), client_ip(bp))
    logs.bind(account_id=who.account_id)
    if account_id is not None:
        try:
            same = int(account_id) == who.account_id
        except (TypeError, ValueError):
            same = False
        if not same:
            raise Forbidden("Account access forbidden")
    if hosts.host_kind(request.headers) == hosts.GENERAL:
        ratelimit.hit(f"token:{who.token_id}", settings().rate_limit_requests,
                      settings().rate_limit_window_seconds)
    return who


def query_param(bp: Blueprint, name: str, default: str | None = None) -> str | None:
    params = bp.current_request.query_params or {}
    return params.get(name, default)


def query_list(bp: Blueprint, name: str) -> list[str]:
    """A repeated query parameter, in either ``name[]=`` or ``name=`` form."""
    params = bp.current_request.query_params
    for key in (f"{name}[]", name):
        if params and key in params:  # chalice's MultiDict.getlist raises on a missing key
            return list(params.getlist(key))
    return []


def created(body: Any) -> Response:
    return Response(body=body, status_code=201)


def no_content() -> Response:
    return Response(body="", status_code=204)


def host_guard(event: Any, get_response: Callable[[Any], Any]) -> Any:
    """HTTP middleware: a route answers only on the hosts it belongs to (404 elsewhere)."""
    route = (event.context or {}).get("resourcePath", "")
    if route and not hosts.serves(route, hosts.host_kind(event.headers)):
        return error_response(NotFound())
    return get_response(event)
