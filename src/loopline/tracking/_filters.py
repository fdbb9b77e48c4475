"""Run search filters: a small grammar, parsed by hand into an immutable AST, and formatted back.

This module imports no database layer, so a client or an interface can parse and check a filter
(and point at the column of a mistake) without SQLAlchemy; :mod:`loopline.tracking._search`
compiles the AST to SQL.

The grammar (keywords, prefixes and attribute names are case-insensitive; keys are not)::

    filter      := [or_expr]                         empty: every run
    or_expr     := and_expr ("or" and_expr)*
    and_expr    := not_expr ("and" not_expr)*         "and" binds tighter than "or"
    not_expr    := "not" not_expr | "(" or_expr ")" | comparison
    comparison  := field ("=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">=") value
                 | field ("like" | "ilike") text
                 | field ["not"] "in" "(" value ("," value)* ")"
                 | field "is" ["not"] "null"          the key was never logged / was logged
                 | field "is" ["not"] "nan"           metrics only: the latest value is NaN
    field       := ("metrics" | "params" | "tags") "." key
                 | [("attributes" | "run") "."] attribute
    attribute   := "status" | "name" | "run_id" | "id" | "parent_id" | "start_time" | "end_time"
    key         := bare key (letters, digits and _ . - / :) | `back quoted` | "double quoted"
    value       := number (1, -2, 0.5, 1e-3) | text in single quotes ('it''s')

What a comparison means:

- ``metrics.KEY`` compares the latest value (highest step) as a number. A NaN never satisfies a
  comparison (not even ``!=``); find it with ``metrics.KEY is nan``.
- ``params.KEY`` and ``tags.KEY`` hold text. A param compared with a number (``params.lr < 0.01``,
  ``params.depth in (3, 5)``) compares numerically, on the runs whose value is a number; other
  values never match and never make the query fail.
- ``status`` is one of running, finished, failed, killed; ``start_time`` and ``end_time`` compare
  with ISO-8601 text (``'2024-05-01T12:00:00Z'``, UTC unless it says otherwise) or epoch
  milliseconds.
- ``like`` is case-sensitive, ``ilike`` is not: ``%`` is any text, ``_`` any one character, and
  a backslash makes the next character literal (``'100\\%'``).
- A comparison matches only runs that have a value: ``params.model != 'rf'`` skips runs without
  the param, ``parent_id != 'x'`` skips runs without a parent. ``not`` is the plain complement:
  ``not params.model = 'rf'`` also matches runs that never logged ``model``.

Example:
    >>> f = parse_filter("metrics.acc > 0.9 AND (params.model = 'rf' or tags.team like 'a%')")
    >>> format_filter(f)
    "metrics.acc > 0.9 and (params.model = 'rf' or tags.team like 'a%')"
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, TypeAlias, get_args

from loopline.errors import InvalidInput, did_you_mean
from loopline.tracking._types import RUN_STATUSES

__all__ = [
    "Filter",
    "Field",
    "Comparison",
    "And",
    "Or",
    "Not",
    "MatchAll",
    "OrderTerm",
    "Kind",
    "Op",
    "Scalar",
    "Value",
    "parse_filter",
    "format_filter",
    "parse_order_by",
    "ATTRIBUTES",
    "to_time",
    "MAX_FILTER_LENGTH",
    "MAX_DEPTH",
    "MAX_CONDITIONS",
    "MAX_ORDER_TERMS",
]

MAX_FILTER_LENGTH = 10_000  # characters
MAX_DEPTH = 50  # nested parentheses and "not"s: no input can exhaust the parser's stack
# Each condition is a subquery; SQLite refuses expressions nested past 1,000 levels, and an
# "a or b or c ..." chain nests one level per condition.
MAX_CONDITIONS = 200
MAX_ORDER_TERMS = 10

Kind: TypeAlias = Literal["metrics", "params", "tags", "attributes"]
Op: TypeAlias = Literal[
    "=",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "like",
    "ilike",
    "in",
    "not in",
    "is null",
    "is not null",
    "is nan",
    "is not nan",
]
Scalar: TypeAlias = int | float | str
Value: TypeAlias = Scalar | tuple[Scalar, ...] | None

_KINDS: tuple[str, ...] = get_args(Kind)
_OPS: tuple[str, ...] = get_args(Op)
_ORDERING = ("<", "<=", ">", ">=")
_EQUALITY = ("=", "!=")
_PATTERN = ("like", "ilike")
_LIST = ("in", "not in")
_NULL = ("is null", "is not null")
_NAN = ("is nan", "is not nan")
_KEYWORDS = frozenset({"and", "or", "not", "in", "like", "ilike", "is", "null", "nan"})

# Attribute -> (type, nullable). "id" is an alias of "run_id"; "attributes." and "run." prefixes
# are accepted and dropped.
ATTRIBUTES: dict[str, tuple[Literal["text", "status", "time"], bool]] = {
    "status": ("status", False),
    "name": ("text", False),
    "run_id": ("text", False),
    "parent_id": ("text", True),
    "start_time": ("time", False),
    "end_time": ("time", True),
}
_ATTRIBUTE_ALIASES = {"id": "run_id"}
_ATTRIBUTE_PREFIXES = ("attributes", "run")
_BARE_KEY_PUNCTUATION = "_.-/:"


# -- the AST ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Field:
    """What a comparison looks at: ``Field("metrics", "acc")``, ``Field("attributes", "status")``.

    Attribute names are canonical (``run_id``, never ``id``).
    """

    kind: Kind
    key: str

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise InvalidInput(f"Unknown field kind {self.kind!r}: one of {', '.join(_KINDS)}.")
        if self.kind == "attributes" and self.key not in ATTRIBUTES:
            raise InvalidInput(
                f"Unknown attribute {self.key!r}: one of {', '.join(ATTRIBUTES)}."
                + did_you_mean(self.key, ATTRIBUTES)
            )
        problem = _text_problem(self.key, "a key") or (None if self.key else "a key is empty")
        if problem:
            raise InvalidInput(f"Invalid field: {problem}.")

    def __str__(self) -> str:
        if self.kind == "attributes":
            return self.key
        return f"{self.kind}.{_format_key(self.key)}"


@dataclass(frozen=True, slots=True)
class Comparison:
    """``field op value``. ``value`` is a tuple for ``in``/``not in`` and None for ``is ...``.

    Example:
        >>> Comparison(Field("metrics", "acc"), ">", 0.9)
        Comparison(field=Field(kind='metrics', key='acc'), op='>', value=0.9)
    """

    field: Field
    op: Op
    value: Value = None

    def __post_init__(self) -> None:
        problem = _check_comparison(self.field, self.op, self.value)
        if problem is not None:
            raise InvalidInput(f"Invalid filter condition: {problem[0]}")


@dataclass(frozen=True, slots=True)
class And:
    """Every operand matches (two or more)."""

    operands: tuple[Filter, ...]

    def __post_init__(self) -> None:
        _check_operands("and", self.operands)


@dataclass(frozen=True, slots=True)
class Or:
    """At least one operand matches (two or more)."""

    operands: tuple[Filter, ...]

    def __post_init__(self) -> None:
        _check_operands("or", self.operands)


@dataclass(frozen=True, slots=True)
class Not:
    """The operand does not match."""

    operand: Filter

    def __post_init__(self) -> None:
        if not isinstance(self.operand, Comparison | And | Or | Not):
            raise InvalidInput("'not' takes a condition.")


@dataclass(frozen=True, slots=True)
class MatchAll:
    """The empty filter: every run matches."""


Filter: TypeAlias = Comparison | And | Or | Not | MatchAll


@dataclass(frozen=True, slots=True)
class OrderTerm:
    """One ``order_by`` item: a field and a direction."""

    field: Field
    descending: bool = False

    def __str__(self) -> str:
        return f"{self.field} {'desc' if self.descending else 'asc'}"


def _check_operands(word: str, operands: tuple[Filter, ...]) -> None:
    if not isinstance(operands, tuple) or len(operands) < 2:
        raise InvalidInput(f"'{word}' takes a tuple of two or more conditions.")
    if not all(isinstance(o, Comparison | And | Or | Not) for o in operands):
        raise InvalidInput(f"'{word}' takes conditions (Comparison, And, Or, Not).")


# -- typing rules ----------------------------------------------------------------------------


def _text_problem(text: object, what: str) -> str | None:
    """Text no database can store: NUL (PostgreSQL refuses it) and lone surrogates (no UTF-8)."""
    if not isinstance(text, str):
        return f"{what} must be text"
    if "\x00" in text:
        return f"{what} contains a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return f"{what} contains a lone surrogate character, which is not valid Unicode"
    return None


def _allowed_ops(field: Field) -> tuple[str, ...]:
    if field.kind == "metrics":
        return _EQUALITY + _ORDERING + _LIST + _NULL + _NAN
    if field.kind == "params":
        return _EQUALITY + _ORDERING + _PATTERN + _LIST + _NULL
    if field.kind == "tags":
        return _EQUALITY + _PATTERN + _LIST + _NULL
    kind, nullable = ATTRIBUTES[field.key]
    ops = _EQUALITY + _ORDERING if kind == "time" else _EQUALITY + _PATTERN + _LIST
    return ops + _NULL if nullable else ops


def _check_comparison(field: object, op: str, value: object) -> tuple[str, bool] | None:
    """What is wrong with ``field op value``, and whether it is the value (else the operator)."""
    if not isinstance(field, Field):
        return "the field must be a Field", False
    if op not in _OPS:
        return f"unknown operator {op!r}", False
    name = str(field)
    allowed = _allowed_ops(field)
    if op not in allowed:
        hint = ""
        if op in _NAN:
            hint = "'is nan' applies to metrics only. "
        elif op in _NULL:
            hint = f"{name} always has a value. "
        return f"{name} cannot be used with '{op}'. {hint}It takes {_list_ops(allowed)}.", False
    if op in _NULL + _NAN:
        return None if value is None else (f"'{op}' takes no value", True)
    if op in _LIST:
        if not isinstance(value, tuple) or not value:
            return f"'{op}' takes a list of one or more values", True
        values: tuple[object, ...] = value
    else:
        values = (value,)
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int | float | str):
            return f"{v!r} is not a number or a text", True
        if isinstance(v, float) and not math.isfinite(v):
            return f"{v!r} is not a finite number", True
        if isinstance(v, str) and (problem := _text_problem(v, "the text")):
            return problem, True
    texts = [v for v in values if isinstance(v, str)]
    if texts and len(texts) != len(values):
        return f"the values of '{op}' must be all numbers or all text", True
    return _check_types(field, name, op, values, numbers=not texts)


def _check_types(
    field: Field, name: str, op: str, values: tuple[object, ...], *, numbers: bool
) -> tuple[str, bool] | None:
    first = values[0]
    if field.kind == "metrics":
        if numbers:
            return None
        hint = ""
        if isinstance(first, str) and first.strip().lower() == "nan":
            hint = f" To find NaN values, write: {name} is nan."
        shown = _quote(str(first))
        return f"{name} holds numbers: compare it with a number, not {shown}.{hint}", True
    if field.kind == "params":
        if op in _PATTERN and numbers:
            return f"'{op}' takes a text pattern in single quotes, such as '%rf%'", True
        if op in _ORDERING and not numbers:
            return (
                f"'{op}' compares {name} as a number: write a number such as 0.1, "
                f"not the text {_quote(str(first))}",
                True,
            )
        return _pattern_problem(op, first)
    kind = "text" if field.kind == "tags" else ATTRIBUTES[field.key][0]
    if kind == "time":
        for v in values:
            assert isinstance(v, int | float | str)
            try:
                to_time(v)
            except (ValueError, OverflowError):
                shown = _quote(v) if isinstance(v, str) else repr(v)
                return (
                    f"{name} compares with an ISO-8601 time such as '2024-05-01T12:00:00Z' "
                    f"or with epoch milliseconds, not {shown}",
                    True,
                )
        return None
    if numbers:
        return f"{name} holds text: quote the value, as in {name} = '{first}'", True
    if kind == "status" and op not in _PATTERN:
        for v in values:
            assert isinstance(v, str)
            if v.lower() not in RUN_STATUSES:
                return (
                    f"unknown status {_quote(v)}: a run's status is one of "
                    f"{', '.join(RUN_STATUSES)}.{did_you_mean(v.lower(), RUN_STATUSES)}",
                    True,
                )
    return _pattern_problem(op, first)


def _pattern_problem(op: str, pattern: object) -> tuple[str, bool] | None:
    if op in _PATTERN and isinstance(pattern, str):
        escapes = len(pattern) - len(pattern.rstrip("\\"))
        if escapes % 2:
            return (
                f"the pattern {_quote(pattern)} ends with the escape character '\\': "
                f"write '\\\\' for a backslash",
                True,
            )
    return None


def _list_ops(ops: tuple[str, ...]) -> str:
    return ", ".join(ops[:-1]) + " or " + ops[-1]


def to_time(value: int | float | str) -> datetime:
    """An ISO-8601 text (naive means UTC) or epoch milliseconds, as an aware UTC datetime."""
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value.strip())
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=value)


# -- lexer -----------------------------------------------------------------------------------

_NUMBER = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_OPERATORS = {
    "==": "=",
    "!=": "!=",
    "<>": "!=",
    "<=": "<=",
    ">=": ">=",
    "=": "=",
    "<": "<",
    ">": ">",
}


@dataclass(frozen=True, slots=True)
class _Token:
    kind: Literal["word", "field", "string", "number", "op", "(", ")", ",", "end"]
    pos: int  # offset of the first character in the filter
    text: str  # as written
    value: str | int | float = ""  # word (lower case), operator, string or number
    key: str = ""  # for fields: the key after the prefix


class _Source:
    """The text being parsed, and how to point at a place in it."""

    def __init__(self, text: str, what: str) -> None:
        self.text = text
        self.what = what  # "filter" or "order_by"

    def error(self, pos: int, problem: str) -> InvalidInput:
        line = self.text.count("\n", 0, pos) + 1
        column = pos - (self.text.rfind("\n", 0, pos) + 1) + 1
        where = f"line {line}, column {column}" if "\n" in self.text else f"column {column}"
        if len(self.text) <= 80:
            context = f"of {_show(self.text)}"
        else:
            start, end = max(0, pos - 30), min(len(self.text), pos + 30)
            excerpt = (
                ("…" if start else "")
                + self.text[start:end]
                + ("…" if end < len(self.text) else "")
            )
            context = f"(near {_show(excerpt)})"
        problem = problem if problem.endswith((".", "?")) else problem + "."
        return InvalidInput(
            f"Invalid {self.what} at {where} {context}: {problem}",  # "Invalid filter at ..."
            details={
                self.what: _storable(self.text),
                "line": line,
                "column": column,
                "offset": pos,
            },
        )


def _storable(text: str) -> str:
    """The text with lone surrogates as U+FFFD: one character for one, so columns still match,
    and the error can be written as UTF-8 (JSON over HTTP, logs)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in text)
    return text


