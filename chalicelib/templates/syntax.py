"""Handlebars syntax as the product supports it: scan, validate, normalise.

pybars3 accepts more than Postline supports and fails silently on some mistakes (an
unclosed ``{{#if}}`` renders ``""``), so every template is scanned here first. The scanner
knows the complete supported set (seed: variables, dot paths, ``{{{raw}}}``, ``#if``,
``#unless``, ``#each``, ``#with``, ``{{else}}``), rejects everything else with a message
that names the problem and where it is, and hands the engine a normalised form:

- whitespace already applied as Handlebars.js does it (standalone block lines removed,
  ``~`` markers honoured), because pybars' own regex loses the newline inside ``#each``;
- ``{{else if x}}`` / ``{{else unless x}}`` chains desugared to nested blocks, which
  pybars does not understand;
- literal text cut out and replaced by short markers, because pybars' parser costs
  ~25 us per character of text (a 200 KB template took 2 s to compile); only the tags are
  parsed, the text is put back into the generated code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

BLOCK_HELPERS = ("if", "unless", "each", "with")
CHAINABLE = ("if", "unless")  # {{else if x}}, {{else unless x}}
DATA_VARIABLES = ("@index", "@key", "@first", "@last", "@root")
MAX_DEPTH = 32  # nesting of blocks; deeper is a mistake and would strain the compiler
# pybars' parser needs about 1 ms per tag: this bounds saving (and a cold first render) to
# a few seconds. Real templates use tens to hundreds.
MAX_TAGS = 3000

# Marker that stands for text run number N in the skeleton given to pybars: no
# whitespace, no braces, nothing pybars' grammar treats specially.
MARK_OPEN, MARK_CLOSE = "\ue000", "\ue001"

_ID = re.compile(r"[\w-]+")  # what pybars accepts in a path segment (unicode letters too)
_INT = re.compile(r"-?\d+")
_LITERAL_SEGMENT = re.compile(r"[^\]'\"\\\r\n]+")
_LITERALS = ("true", "false", "null", "undefined")


class TemplateSyntaxError(ValueError):
    """A template Postline won't save or render; ``str()`` is the message for a person."""


@dataclass
class Text:
    value: str
    pos: int


@dataclass
class Tag:
    kind: str  # var | raw | open | close | else | comment
    source: str  # the tag as written, for messages
    pos: int
    name: str = ""  # path (var/raw), helper (open/close/else chain)
    arg: str = ""  # the argument of open / else-chain tags
    strip_before: bool = False  # {{~
    strip_after: bool = False  # ~}}

    @property
    def standalone_kind(self) -> bool:
        return self.kind in ("open", "close", "else", "comment")


@dataclass
class Normalised:
    """What the engine compiles: a tag skeleton with text markers, and the texts."""

    skeleton: str
    texts: list[str] = field(default_factory=list)


def where(source: str, pos: int) -> str:
    line = source.count("\n", 0, pos) + 1
    column = pos - (source.rfind("\n", 0, pos) + 1) + 1
    return f"line {line}, column {column}"


# ------------------------------------------------------------------ scanning


def scan(source: str) -> list[Text | Tag]:
    tokens: list[Text | Tag] = []
    i, n = 0, len(source)
    while i < n:
        j = source.find("{{", i)
        if j == -1:
            tokens.append(Text(source[i:], i))
            break
        if j > i and source[j - 1] == "\\":
            if j - 1 > i and source[j - 2] == "\\":  # "\\{{x}}": a literal backslash, then a tag
                tokens.append(Text(source[i:j - 1], i))
            else:  # "\{{x}}": literal text up to the next mustache, as in Handlebars.js
                tokens.append(Text(source[i:j - 1], i))
                k = source.find("{{", j + 2)
                k = n if k == -1 else k
                tokens.append(Text(source[j:k], j))
                i = k
                continue
        elif j > i:
            tokens.append(Text(source[i:j], i))
        tag, i = _read_tag(source, j)
        tokens.append(tag)
    return tokens


