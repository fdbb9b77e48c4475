"""Run search in SQL: a parsed filter (see :mod:`loopline.tracking._filters`) as a SQLAlchemy query.

Every value is a bound parameter. Conditions on metrics, params and tags are ``EXISTS``
subqueries correlated on the run and answered from the primary keys ``(run_id, key)``; ordering
by one outer-joins its row.

Example:
    >>> query = search_query("0" * 32, "metrics.acc > 0.9", order_by=["metrics.acc desc"], limit=10)
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, TypeAlias

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Float,
    Numeric,
    Select,
    String,
    and_,
    bindparam,
    case,
    cast,
    exists,
    false,
    func,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import InstrumentedAttribute, aliased
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from loopline.errors import InvalidInput
from loopline.tracking._filters import (
    ATTRIBUTES,
    And,
    Comparison,
    Filter,
    MatchAll,
    Not,
    Or,
    OrderTerm,
    Scalar,
    Value,
    parse_filter,
    parse_order_by,
    to_time,
)
from loopline.tracking._tables import MetricSummaryRow, ParamRow, RunRow, TagRow

__all__ = ["compile_filter", "search_query", "count_query", "MAX_LIMIT", "MAX_OFFSET"]

MAX_LIMIT = 50_000
MAX_OFFSET = 2**62  # the databases count rows in 64-bit integers


# -- SQL -------------------------------------------------------------------------------------

_Column: TypeAlias = ColumnElement[Any] | InstrumentedAttribute[Any]
_KEY_TABLES: dict[str, type[MetricSummaryRow] | type[ParamRow] | type[TagRow]] = {
    "metrics": MetricSummaryRow,
    "params": ParamRow,
    "tags": TagRow,
}

# A number PostgreSQL's numeric type always accepts, in the forms SQLite recognises as numbers.
_NUMBER_PATTERN = (
    r"^\s*[-+]?([0-9]{1,100}(\.[0-9]{0,100})?|\.[0-9]{1,100})([eE][-+]?[0-9]{1,3})?\s*$"
)


class _TextAsNumber(FunctionElement[Decimal]):
    """A text column as a number, or NULL when it is not one: never an error.

    Clauses: the column, the pattern (PostgreSQL only). PostgreSQL guards the cast with a
    regular expression inside CASE (CASE, unlike AND, fixes the order of evaluation). SQLite's
    CAST never fails, but turns 'abc' into 0 and '1-2' into 1; comparing the cast with the text
    itself applies numeric affinity to the text, which succeeds only for a well-formed number.
    NUMERIC rather than REAL keeps integers exact (a 17-digit seed is not a float).
    """

    type = Numeric()
    name = "text_as_number"
    inherit_cache = True


@compiles(_TextAsNumber)
def _text_as_number_default(element: _TextAsNumber, compiler: SQLCompiler, **kw: Any) -> str:
    text, pattern = element.clauses.clauses
    return compiler.process(case((text.regexp_match(pattern), cast(text, Numeric()))), **kw)


@compiles(_TextAsNumber, "sqlite")
def _text_as_number_sqlite(element: _TextAsNumber, compiler: SQLCompiler, **kw: Any) -> str:
    text, _pattern = element.clauses.clauses
    number = cast(text, Numeric())
    return compiler.process(case((number == text, number)), **kw)


def _as_number(text: _Column) -> _TextAsNumber:
    return _TextAsNumber(text, bindparam(None, _NUMBER_PATTERN, type_=String(), unique=True))


class _CaseSensitiveLike(FunctionElement[bool]):
    """``column LIKE pattern ESCAPE '\\'``, case-sensitive on every database.

    Clauses: the column, the LIKE pattern, the same pattern as a GLOB (SQLite only: its LIKE
    ignores ASCII case, its GLOB does not).
    """

    type = Boolean()
    name = "case_sensitive_like"
    inherit_cache = True


@compiles(_CaseSensitiveLike)
def _like_default(element: _CaseSensitiveLike, compiler: SQLCompiler, **kw: Any) -> str:
    column, pattern, _glob = element.clauses.clauses
    return compiler.process(column.like(pattern, escape="\\"), **kw)


@compiles(_CaseSensitiveLike, "sqlite")
def _like_sqlite(element: _CaseSensitiveLike, compiler: SQLCompiler, **kw: Any) -> str:
    column, _pattern, glob = element.clauses.clauses
    # glob(pattern, text) is "text GLOB pattern" as a function: it needs no precedence care.
    return compiler.process(func.glob(glob, column), **kw)


def _like_to_glob(pattern: str) -> str:
    out: list[str] = []
    chars = iter(pattern)
    for c in chars:
        if c == "\\":
            c = next(chars, "\\")
            out.append(f"[{c}]" if c in "*?[" else c)
        elif c == "%":
            out.append("*")
        elif c == "_":
            out.append("?")
        else:
            out.append(f"[{c}]" if c in "*?[" else c)
    return "".join(out)


def _text_condition(column: _Column, op: str, value: Value) -> ColumnElement[bool]:
    if op == "like":
        assert isinstance(value, str)
        return _CaseSensitiveLike(
            column,
            bindparam(None, value, type_=String(), unique=True),
            bindparam(None, _like_to_glob(value), type_=String(), unique=True),
        )
    if op == "ilike":
        return column.ilike(value, escape="\\")
    if op in ("in", "not in"):
        assert isinstance(value, tuple)
        texts = [str(v) for v in value]
        return column.in_(texts) if op == "in" else column.not_in(texts)
    return column == value if op == "=" else column != value


def _number_condition(column: _Column, op: str, value: Value) -> ColumnElement[bool]:
    """``column op value`` on a FLOAT column (a metric's latest value)."""

    def bound(v: Scalar) -> ColumnElement[float]:
        return bindparam(None, float(v), type_=Float(), unique=True)

    if isinstance(value, tuple):
        numbers = [bound(v) for v in value]
        return column.in_(numbers) if op == "in" else column.not_in(numbers)
    assert isinstance(value, int | float)
    return _compare(column, op, bound(value))


def _param_number_condition(column: _Column, op: str, value: Value) -> ColumnElement[bool]:
    """``column op value`` on the rows of a TEXT column that hold a number."""
    number = _as_number(column)

    def bound(v: Scalar) -> ColumnElement[Decimal]:
        # NUMERIC on both sides, the literal bound as its text: PostgreSQL compares exactly
        # (a float8 would overflow on '1e999', and round 20-digit seeds), SQLite as REAL.
        return cast(bindparam(None, repr(v), type_=String(), unique=True), Numeric())

    if isinstance(value, tuple):
        numbers = [bound(v) for v in value]
        return number.in_(numbers) if op == "in" else number.not_in(numbers)
    assert isinstance(value, int | float)
    return _compare(number, op, bound(value))


def _compare(left: _Column, op: str, right: ColumnElement[Any]) -> ColumnElement[bool]:
    if op == "=":
        return left == right
    if op == "!=":
        return left != right
    if op == "<":
        return left < right
    if op == "<=":
        return left <= right
    if op == ">":
        return left > right
    return left >= right


def _compile_comparison(c: Comparison, *, top_level: bool = False) -> ColumnElement[bool]:
    kind, key, op, value = c.field.kind, c.field.key, c.op, c.value
    if kind == "attributes":
        return _attribute_condition(key, op, value)
    table = _KEY_TABLES[kind]
    if op in ("is null", "is not null"):
        # Correlated on the run and answered from the primary key (run_id, key).
        present = exists().where(table.run_id == RunRow.id, table.key == key)
        return not_(present) if op == "is null" else present
    condition = _key_value_condition(c)
    if top_level and kind == "metrics":
        # A condition on a metric that every result must meet: SQLite reads the matching
        # summaries once, by the (key, latest) index, instead of probing once per run of the
        # project. Params and tags have no index on their values (a value can be long), so
        # they keep the probe by primary key.
        return RunRow.id.in_(select(table.run_id).where(table.key == key, condition))
    return exists().where(table.run_id == RunRow.id, table.key == key, condition)


def _key_value_condition(c: Comparison) -> ColumnElement[bool]:
    """The condition on the value column of a metric, param or tag row."""
    kind, op, value = c.field.kind, c.op, c.value
    if kind == "metrics":
        if op in ("is nan", "is not nan"):
            is_nan = MetricSummaryRow.latest_is_nan
            return is_nan.is_(True) if op == "is nan" else is_nan.is_(False)
        # NaN is stored as NULL: it fails every comparison, "!=" and "not in" included.
        return _number_condition(MetricSummaryRow.latest, op, value)
    column = ParamRow.value if kind == "params" else TagRow.value
    if isinstance(value, int | float) or (isinstance(value, tuple) and _all_numbers(value)):
        return _param_number_condition(column, op, value)
    return _text_condition(column, op, value)


def _all_numbers(values: tuple[Scalar, ...]) -> bool:
    return all(isinstance(v, int | float) for v in values)


def _attribute_condition(name: str, op: str, value: Value) -> ColumnElement[bool]:
    column: _Column = getattr(RunRow, "id" if name == "run_id" else name)
    kind, nullable = ATTRIBUTES[name]
    if op == "is null":
        return column.is_(None)
    if op == "is not null":
        return column.is_not(None)
    if kind == "time":
        assert isinstance(value, int | float | str)
        condition = _compare(column, op, bindparam(None, to_time(value), type_=column.type))
    else:
        if kind == "status" and op not in ("like", "ilike"):  # stored in lower case
            value = tuple(str(v).lower() for v in value) if isinstance(value, tuple) else value
            value = value.lower() if isinstance(value, str) else value
        condition = _text_condition(column, op, value)
    # NULL would make the condition NULL, and "not" of NULL is NULL too: keep it two-valued.
    return and_(column.is_not(None), condition) if nullable else condition


def compile_filter(f: Filter) -> ColumnElement[bool]:
    """The filter as a SQLAlchemy condition over :class:`RunRow`; every value a bound parameter.

    Conditions on metrics, params and tags are ``EXISTS`` subqueries correlated on the run,
    answered from the primary keys ``(run_id, key)``. The result is never NULL, so ``not`` is a
    plain complement.

    Example:
        >>> sql = str(select(RunRow).where(compile_filter(parse_filter("metrics.acc > 0.9"))))
        >>> "EXISTS (SELECT" in sql and "0.9" not in sql  # 0.9 is a bound parameter
        True
    """
    if isinstance(f, MatchAll):
        return true()
    if isinstance(f, Comparison):
        return _compile_comparison(f)
    if isinstance(f, Not):
        return not_(compile_filter(f.operand))
    if isinstance(f, And):
        return and_(*(compile_filter(o) for o in f.operands))
    if isinstance(f, Or):
        return or_(*(compile_filter(o) for o in f.operands))
    raise InvalidInput(f"Not a filter: {type(f).__name__}.")


def search_query(
    project_id: str,
    filter: str | Filter = "",
    order_by: Sequence[str] = (),
    limit: int = 1000,
    offset: int = 0,
    include_deleted: bool = False,
) -> Select[RunRow]:
    """The query for one page of a project's runs matching ``filter``, in ``order_by`` order.

    Ordering by a metric, param or tag outer-joins its row; runs without it come last in both
    directions (a NaN metric sorts after every number, before runs that never logged it;
    params sort numerically when they are numbers, then as text; text sorts in the database's
    collation, code point order on SQLite). Ties, and the default order, go newest first
    (``start_time desc``), then by id, so pages are stable.

    Example:
        >>> query = search_query("0" * 32, "params.model in ('rf', 'xgb')", ["metrics.acc desc"])

    Raises:
        InvalidInput: a malformed filter or order_by item, ``limit`` outside 1..50,000, or a
            negative ``offset``.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(
            f"limit must be a whole number from 1 to {MAX_LIMIT:,}, not {limit!r}; page "
            f"through more runs with offset.",
            details={"limit": repr(limit)},
        )
    if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= MAX_OFFSET:
        raise InvalidInput(
            f"offset must be a whole number from 0 to 2**62, not {offset!r}.",
            details={"offset": repr(offset)},
        )
    parsed = parse_filter(filter) if isinstance(filter, str) else filter
    terms = parse_order_by(order_by)
    query = select(RunRow).where(_matching(project_id, parsed, include_deleted))
    order: list[ColumnElement[Any]] = []
    for number, term in enumerate(terms):
        query, keys = _order_keys(query, term, number)
        order += keys
    order += [RunRow.start_time.desc(), RunRow.id.asc()]
    return query.order_by(*order).limit(limit).offset(offset)


def count_query(project_id: str, filter: str | Filter = "") -> Select[int]:
    """The query counting a project's runs that match ``filter`` (deleted runs excluded).

    Example:
        >>> query = count_query("0" * 32, "metrics.acc > 0.9")
    """
    parsed = parse_filter(filter) if isinstance(filter, str) else filter
    return select(func.count()).select_from(RunRow).where(_matching(project_id, parsed, False))


def _matching(project_id: str, parsed: Filter, include_deleted: bool) -> ColumnElement[bool]:
    conditions: list[ColumnElement[bool]] = [RunRow.project_id == project_id]
    if not include_deleted:
        conditions.append(RunRow.deleted == false())
    # The conditions every result meets, each on its own: see _compile_comparison.
    for term in parsed.operands if isinstance(parsed, And) else (parsed,):
        if isinstance(term, Comparison):
            conditions.append(_compile_comparison(term, top_level=True))
        elif not isinstance(term, MatchAll):
            conditions.append(compile_filter(term))
    return and_(*conditions)


def _order_keys(
    query: Select[RunRow], term: OrderTerm, number: int
) -> tuple[Select[RunRow], list[ColumnElement[Any]]]:
    def direction(column: _Column) -> ColumnElement[Any]:
        return (column.desc() if term.descending else column.asc()).nulls_last()

    kind, key = term.field.kind, term.field.key
    if kind == "attributes":
        return query, [direction(getattr(RunRow, "id" if key == "run_id" else key))]
    name = f"order_{number}"
    if kind == "metrics":
        metric = aliased(MetricSummaryRow, name=name)
        query = query.outerjoin(metric, and_(metric.run_id == RunRow.id, metric.key == key))
        return query, [direction(metric.latest), metric.run_id.is_(None)]
    text = aliased(ParamRow, name=name) if kind == "params" else aliased(TagRow, name=name)
    query = query.outerjoin(text, and_(text.run_id == RunRow.id, text.key == key))
    if kind == "params":
        return query, [direction(_as_number(text.value)), direction(text.value)]
    return query, [direction(text.value)]