def _show(text: str) -> str:
    """Text in double quotes on one line: control and separator characters are escaped."""
    quoted = json.dumps(text, ensure_ascii=False)
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in quoted)


def _quote(text: str) -> str:
    """A value as it is written in a filter: 'it''s'."""
    shown = text if len(text) <= 40 else text[:40] + "…"
    shown = "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in shown)
    return "'" + shown.replace("'", "''") + "'"


def _lex(source: _Source) -> list[_Token]:
    text = source.text
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            tokens.append(_Token("end", n, ""))
            return tokens
        c = text[i]
        if c == "'":
            value, end = _read_quoted(source, i, "text")
            tokens.append(_Token("string", i, text[i:end], value))
        elif c in "-.0123456789" and (match := _NUMBER.match(text, i)):
            end = match.end()
            if end < n and (text[end].isalnum() or text[end] in "_."):
                while end < n and (text[end].isalnum() or text[end] in "_.-+"):
                    end += 1
                raise source.error(i, f"malformed number {_quote(text[i:end])[1:-1]!r}")
            written = match.group()
            number = float(written)
            if not math.isfinite(number):
                raise source.error(i, f"the number {written[:40]} is out of range")
            exact = int(written) if written.lstrip("-").isdigit() else number
            tokens.append(_Token("number", i, written, exact))
        elif c.isalpha() or c == "_":
            end = i
            while end < n and (text[end].isalnum() or text[end] == "_"):
                end += 1
            word = text[i:end]
            if end < n and text[end] == ".":
                key, end = _read_key(source, word, end + 1)
                tokens.append(_Token("field", i, text[i:end], word.lower(), key))
            else:
                tokens.append(_Token("word", i, word, word.lower()))
        elif c in "=<>!":
            two = text[i : i + 2]
            op = _OPERATORS.get(two) or _OPERATORS.get(c)
            if op is None:
                raise source.error(i, "unexpected '!': write != for 'not equal'")
            end = i + (2 if two in _OPERATORS else 1)
            tokens.append(_Token("op", i, text[i:end], op))
        elif c in "(),":
            tokens.append(_Token(c, i, c))  # type: ignore[arg-type]  # c is one of the three
            end = i + 1
        elif c == '"':
            raise source.error(
                i,
                'double quotes name keys (metrics."f1-score"); write text values in single '
                "quotes, as in params.model = 'rf'",
            )
        elif c == "`":
            raise source.error(i, "back quotes name keys after a prefix, as in metrics.`val acc`")
        else:
            shown = c if c.isprintable() else repr(c)[1:-1]
            hint = "; a filter is one expression (no ';')" if c == ";" else ""
            raise source.error(i, f"unexpected character '{shown}'{hint}")
        i = end