def _read_tag(source: str, start: int) -> tuple[Tag, int]:
    at = where(source, start)
    if source.startswith("{{{{", start):
        raise TemplateSyntaxError(f"raw blocks {{{{{{{{...}}}}}}}} are not supported ({at})")
    if source.startswith("{{{", start):
        end = source.find("}}}", start + 3)
        if end == -1:
            raise TemplateSyntaxError(f"'{{{{{{' is never closed with '}}}}}}' ({at})")
        text = source[start:end + 3]
        return Tag("raw", text, start, name=_path(source[start + 3:end].strip(), text, at)), end + 3
    body_start = start + 2
    strip_before = source.startswith("~", body_start)
    if strip_before:
        body_start += 1
    if source.startswith("!--", body_start):
        end = source.find("--}}", body_start)
        close = 4
        if end == -1:
            end, close = source.find("--~}}", body_start), 5
        if end == -1:
            raise TemplateSyntaxError(f"comment '{{{{!--' is never closed with '--}}}}' ({at})")
        return Tag("comment", source[start:end + close], start, strip_before=strip_before,
                   strip_after=close == 5), end + close
    end = source.find("}}", body_start)
    if end == -1:
        raise TemplateSyntaxError(f"'{{{{' is never closed with '}}}}' ({at})")
    text = source[start:end + 2]
    inner = source[body_start:end]
    strip_after = inner.endswith("~")
    if strip_after:
        inner = inner[:-1]
    tag = _classify(inner.strip(), text, start, at)
    tag.strip_before, tag.strip_after = strip_before, strip_after
    return tag, end + 2


def _classify(inner: str, text: str, pos: int, at: str) -> Tag:
    if inner.startswith("!"):
        return Tag("comment", text, pos)
    if not inner:
        raise TemplateSyntaxError(f"empty expression {text} ({at})")
    lead = inner[0]
    if lead == "#":
        body = inner[1:].strip()
        if body[:1] in (">", "*"):
            raise TemplateSyntaxError(f"{text}: partial blocks and decorators are not supported ({at})")
        name, arg = _helper_call(body, text, at)
        return Tag("open", text, pos, name=name, arg=arg)
    if lead == "/":
        name = inner[1:].strip()
        if not _ID.fullmatch(name):
            raise TemplateSyntaxError(f"{text} is not a valid closing tag ({at})")
        return Tag("close", text, pos, name=name)
    if lead == "^":
        if inner == "^":
            raise TemplateSyntaxError(f"{text} is not supported, write {{{{else}}}} ({at})")
        raise TemplateSyntaxError(
            f"{text}: inverted sections are not supported, write {{{{#unless {inner[1:].strip()}}}}} ({at})")
    if lead == ">":
        raise TemplateSyntaxError(f"{text}: partials are not supported ({at})")
    if lead == "&":
        raise TemplateSyntaxError(f"{text} is not supported, write {{{{{{{inner[1:].strip()}}}}}}} ({at})")
    if lead in "*{":
        raise TemplateSyntaxError(f"{text} is not valid Handlebars ({at})")
    parts = _split(inner, text, at)
    if parts[0] == "else":
        if len(parts) == 1:
            return Tag("else", text, pos)
        name, arg = _helper_call(inner[4:].strip(), text, at)
        if name not in CHAINABLE:
            raise TemplateSyntaxError(
                f"{text}: only {{{{else if ...}}}} and {{{{else unless ...}}}} can follow {{{{else}}}} ({at})")
        return Tag("else", text, pos, name=name, arg=arg)
    if len(parts) > 1:
        raise TemplateSyntaxError(_unsupported_helper(parts, text, at))
    name = _path(parts[0], text, at)
    if name in BLOCK_HELPERS:
        raise TemplateSyntaxError(
            f"{text}: '{name}' is a block helper, write {{{{#{name} x}}}}...{{{{/{name}}}}} ({at})")
    return Tag("var", text, pos, name=name)


