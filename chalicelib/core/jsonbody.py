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

The checks cost little and run only when they can find something: the depth is measured
level by level over the containers of the parsed value (leaves are skipped in C, so a large
attachment costs nothing); lone surrogates are looked for on the text, where
only an escape can make one (``\\ud83d\\ude00`` is how ASCII-only encoders write an emoji, a
pair; the text is valid UTF-8), and the value is walked for the path only when one is there.
"""

from __future__ import annotations

import json
import re
from itertools import compress
from typing import Any

from chalicelib.core.errors import BadRequest, Unprocessable

MAX_DEPTH = 64
MALFORMED = "Malformed JSON in request body"
TOO_DEEP = f"JSON in request body is nested more than {MAX_DEPTH} levels deep"
SURROGATE = "must not contain a lone UTF-16 surrogate ({})"

_CONTAINERS = frozenset({dict, list})
# With every escaped backslash taken out, each backslash left starts an escape: a lone one is
# a high surrogate not followed by a low one, or a low one not right after a high one.
_LONE_ESCAPE = re.compile(r"\\u[dD](?:[89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
                          r"|[c-fC-F][0-9a-fA-F]{2}(?<!\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}))")
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
    except RecursionError:  # ~1,000 levels: the parser's own limit
        raise BadRequest(TOO_DEEP) from None
    except ValueError:
        raise BadRequest(MALFORMED) from None
    if not within_depth(value):
        raise BadRequest(TOO_DEEP)
    if "\\u" in raw and _LONE_ESCAPE.search(raw.replace("\\\\", "__")):
        _find_surrogate(value, ())
    return value


def within_depth(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether arrays and objects nest at most ``limit`` deep, one level at a time."""
    level = [value] if type(value) in _CONTAINERS else []
    for _ in range(limit):
        children: list[Any] = []
        for node in level:
            items = node.values() if type(node) is dict else node
            children.extend(compress(items, map(_CONTAINERS.__contains__, map(type, items))))
        if not children:
            return True
        level = children
    return False


def _find_surrogate(value: Any, path: tuple[Any, ...]) -> None:
    """Unprocessable naming the first key or string holding a lone surrogate (depth <= 64 here)."""
    if isinstance(value, str):
        _check_text(path, value)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(path + (key,), key)
            _find_surrogate(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _find_surrogate(item, path + (index,))


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