def _read_quoted(source: _Source, start: int, what: str) -> tuple[str, int]:
    """Read from the quote at ``start`` to its partner; a doubled quote is one quote."""
    text, quote = source.text, source.text[start]
    parts: list[str] = []
    i = start + 1
    while True:
        end = text.find(quote, i)
        if end < 0:
            raise source.error(
                start,
                f"the {what} starting here has no closing {quote} (write {quote * 2} "
                f"for a {quote} inside it)",
            )
        parts.append(text[i:end])
        if text.startswith(quote, end + 1):
            parts.append(quote)
            i = end + 2
            continue
        return "".join(parts), end + 1


def _read_key(source: _Source, prefix: str, start: int) -> tuple[str, int]:
    text = source.text
    if start < len(text) and text[start] in '`"':
        key, end = _read_quoted(source, start, "key")
        if not key:
            raise source.error(start, "the key is empty")
        return key, end
    end = start
    while end < len(text) and (text[end].isalnum() or text[end] in _BARE_KEY_PUNCTUATION):
        end += 1
    if end == start:
        raise source.error(
            start, f"expected a key after '{prefix}.' (quote unusual keys: {prefix}.`a key`)"
        )
    return text[start:end], end


# -- parser ----------------------------------------------------------------------------------


class _Parser:
    def __init__(self, source: _Source) -> None:
        self.source = source
        self.tokens = _lex(source)
        self.index = 0
        self.conditions = 0

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        self.index = min(self.index + 1, len(self.tokens) - 1)
        return token

    def at_word(self, *words: str) -> bool:
        token = self.peek()
        return token.kind == "word" and token.value in words

    def error(self, token: _Token, problem: str) -> InvalidInput:
        return self.source.error(token.pos, problem)

    def filter(self) -> Filter:
        if self.peek().kind == "end":
            return MatchAll()
        result = self.or_expr(0)
        token = self.peek()
        if token.kind != "end":
            if token.kind == ")":
                raise self.error(token, "unexpected ')': there is no '(' for it to close")
            raise self.error(token, f"expected 'and', 'or' or the end, found {_describe(token)}")
        return result

    def or_expr(self, depth: int) -> Filter:
        operands = [self.and_expr(depth)]
        while self.at_word("or"):
            self.advance()
            operands.append(self.and_expr(depth))
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def and_expr(self, depth: int) -> Filter:
        operands = [self.not_expr(depth)]
        while self.at_word("and"):
            self.advance()
            operands.append(self.not_expr(depth))
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def not_expr(self, depth: int) -> Filter:
        token = self.peek()
        if token.kind == "(" or (token.kind == "word" and token.value == "not"):
            if depth >= MAX_DEPTH:
                raise self.error(
                    token,
                    f"the filter nests parentheses and 'not' more than {MAX_DEPTH} levels deep; "
                    f"simplify it",
                )
            self.advance()
            if token.kind == "word":
                return Not(self.not_expr(depth + 1))
            inner = self.or_expr(depth + 1)
            closing = self.peek()
            if closing.kind != ")":
                raise self.error(
                    closing,
                    f"expected ')' to close the '(' at column {token.pos + 1}, "
                    f"found {_describe(closing)}",
                )
            self.advance()
            return inner
        return self.comparison()

    def comparison(self) -> Comparison:
        before = self.tokens[self.index - 1] if self.index else None
        token = self.advance()
        field = self.field(token, before, "a condition such as metrics.acc > 0.9")
        self.conditions += 1
        if self.conditions > MAX_CONDITIONS:
            raise self.error(
                token, f"the filter has more than {MAX_CONDITIONS} conditions; simplify it"
            )
        op_token = self.advance()
        op, value, value_token = self.operator_and_value(field, op_token)
        problem = _check_comparison(field, op, value)
        if problem is not None:
            message, about_value = problem
            raise self.error(value_token if about_value else op_token, message)
        return Comparison(field, op, value)

    def field(self, token: _Token, before: _Token | None, expected: str) -> Field:
        if token.kind == "field":
            prefix, key = str(token.value), token.key
            if prefix in ("metrics", "params", "tags"):
                return Field(prefix, key)  # type: ignore[arg-type]  # checked just above
            if prefix in _ATTRIBUTE_PREFIXES:
                return self.attribute(token, key)
            candidates = [f"{p}.{key}" for p in ("metrics", "params", "tags")]
            candidates += [f"attributes.{a}" for a in ATTRIBUTES]
            hint = did_you_mean(f"{prefix}.{key}", candidates) or (
                " Fields start with metrics., params., tags. or attributes."
            )
            raise self.error(token, f"unknown field {_quote(token.text)[1:-1]!r}.{hint}")
        if token.kind == "word" and token.value not in _KEYWORDS:
            return self.attribute(token, token.text)
        context = f" after {_describe(before)}" if before is not None else ""
        hint = ""
        if token.kind in ("number", "string"):
            hint = "; put the field first, as in metrics.acc > 0.9"
        raise self.error(token, f"expected {expected}{context}, found {_describe(token)}{hint}")

    def attribute(self, token: _Token, name: str) -> Field:
        canonical = _ATTRIBUTE_ALIASES.get(name.lower(), name.lower())
        if canonical in ATTRIBUTES:
            return Field("attributes", canonical)
        hint = did_you_mean(name.lower(), [*ATTRIBUTES, *_ATTRIBUTE_ALIASES])
        if not hint and token.kind == "word":
            hint = f" Keys take a prefix: metrics.{name}, params.{name} or tags.{name}."
        hint += f" The attributes are {', '.join(ATTRIBUTES)}."
        raise self.error(token, f"unknown field {_quote(token.text)[1:-1]!r}.{hint}")

    def operator_and_value(self, field: Field, token: _Token) -> tuple[Op, Value, _Token]:
        if token.kind == "op":
            op: Op = token.value  # type: ignore[assignment]  # the lexer makes only these
            return op, self.value(token), self.peek_previous()
        word = token.value if token.kind == "word" else None
        if word in ("like", "ilike"):
            return word, self.value(token), self.peek_previous()  # type: ignore[return-value]
        if word == "in":
            return "in", *self.value_list(token)
        if word == "not":
            following = self.advance()
            if following.kind == "word" and following.value == "in":
                return "not in", *self.value_list(following)
            raise self.error(
                following,
                f"expected 'in' after 'not', found {_describe(following)} (to negate a "
                f"condition, put 'not' before it: not {field} like '...')",
            )
        if word == "is":
            negated = self.at_word("not")
            if negated:
                self.advance()
            what = self.advance()
            if what.kind == "word" and what.value in ("null", "nan"):
                op = f"is {'not ' if negated else ''}{what.value}"  # type: ignore[assignment]
                return op, None, token
            expected = "'null' or 'nan'" if field.kind == "metrics" else "'null'"
            raise self.error(
                what,
                f"expected {expected} after '{'is not' if negated else 'is'}', "
                f"found {_describe(what)}",
            )
        raise self.error(
            token,
            f"expected an operator after {_quote(str(field))[1:-1]!r} "
            f"(=, !=, <, <=, >, >=, like, ilike, in, not in, is null), found {_describe(token)}",
        )

    def peek_previous(self) -> _Token:
        return self.tokens[self.index - 1]

    def value(self, after: _Token) -> Scalar:
        token = self.advance()
        if token.kind in ("string", "number"):
            assert isinstance(token.value, int | float | str)
            return token.value
        hint = ""
        if token.kind == "word" and token.value == "null":
            hint = "; to find runs without a value, write 'is null'"
        elif token.kind in ("word", "field"):
            hint = f"; quote text in single quotes, as in {_quote(token.text)}"
        raise self.error(
            token, f"expected a value after '{after.text}', found {_describe(token)}{hint}"
        )

    def value_list(self, after: _Token) -> tuple[tuple[Scalar, ...], _Token]:
        opening = self.advance()
        if opening.kind != "(":
            raise self.error(
                opening,
                f"expected '(' after '{after.text}', as in in ('rf', 'xgb'), "
                f"found {_describe(opening)}",
            )
        first = self.peek()
        values = [self.value(opening)]
        while True:
            token = self.advance()
            if token.kind == ")":
                return tuple(values), first
            if token.kind != ",":
                raise self.error(
                    token,
                    f"expected ',' or ')' in the list that starts at column {opening.pos + 1}, "
                    f"found {_describe(token)}",
                )
            values.append(self.value(token))