def _helper_call(body: str, text: str, at: str) -> tuple[str, str]:
    parts = _split(body, text, at)
    name = parts[0]
    if name not in BLOCK_HELPERS:
        if len(parts) == 1 and _ID.fullmatch(name):
            raise TemplateSyntaxError(f"{text}: Mustache sections are not supported, write "
                                      f"{{{{#if {name}}}}} or {{{{#each {name}}}}} ({at})")
        raise TemplateSyntaxError(_unsupported_helper(parts, text, at, block=True))
    args = parts[1:]
    if "as" in args:
        raise TemplateSyntaxError(f"{text}: block parameters (as |x|) are not supported ({at})")
    if any("=" in a and a[:1] not in "\"'" for a in args):
        raise TemplateSyntaxError(f"{text}: hash arguments (key=value) are not supported ({at})")
    if len(args) != 1:
        raise TemplateSyntaxError(f"{text}: #{name} takes exactly one argument ({at})")
    arg = args[0]
    if arg[:1] in "\"'(" or _INT.fullmatch(arg) or arg in _LITERALS:
        raise TemplateSyntaxError(f"{text}: the argument of #{name} must be a variable ({at})")
    _path(arg, text, at)
    return name, arg


def _unsupported_helper(parts: list[str], text: str, at: str, block: bool = False) -> str:
    name = parts[0]
    if name.startswith("("):
        return f"{text}: subexpressions are not supported ({at})"
    if name in BLOCK_HELPERS and not block:
        return f"{text}: '{name}' is a block helper, write {{{{#{name} x}}}}...{{{{/{name}}}}} ({at})"
    if not block and len(parts) > 1 and all(_ID.fullmatch(p) for p in parts):
        hint = f"; a key with spaces is written {{{{[{' '.join(parts)}]}}}}"
    else:
        hint = ""
    return (f"{text}: unsupported helper '{name}' (supported: if, unless, each, with; compute the "
            f"value in your application and pass it as a variable{hint}) ({at})")


def _split(inner: str, text: str, at: str) -> list[str]:
    """Split a tag body on whitespace, keeping quoted strings, [segments] and (...) whole."""
    parts: list[str] = []
    i, n = 0, len(inner)
    while i < n:
        if inner[i].isspace():
            i += 1
            continue
        start = i
        depth = 0
        while i < n and (depth or not inner[i].isspace()):
            ch = inner[i]
            if ch in "\"'":
                close = inner.find(ch, i + 1)
                if close == -1:
                    raise TemplateSyntaxError(f"{text}: unterminated string ({at})")
                i = close
            elif ch == "[":
                close = inner.find("]", i + 1)
                if close == -1:
                    raise TemplateSyntaxError(f"{text}: '[' without ']' ({at})")
                i = close
            elif ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
            i += 1
        parts.append(inner[start:i])
    return parts


def _path(path: str, text: str, at: str) -> str:
    """Validate a variable path (``a.b``, ``this``, ``../x``, ``[a b]``, ``@key``)."""
    rest = path
    while rest.startswith("../"):
        rest = rest[3:]
    if rest.startswith("@"):
        head = re.match(r"@[\w-]*", rest).group(0)
        if head not in DATA_VARIABLES:
            raise TemplateSyntaxError(f"{text}: unknown data variable '{head}' "
                                      f"(supported: {', '.join(DATA_VARIABLES)}) ({at})")
        rest = rest[len(head):]
        if rest and rest[0] not in "./":
            raise TemplateSyntaxError(f"{text} is not a valid expression ({at})")
        rest = rest[1:]
        if not rest:
            return path
    if rest in ("this", ".", ""):
        if rest == "" and path == "":
            raise TemplateSyntaxError(f"empty expression {text} ({at})")
        return path
    for seg in re.split(r"[./](?![^\[]*\])", rest):
        if seg.startswith("[") and seg.endswith("]"):
            # pybars pastes a [segment] into generated Python source between quotes: quotes
            # and backslashes there would be code injection, so they are refused.
            if not _LITERAL_SEGMENT.fullmatch(seg[1:-1]):
                raise TemplateSyntaxError(f"{text}: a [segment] can't be empty or contain quotes, "
                                          f"backslashes or line breaks ({at})")
            continue
        if not _ID.fullmatch(seg):
            raise TemplateSyntaxError(f"{text} is not a valid expression ({at})")
    return path


# ------------------------------------------------------------------ structure


