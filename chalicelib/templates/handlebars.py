"""Postline's Handlebars on pybars3: lookups, output, helpers and compiling.

Importing pybars builds its grammar (about 0.4 s of CPU), so only ``engine`` imports this
module, when the first template of a process is compiled: a Lambda function that never
renders a template never pays for it. The rules it implements are listed in ``engine``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from typing import Any

from pybars import Compiler, PybarsError, Scope, strlist
from pybars._compiler import escape

from chalicelib.templates import syntax
from chalicelib.templates.errors import TemplateError

# ------------------------------------------------------------------ lookups and output


def _pick(context: Any, name: str) -> Any:
    """One path segment on JSON data: dict key, list index or ``length``; nothing else."""
    if isinstance(context, dict):
        return context.get(name)
    if isinstance(context, (list, tuple)):
        if name == "length":
            return len(context)
        if name.isdigit() and int(name) < len(context):
            return context[int(name)]
        return None
    if isinstance(context, str) and name == "length":
        return len(context)
    return None


def _scope_get(scope: Scope, name: str) -> Any:
    if name == "this":
        return scope.context
    if name[:1] == "@":
        if name == "@root":
            return scope.root
        if name == "@_parent":
            return scope.parent
        if name in ("@index", "@key", "@first", "@last"):
            return getattr(scope, name[1:])
    return _pick(scope.context, name)


def resolve(context: Any, *segments: str) -> Any:
    """Replacement for pybars' ``resolve`` (same path encoding), without attribute access."""
    if len(segments) == 1 and type(context) is Scope:  # {{name}}: the hot path
        segment, data = segments[0], context.context
        if not segment:
            return data
        if type(data) is dict and segment[0] != "@":
            return data.get(segment)
    carry = False
    for segment in segments:
        if carry:
            carry, segment = False, "@" + segment
        if segment[:2] == "@@":
            segment, carry = segment[1:], True
        if context is None:
            return None
        if not segment:
            continue
        context = _scope_get(context, segment) if isinstance(context, Scope) else _pick(context, segment)
    return context


def _text(value: Any) -> str:
    """A value as Handlebars.js prints it (JSON data: no int/float distinction)."""
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        return repr(value)
    if isinstance(value, (list, tuple)):
        return ",".join(_text(v) for v in value)
    if isinstance(value, dict):
        return "[object Object]"
    if isinstance(value, Scope):
        return _text(value.context)
    return str(value)


def prepare(value: Any, should_escape: bool) -> Any:
    kind = type(value)
    if kind is str:  # the common case first
        return escape(value) if should_escape else value
    if kind is int:
        return str(value)
    if kind is strlist:
        return value
    text = _text(value)
    return escape(text) if should_escape else text


# ------------------------------------------------------------------ helpers


def _truthy(value: Any) -> bool:
    if isinstance(value, Scope):
        value = value.context
    return bool(value)  # JSON values: "", 0, 0.0, None, False, {}, [] are the falsy ones


# Helpers return one joined string: the generated code adds a helper's result with
# strlist.grow, which walks a list element by element in Python; a str is one append.


def _joined(parts: Any) -> str:
    return "".join(parts) if parts else ""


def _if(this: Any, options: dict, value: Any = None) -> str:
    return _joined(options["fn"](this) if _truthy(value) else options["inverse"](this))


def _unless(this: Any, options: dict, value: Any = None) -> str:
    return _joined(options["inverse"](this) if _truthy(value) else options["fn"](this))


def _with(this: Any, options: dict, value: Any = None) -> str:
    if isinstance(value, Scope):
        value = value.context
    if not value:
        return _joined(options["inverse"](this))
    return _joined(options["fn"](Scope(value, this, options["root"])))


def _each(this: Any, options: dict, value: Any = None) -> Any:
    if isinstance(value, Scope):
        value = value.context
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, (list, tuple)):
        items = list(enumerate(value))
    else:
        items = []
    if not items:
        return _joined(options["inverse"](this))
    fn, root, last = options["fn"], options["root"], len(items) - 1
    return "".join([
        "".join(fn(Scope(item, this, root, index=index, key=key, first=index == 0, last=index == last)))
        for index, (key, item) in enumerate(items)
    ])


def _nothing(*_args: Any, **_kwargs: Any) -> None:
    return None


# Passed on every render. pybars' other built-ins (log, lookup) are switched off so that a
# variable with such a name is a variable; the validator rejects every other helper.
HELPERS: dict[str, Callable[..., Any] | None] = {
    "if": _if, "unless": _unless, "with": _with, "each": _each,
    "log": None, "lookup": None,
    "helperMissing": _nothing, "blockHelperMissing": _nothing,
}


# ------------------------------------------------------------------ compiling


class _Compiler(Compiler):
    def whitespace_control(self, source: str) -> str:
        return source  # already applied by syntax.normalise, the Handlebars.js way


_compiler = _Compiler()
_compile_lock = threading.Lock()  # pybars' code builder is shared class state: one compile at a time
# A text marker as it appears in pybars' generated code: a repr()'d string literal.
_MARKER = re.compile(re.escape(repr(syntax.MARK_OPEN)[:-1]) + r"(\d+)" + re.escape(repr(syntax.MARK_CLOSE)[1:]))


class CompiledTemplate:
    __slots__ = ("_fn",)

    def __init__(self, fn: Callable[..., str]) -> None:
        self._fn = fn

    def render(self, variables: Mapping[str, Any] | None) -> str:
        if variables is None:
            variables = {}
        elif not isinstance(variables, dict):
            raise TemplateError("template_variables must be a JSON object", "template_variables")
        try:
            return self._fn(variables, helpers=HELPERS)
        except RecursionError:
            raise TemplateError("template variables are nested too deeply to render") from None
        except PybarsError as exc:  # not expected after validation; still a clear 422, not a 500
            raise TemplateError(f"template could not be rendered: {exc}") from None


def compile_source(source: str, field: str) -> CompiledTemplate:
    """Validate, normalise and compile ``source`` (TemplateError on ``field`` if it can't be)."""
    try:
        normal = syntax.normalise(source)
    except syntax.TemplateSyntaxError as exc:
        raise TemplateError(str(exc), field) from None
    if not normal.skeleton:
        return CompiledTemplate(lambda _vars, helpers=None: "")
    try:
        with _compile_lock:
            container = _compiler._generate_code(normal.skeleton)
    except (PybarsError, RecursionError) as exc:  # the scanner should have caught it first
        raise TemplateError(f"invalid template: {exc}", field) from None
    texts = normal.texts
    code = _MARKER.sub(lambda m: repr(texts[int(m.group(1))]), container.full_code)
    namespace: dict[str, Any] = {"__name__": "postline_template"}
    # Not registered in sys.modules (pybars' compile() does that and never lets go), so an
    # evicted template is freed.
    exec(compile(code, "<postline template>", "exec", dont_inherit=True), namespace)
    namespace["resolve"] = resolve
    namespace["prepare"] = prepare
    return CompiledTemplate(namespace[container.name])