def _describe(token: _Token) -> str:
    if token.kind == "end":
        return "the end of the filter"
    text = token.text if len(token.text) <= 40 else token.text[:40] + "…"
    text = "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)
    if token.kind == "string":
        return f"the text {text}"
    if token.kind == "number":
        return f"the number {text}"
    return f"'{text}'"


# -- public parsing and formatting -----------------------------------------------------------


def parse_filter(text: str) -> Filter:
    """Parse a search filter into an immutable AST.

    Empty or blank text matches every run (:class:`MatchAll`).

    Example:
        >>> parse_filter("metrics.acc > 0.9 and tags.team = 'a'")  # doctest: +NORMALIZE_WHITESPACE
        And(operands=(Comparison(field=Field(kind='metrics', key='acc'), op='>', value=0.9),
                      Comparison(field=Field(kind='tags', key='team'), op='=', value='a')))

    Raises:
        InvalidInput: a syntax or type error. The message names the column and what was expected
            there; ``details`` carries ``filter``, ``line``, ``column`` (1-based) and ``offset``
            (0-based) so an interface can draw a caret under the place.
    """
    if not isinstance(text, str):
        raise InvalidInput(f"A filter is text, not {type(text).__name__}.")
    source = _Source(text, "filter")
    if len(text) > MAX_FILTER_LENGTH:
        raise source.error(
            MAX_FILTER_LENGTH,
            f"the filter is {len(text):,} characters long; the limit is {MAX_FILTER_LENGTH:,}",
        )
    # Neither database can store these, so no value may hold them: refuse them up front.
    if "\x00" in text:
        raise source.error(text.index("\x00"), "the filter contains a NUL character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        problem = "the filter contains a lone surrogate (not valid Unicode)"
        raise source.error(exc.start, problem) from None
    return _Parser(source).filter()


def format_filter(f: Filter) -> str:
    """The canonical text of a filter: ``parse_filter(format_filter(f)) == f``.

    Keywords are lower case, keys are quoted only when they must be, ``id`` is ``run_id``.

    Example:
        >>> format_filter(parse_filter("NOT (Metrics.`acc` >= 1E-3 OR id IN ('a'))"))
        "not (metrics.acc >= 0.001 or run_id in ('a'))"
    """
    if isinstance(f, MatchAll):
        return ""
    if isinstance(f, Comparison):
        field = str(f.field)
        if f.value is None:
            return f"{field} {f.op}"
        if isinstance(f.value, tuple):
            return f"{field} {f.op} ({', '.join(_format_value(v) for v in f.value)})"
        return f"{field} {f.op} {_format_value(f.value)}"
    if isinstance(f, Not):
        inner = format_filter(f.operand)
        return f"not ({inner})" if isinstance(f.operand, And | Or) else f"not {inner}"
    # Parentheses keep the tree as it is: an And inside an Or needs none (and binds tighter),
    # anything else nested in an And or an Or gets them.
    parts = []
    for operand in f.operands:
        text = format_filter(operand)
        plain = isinstance(operand, Comparison | Not) or (
            isinstance(f, Or) and isinstance(operand, And)
        )
        parts.append(text if plain else f"({text})")
    return f" {'and' if isinstance(f, And) else 'or'} ".join(parts)


def _format_value(value: Scalar) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


def _format_key(key: str) -> str:
    bare = all(c.isalnum() or c in _BARE_KEY_PUNCTUATION for c in key)
    return key if key and bare else "`" + key.replace("`", "``") + "`"


def parse_order_by(items: Sequence[str]) -> tuple[OrderTerm, ...]:
    """Parse ``order_by`` items: a field, then ``asc`` (the default) or ``desc``.

    A single string is one item. Runs lacking the key sort last in both directions.

    Example:
        >>> [str(t) for t in parse_order_by(["metrics.acc DESC", "params.lr", "id"])]
        ['metrics.acc desc', 'params.lr asc', 'run_id asc']

    Raises:
        InvalidInput: an item is not ``field [asc|desc]``, or there are more than 10.
    """
    if isinstance(items, str):
        items = [items]
    if len(items) > MAX_ORDER_TERMS:
        raise InvalidInput(
            f"order_by has {len(items)} items; the limit is {MAX_ORDER_TERMS}.",
            details={"order_by": list(items)},
        )
    terms = []
    for item in items:
        if not isinstance(item, str):
            raise InvalidInput(
                f"order_by items are text such as 'metrics.acc desc', not {type(item).__name__}."
            )
        source = _Source(item[:1000], "order_by")
        if len(item) > 1000 or "\x00" in item:
            raise source.error(0, "an order_by item is a field and asc or desc")
        parser = _Parser(source)
        token = parser.advance()
        if token.kind == "end":
            raise source.error(0, "expected a field such as metrics.acc, found nothing")
        field = parser.field(token, None, "a field such as metrics.acc")
        descending = parser.at_word("desc")
        if parser.at_word("asc", "desc"):
            parser.advance()
        token = parser.peek()
        if token.kind != "end":
            raise parser.error(
                token, f"expected 'asc', 'desc' or the end, found {_describe(token)}"
            )
        terms.append(OrderTerm(field, descending))
    return tuple(terms)