def validate(source: str) -> list[Text | Tag]:
    """Scan and check block structure; raises TemplateSyntaxError naming the first problem."""
    tokens = scan(source)
    if sum(1 for t in tokens if isinstance(t, Tag) and t.kind != "comment") > MAX_TAGS:
        raise TemplateSyntaxError(f"has more than {MAX_TAGS} Handlebars expressions; "
                                  "move repeated markup into an {{#each}} or into your application")
    stack: list[tuple[Tag, bool]] = []  # (opening tag, plain {{else}} seen)
    for tok in tokens:
        if not isinstance(tok, Tag):
            continue
        if tok.kind == "open":
            stack.append((tok, False))
            if len(stack) > MAX_DEPTH:
                raise TemplateSyntaxError(f"blocks are nested more than {MAX_DEPTH} deep ({where(source, tok.pos)})")
        elif tok.kind == "close":
            if not stack:
                raise TemplateSyntaxError(f"{tok.source} has no matching opening block ({where(source, tok.pos)})")
            opened, _ = stack.pop()
            if opened.name != tok.name:
                raise TemplateSyntaxError(
                    f"{tok.source} ({where(source, tok.pos)}) doesn't match {opened.source} "
                    f"opened at {where(source, opened.pos)}")
        elif tok.kind == "else":
            if not stack:
                raise TemplateSyntaxError(f"{tok.source} outside of a block ({where(source, tok.pos)})")
            opened, seen = stack[-1]
            if seen:
                raise TemplateSyntaxError(
                    f"{tok.source} ({where(source, tok.pos)}) after {{{{else}}}} in {opened.source} "
                    f"opened at {where(source, opened.pos)}")
            stack[-1] = (opened, not tok.name)
    if stack:
        opened, _ = stack[-1]
        raise TemplateSyntaxError(f"{opened.source} opened at {where(source, opened.pos)} is never closed "
                                  f"with {{{{/{opened.name}}}}}")
    return tokens


# ------------------------------------------------------------------ normalisation


def normalise(source: str) -> Normalised:
    tokens = validate(source)
    texts = _apply_whitespace(tokens)
    out: list[str] = []
    result = Normalised("", [])
    chains: list[list[str]] = []  # per open block: helpers of its else-chain links
    pending: list[str] = []

    def flush() -> None:
        if pending:
            value = "".join(pending)
            pending.clear()
            if value:
                out.append(f"{MARK_OPEN}{len(result.texts)}{MARK_CLOSE}")
                result.texts.append(value)

    for tok, text in zip(tokens, texts, strict=True):
        if isinstance(tok, Text):
            pending.append(text)
            continue
        if tok.kind == "comment":
            continue  # text on both sides joins into one run
        flush()
        if tok.kind in ("var", "raw"):
            out.append(f"{{{{{tok.name}}}}}" if tok.kind == "var" else f"{{{{{{{tok.name}}}}}}}")
        elif tok.kind == "open":
            chains.append([])
            out.append(f"{{{{#{tok.name} {tok.arg}}}}}")
        elif tok.kind == "else":
            out.append("{{else}}")
            if tok.name:
                chains[-1].append(tok.name)
                out.append(f"{{{{#{tok.name} {tok.arg}}}}}")
        elif tok.kind == "close":
            out.extend(f"{{{{/{name}}}}}" for name in reversed(chains.pop()))
            out.append(f"{{{{/{tok.name}}}}}")
    flush()
    result.skeleton = "".join(out)
    return result


def _apply_whitespace(tokens: list[Text | Tag]) -> list[str]:
    """Handlebars.js whitespace rules, on the token list; returns each token's text.

    A block, else or comment tag alone on its line (only whitespace around it) removes that
    line's indentation and line break. ``{{~`` / ``~}}`` remove all whitespace before/after.
    """
    texts = [t.value if isinstance(t, Text) else "" for t in tokens]
    trim_end = [False] * len(tokens)  # drop whitespace after the text's last line break
    trim_start = [False] * len(tokens)  # drop whitespace up to and including the first line break
    last = len(tokens) - 1
    for i, tok in enumerate(tokens):
        if not isinstance(tok, Tag) or not tok.standalone_kind:
            continue
        prev = tokens[i - 1] if i > 0 else None
        nxt = tokens[i + 1] if i < last else None
        if prev is not None:
            if not isinstance(prev, Text):
                continue
            head, sep, tail = prev.value.rpartition("\n")
            if tail.strip(" \t\r") or (not sep and i - 1 != 0):
                continue
        if nxt is not None:
            if not isinstance(nxt, Text):
                continue
            head, sep, tail = nxt.value.partition("\n")
            if head.strip(" \t\r") or (not sep and i + 1 != last):
                continue
        if prev is not None:
            trim_end[i - 1] = True
        if nxt is not None:
            trim_start[i + 1] = True
    for i, tok in enumerate(tokens):
        if not isinstance(tok, Text):
            continue
        value = tok.value
        start, end = 0, len(value)
        if trim_start[i]:
            nl = value.find("\n")
            start = len(value) if nl == -1 else nl + 1
        if trim_end[i]:
            end = value.rfind("\n") + 1
        texts[i] = value[start:end] if start <= end else ""
    for i, tok in enumerate(tokens):
        if isinstance(tok, Tag):
            if tok.strip_before and i > 0 and isinstance(tokens[i - 1], Text):
                texts[i - 1] = texts[i - 1].rstrip()
            if tok.strip_after and i < last and isinstance(tokens[i + 1], Text):
                texts[i + 1] = texts[i + 1].lstrip()
    return texts


