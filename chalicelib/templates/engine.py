"""The Handlebars engine: pybars3, held to the semantics of the product's Handlebars guide.

What differs from bare pybars3 and why (shared/spec seed-B section 8.6):
- ``unless`` and ``with`` honour ``{{else}}`` (pybars' built-ins ignore it);
- ``each`` iterates arrays and objects (``@key``, ``@index``, ``@first``, ``@last``) and
  renders ``{{else}}`` for anything empty or not iterable;
- falsy is ``""``, ``0``, ``null``, ``false``, ``{}``, ``[]`` for ``if``/``unless``/``with``;
- lookups read JSON data only: no Python attributes (``{{x.__class__}}`` is empty, not a
  way into the interpreter), a bad list index is empty instead of an exception;
- numbers print as JSON writes them (``10.0`` -> ``10``), arrays join with ``,``;
- templates are validated and normalised by ``syntax`` first, so mistakes are errors
  instead of silently empty output, and whitespace follows Handlebars.js.

The pybars3 machinery is in ``handlebars``, loaded with the first template compiled (its
grammar is costly to build). Compiled templates are cached by a SHA-256 of their source in
a bounded LRU.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from chalicelib.templates.errors import TemplateError

if TYPE_CHECKING:
    from chalicelib.templates.handlebars import CompiledTemplate

__all__ = ["TemplateError", "cache_info", "check", "clear_cache", "compile_template", "render_string"]
CACHE_SIZE = 512  # compiled templates kept per process (subject, html and text count apart)


def check(source: str, field: str = "base") -> None:
    """Raise TemplateError (422 on ``field``) unless ``source`` is a template Postline supports."""
    compile_template(source, field)


def compile_template(source: str, field: str = "base") -> CompiledTemplate:
    if not isinstance(source, str):
        raise TemplateError("must be a string", field)
    key = hashlib.sha256(source.encode("utf-8", "surrogatepass")).digest()
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    from chalicelib.templates import handlebars  # pybars loads here, on first use

    compiled = handlebars.compile_source(source, field)
    with _cache_lock:
        _cache[key] = compiled
        if len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return compiled


def render_string(source: str, variables: Mapping[str, Any] | None = None) -> str:
    """Render one template string (compiled once, then from the cache)."""
    return compile_template(source).render(variables)


_cache: OrderedDict[bytes, CompiledTemplate] = OrderedDict()
_cache_lock = threading.Lock()


def cache_info() -> dict[str, int]:
    return {"size": len(_cache), "max": CACHE_SIZE}


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()
