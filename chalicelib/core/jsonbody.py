"""Request bodies as JSON, read the same way by every route (``core.http.json_body`` and the
routes that take JSON among other content types).

Besides well-formedness, three things no route could store or send are refused here, once,
before any route sees the value:

- text that is not UTF-8 (400): JSON travels as UTF-8 (RFC 8259);
- nesting deeper than ``MAX_DEPTH`` (400): no Postline body needs more, and deeper input
  only costs recursion (1,000 levels overflowed the parser's);
- a lone UTF-16 surrogate (``"\\ud800"`` with no partner; 422 naming where it is): it is not
  a character, so no encoder (UTF-8 for DynamoDB and S3, RFC 2047 for headers) can write it;
  accepted, it failed later, far from the request.

The checks cost nothing for ordinary bodies: the walk over the parsed value runs only when
the text holds a surrogate escape or more than ``MAX_DEPTH`` brackets.
"""

from __future__ import annotations

import json
import re
from typing import Any

from chalicelib.core.errors import BadRequest, Unprocessable

MAX_DEPTH = 64
MALFORMED = "Malformed JSON in request body"
TOO_DEEP = f"JSON in request body is nested more than {MAX_DEPTH} levels deep"
SURROGATE = "must not contain a lone UTF-16 surrogate ({})"

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")  # \ud800-\udfff, paired or not
_SURROGATE = re.compile("[\ud800-\udfff]")  # left after decoding: a pair decodes to one character


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # json.loads would take NaN and Infinity


def parse(raw: bytes | str) -> Any:
    """The JSON value of a request body; BadRequest (400) or Unprocessable (422) if it is not one."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8-sig")  # strict: an encoded surrogate is not UTF-8 either
        except UnicodeDecodeError:
            raise BadRequest(MALFORMED) from None
    try:
        value = json.loads(raw, parse_constant=_no_constant)
    except RecursionError:
        raise BadRequest(TOO_DEEP) from None
    except ValueError:
        raise BadRequest(MALFORMED) from None
    surrogates = _SURROGATE_ESCAPE.search(raw) is not None
    if surrogates or raw.count("[") + raw.count("{") > MAX_DEPTH:
        _check(value, surrogates)
    return value


def _check(value: Any, surrogates: bool) -> None:
    """Depth, and (when the text had a surrogate escape) lone surrogates, by walking the value."""
    if not isinstance(value, dict | list):
        if surrogates and isinstance(value, str):
            _check_text((), value)
        return
    stack: list[tuple[Any, tuple[Any, ...]]] = [(value, ())]
    while stack:
        node, path = stack.pop()
        if len(path) >= MAX_DEPTH:
            raise BadRequest(TOO_DEEP)
        for key, item in node.items() if isinstance(node, dict) else enumerate(node):
            if surrogates and isinstance(key, str):
                _check_text(path + (key,), key)
            if isinstance(item, dict | list):
                stack.append((item, path + (key,)))
            elif surrogates and isinstance(item, str):
                _check_text(path + (key,), item)


def _check_text(path: tuple[Any, ...], text: str) -> None:
    found = _SURROGATE.search(text)
    if found is not None:
        raise Unprocessable.field(field_path(path) or "base", SURROGATE.format(f"U+{ord(found.group()):04X}"))


def field_path(path: tuple[Any, ...]) -> str:
    """``("contacts", 3, "fields", "name")`` as ``contacts[3].fields.name``; a key's own
    surrogates shown escaped, so the answer is valid JSON text."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            text = part.encode("utf-8", "backslashreplace").decode("utf-8")
            out += f".{text}" if out else text
    return out