# ------------------------------------------------------------------ test data


def sample_variables(*sources: str) -> dict:
    """Test data for a template, as the editor's Test Data tab offers it: every variable the
    template uses, valued ``Test_<name>``; objects for ``#with``, one-item lists for ``#each``."""
    root: dict = {}
    for source in sources:
        if source:
            _collect(validate(source), root)
    return root


def _collect(tokens: list[Text | Tag], root: dict) -> None:
    scopes: list[dict] = [root]
    frames: list[dict] = []  # per open block: {"pushed": bool, "list": [..] | None, "name": str}
    for tok in tokens:
        if not isinstance(tok, Tag):
            continue
        if tok.kind in ("var", "raw"):
            _touch(scopes, root, tok.name, "leaf", frames)
        elif tok.kind == "open" and tok.name in ("with", "each"):
            target = _touch(scopes, root, tok.arg, "object" if tok.name == "with" else "list", frames)
            frame = {"pushed": target is not None, "list": target if isinstance(target, list) else None,
                     "name": tok.arg.split(".")[-1]}
            if isinstance(target, list):
                if not isinstance(target[0], dict):
                    target[0] = {}
                target = target[0]
            if target is not None:
                scopes.append(target)
            frames.append(frame)
        elif tok.kind == "open":
            _touch(scopes, root, tok.arg, "leaf", frames)
            frames.append({"pushed": False, "list": None})
        elif tok.kind == "else":
            if tok.name:
                _touch(scopes, root, tok.arg, "leaf", frames)
            elif frames and frames[-1]["pushed"]:  # the else of with/each runs in the outer context
                _finish(frames[-1], scopes.pop())
                frames[-1]["pushed"] = False
        elif tok.kind == "close":
            frame = frames.pop()
            if frame["pushed"]:
                _finish(frame, scopes.pop())


def _finish(frame: dict, scope: dict) -> None:
    items = frame.get("list")
    if items is not None and not scope:  # {{#each tags}}{{this}}{{/each}}: a list of strings
        items[0] = f"Test_{frame['name']}"


def _touch(scopes: list[dict], root: dict, path: str, kind: str, frames: list[dict]) -> object:
    depth = 0
    while path.startswith("../"):
        path, depth = path[3:], depth + 1
    if path.startswith("@"):
        if not path.startswith("@root"):
            return None
        obj, path = root, path[len("@root"):].lstrip("./")
    else:
        obj = scopes[max(0, len(scopes) - 1 - depth)]
    segments = [s.strip("[]") for s in re.split(r"[./](?![^\[]*\])", path) if s not in ("", "this")]
    if not segments:
        return obj
    for seg in segments[:-1]:
        child = obj.get(seg)
        if isinstance(child, list) and child and isinstance(child[0], dict):
            child = child[0]
        elif not isinstance(child, dict):
            child = obj[seg] = {}
        obj = child
    last = segments[-1]
    current = obj.get(last)
    if kind == "leaf":
        if current is None:
            obj[last] = f"Test_{last}"
        return obj[last]
    if kind == "object" and not isinstance(current, dict):
        obj[last] = {}
    elif kind == "list" and not isinstance(current, list):
        obj[last] = [{}]
    return obj[last]
