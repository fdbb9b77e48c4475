"""The run search grammar: parsing, canonical text, errors, and what filters select (both DBs)."""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from loopline.db import Database
from loopline.errors import InvalidInput
from loopline.projects._table import ProjectRow
from loopline.tracking._filters import (
    MAX_CONDITIONS,
    MAX_DEPTH,
    MAX_FILTER_LENGTH,
    And,
    Comparison,
    Field,
    Filter,
    MatchAll,
    Not,
    Or,
    OrderTerm,
    format_filter,
    parse_filter,
    parse_order_by,
)
from loopline.tracking._search import compile_filter, search_query
from loopline.tracking._tables import MetricSummaryRow, ParamRow, RunRow, TagRow
from loopline.tracking._types import RUN_STATUSES


def metric(key: str, op: str, value: object = None) -> Comparison:
    return Comparison(Field("metrics", key), op, value)  # type: ignore[arg-type]


def param(key: str, op: str, value: object = None) -> Comparison:
    return Comparison(Field("params", key), op, value)  # type: ignore[arg-type]


def tag(key: str, op: str, value: object = None) -> Comparison:
    return Comparison(Field("tags", key), op, value)  # type: ignore[arg-type]


def attr(name: str, op: str, value: object = None) -> Comparison:
    return Comparison(Field("attributes", name), op, value)  # type: ignore[arg-type]


DIALECTS = [sqlite.dialect(), postgresql.dialect()]  # type: ignore[no-untyped-call]
A, B, C = metric("a", ">", 1), metric("b", ">", 2), metric("c", ">", 3)


# -- parsing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("metrics.acc > 0.9", metric("acc", ">", 0.9)),
        ("metrics.acc >= 1", metric("acc", ">=", 1)),
        ("metrics.acc < -2.5e-3", metric("acc", "<", -0.0025)),
        ("metrics.acc <= .5", metric("acc", "<=", 0.5)),
        ("metrics.acc = 1E3", metric("acc", "=", 1000.0)),
        ("metrics.acc == 3", metric("acc", "=", 3)),
        ("metrics.acc != 3", metric("acc", "!=", 3)),
        ("metrics.acc <> 3", metric("acc", "!=", 3)),
        ("metrics.acc in (1, 2.5)", metric("acc", "in", (1, 2.5))),
        ("metrics.acc NOT IN (1)", metric("acc", "not in", (1,))),
        ("metrics.acc is null", metric("acc", "is null")),
        ("metrics.acc IS NOT NULL", metric("acc", "is not null")),
        ("metrics.acc is nan", metric("acc", "is nan")),
        ("metrics.acc is not NaN", metric("acc", "is not nan")),
        ("metrics.val.acc/top-1:x > 0", metric("val.acc/top-1:x", ">", 0)),
        ("metrics.`val acc` > 0.5", metric("val acc", ">", 0.5)),
        ("metrics.`a``b` > 0.5", metric("a`b", ">", 0.5)),
        ('metrics."f1-score" > 0.5', metric("f1-score", ">", 0.5)),
        ('metrics."say ""hi""" > 0.5', metric('say "hi"', ">", 0.5)),
        ("metrics.précision > 0.5", metric("précision", ">", 0.5)),
        ("params.model = 'rf'", param("model", "=", "rf")),
        ("params.model = 'it''s'", param("model", "=", "it's")),
        ("params.model = ''", param("model", "=", "")),
        ("params.model = 'DROP TABLE runs; --'", param("model", "=", "DROP TABLE runs; --")),
        ("params.lr < 0.01", param("lr", "<", 0.01)),
        ("params.depth in (3, 5)", param("depth", "in", (3, 5))),
        ("params.model in ('rf', 'xgb')", param("model", "in", ("rf", "xgb"))),
        ("params.model like 'r%'", param("model", "like", "r%")),
        ("params.model ILIKE 'R_'", param("model", "ilike", "R_")),
        ("params.model is null", param("model", "is null")),
        ("tags.team = 'a'", tag("team", "=", "a")),
        ("tags.owner != 'bot'", tag("owner", "!=", "bot")),
        ("tags.env is not null", tag("env", "is not null")),
        ("tags.`équipe` = 'é🙂'", tag("équipe", "=", "é🙂")),
        ("status = 'finished'", attr("status", "=", "finished")),
        ("STATUS = 'FINISHED'", attr("status", "=", "FINISHED")),
        ("attributes.status in ('failed', 'killed')", attr("status", "in", ("failed", "killed"))),
        ("run.name like 'baseline%'", attr("name", "like", "baseline%")),
        ("id = 'abc'", attr("run_id", "=", "abc")),
        ("run_id in ('a', 'b')", attr("run_id", "in", ("a", "b"))),
        ("parent_id is null", attr("parent_id", "is null")),
        ("start_time > '2024-05-01T12:00:00Z'", attr("start_time", ">", "2024-05-01T12:00:00Z")),
        ("end_time <= 1714564800000", attr("end_time", "<=", 1714564800000)),
        ("end_time is not null", attr("end_time", "is not null")),
        ("  metrics.a>1\n", metric("a", ">", 1)),
    ],
)
def test_parses_each_construct(text: str, expected: Comparison) -> None:
    assert parse_filter(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("metrics.a > 1 and metrics.b > 2 or metrics.c > 3", Or((And((A, B)), C))),
        ("metrics.a > 1 or metrics.b > 2 and metrics.c > 3", Or((A, And((B, C))))),
        ("(metrics.a > 1 or metrics.b > 2) and metrics.c > 3", And((Or((A, B)), C))),
        ("metrics.a > 1 and metrics.b > 2 and metrics.c > 3", And((A, B, C))),
        ("metrics.a > 1 and (metrics.b > 2 and metrics.c > 3)", And((A, And((B, C))))),
        ("not metrics.a > 1 and metrics.b > 2", And((Not(A), B))),
        ("not (metrics.a > 1 and metrics.b > 2)", Not(And((A, B)))),
        ("not not metrics.a > 1", Not(Not(A))),
        ("NOT metrics.a > 1 OR metrics.b > 2", Or((Not(A), B))),
        ("((metrics.a > 1))", A),
        ("", MatchAll()),
        ("  \n\t ", MatchAll()),
    ],
)
def test_precedence_and_binds_tighter_than_or_and_parentheses_group(
    text: str, expected: Filter
) -> None:
    assert parse_filter(text) == expected


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("METRICS.acc>0.9 AND Params.model='rf'", "metrics.acc > 0.9 and params.model = 'rf'"),
        ('metrics."val acc" <> 1e-3', "metrics.`val acc` != 0.001"),
        ("attributes.id in ('x')", "run_id in ('x')"),
        ("not (metrics.a > 1 or metrics.b > 2)", None),
        ("metrics.a > 1 or (metrics.b > 2 or metrics.c > 3)", None),
        (
            "(metrics.a > 1 and metrics.b > 2) or metrics.c > 3",
            "metrics.a > 1 and metrics.b > 2 or metrics.c > 3",
        ),
        ("tags.note = 'it''s'", None),
        ("", None),
    ],
)
def test_format_is_canonical_and_parses_back(text: str, canonical: str | None) -> None:
    parsed = parse_filter(text)
    formatted = format_filter(parsed)
    assert formatted == (text if canonical is None else canonical)
    assert parse_filter(formatted) == parsed


def test_order_by_items() -> None:
    assert parse_order_by(["metrics.acc desc", "params.lr", "start_time ASC", "name DESC"]) == (
        OrderTerm(Field("metrics", "acc"), descending=True),
        OrderTerm(Field("params", "lr")),
        OrderTerm(Field("attributes", "start_time")),
        OrderTerm(Field("attributes", "name"), descending=True),
    )
    assert parse_order_by("metrics.`val acc`") == (OrderTerm(Field("metrics", "val acc")),)
    assert [str(t) for t in parse_order_by(["id", "run.status desc"])] == [
        "run_id asc",
        "status desc",
    ]


@pytest.mark.parametrize(
    ("item", "column", "fragment"),
    [
        ("metrics.acc up", 13, "expected 'asc', 'desc' or the end, found 'up'"),
        ("metrics.acc desc desc", 18, "found 'desc'"),
        ("", 1, "expected a field such as metrics.acc"),
        ("metric.acc", 1, "Did you mean 'metrics.acc'?"),
        ("0.5", 1, "expected a field such as metrics.acc, found the number 0.5"),
    ],
)
def test_order_by_errors_point_at_the_column(item: str, column: int, fragment: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_order_by([item])
    assert fragment in info.value.message
    assert info.value.message.startswith(f"Invalid order_by at column {column} of ")
    assert info.value.details["column"] == column
    assert info.value.details["order_by"] == item


def test_too_many_order_by_items() -> None:
    with pytest.raises(InvalidInput, match="the limit is 10"):
        parse_order_by(["name"] * 11)


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "column", "fragment"),
    [
        ("metrics.acc > 0.9 and", 22, "expected a condition such as metrics.acc > 0.9 after 'and'"),
        ("metrics.acc >", 14, "expected a value after '>', found the end of the filter"),
        ("metrics.acc 0.9", 13, "expected an operator after 'metrics.acc'"),
        ("(metrics.acc > 1", 17, "expected ')' to close the '(' at column 1"),
        ("metrics.acc > 1)", 16, "unexpected ')'"),
        ("metrics.acc > 1 metrics.b > 2", 17, "expected 'and', 'or' or the end"),
        ("name = 'abc", 8, "the text starting here has no closing '"),
        ("metrics.`abc > 1", 9, "the key starting here has no closing `"),
        ("metrics. > 1", 9, "expected a key after 'metrics.'"),
        ("metrics.acc ! 1", 13, "write != for 'not equal'"),
        ("metrics.acc > 1; DROP TABLE runs", 16, "unexpected character ';'"),
        ("params.a in 'x'", 13, "expected '(' after 'in'"),
        ("params.a in ('x' 'y')", 18, "expected ',' or ')' in the list that starts at column 13"),
        ("params.a in ()", 14, "expected a value after '('"),
        ("params.a is nul", 13, "expected 'null' after 'is'"),
        ("metrics.a is not 1", 18, "expected 'null' or 'nan' after 'is not'"),
        ("params.a not like 'x'", 14, "expected 'in' after 'not'"),
        ("params.a = rf", 12, "quote text in single quotes, as in 'rf'"),
        ('params.a = "rf"', 12, "write text values in single quotes"),
        ("params.a = null", 12, "write 'is null'"),
        ("metrics.acc > 1.5x", 15, "malformed number '1.5x'"),
        ("metrics.acc > 1e400", 15, "the number 1e400 is out of range"),
        ("metric.acc > 1", 1, "unknown field 'metric.acc'. Did you mean 'metrics.acc'?"),
        ("acc > 1", 1, "Keys take a prefix: metrics.acc, params.acc or tags.acc"),
        ("stauts = 'x'", 1, "Did you mean 'status'?"),
        ("attributes.nme = 'x'", 1, "Did you mean 'name'?"),
        ("0.9 < metrics.acc", 1, "put the field first"),
        ("and", 1, "expected a condition such as metrics.acc > 0.9, found 'and'"),
        ("metrics.acc > 'x'", 15, "metrics.acc holds numbers"),
        ("metrics.acc = 'nan'", 15, "To find NaN values, write: metrics.acc is nan"),
        ("metrics.acc like 'x'", 13, "metrics.acc cannot be used with 'like'"),
        ("metrics.acc in (1, 'x')", 17, "must be all numbers or all text"),
        ("tags.t > 1", 8, "tags.t cannot be used with '>'"),
        ("tags.t = 1", 10, "tags.t holds text: quote the value, as in tags.t = '1'"),
        ("params.lr > '0.1'", 13, "'>' compares params.lr as a number"),
        ("params.lr like 1", 16, "takes a text pattern"),
        ("params.lr like 'a\\'", 16, "ends with the escape character"),
        ("tags.t is nan", 8, "'is nan' applies to metrics only"),
        ("name is null", 6, "name always has a value"),
        ("status = 'done'", 10, "unknown status 'done'"),
        ("status = 'finised'", 10, "Did you mean 'finished'?"),
        ("status < 'a'", 8, "status cannot be used with '<'"),
        ("start_time > 'yesterday'", 14, "ISO-8601 time such as '2024-05-01T12:00:00Z'"),
        ("start_time > 1e300", 14, "or with epoch milliseconds, not 1e+300"),
        ("end_time > '0001-01-01T00:00:00+01:00'", 12, "ISO-8601"),
        ("start_time like '2024%'", 12, "start_time cannot be used with 'like'"),
        ("x\x00", 2, "contains a NUL character"),
        ("name = '\ud800'", 9, "lone surrogate"),
        ("name = 'a' and `x` = 1", 16, "back quotes name keys"),
    ],
)
def test_syntax_errors_point_at_the_column(text: str, column: int, fragment: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_filter(text)
    err = info.value
    assert fragment in err.message
    assert err.details["column"] == column, err.message
    assert err.details["filter"] == text.replace("\ud800", "\ufffd")
    assert err.message.startswith(f"Invalid filter at column {column} of ")
    assert "\n" not in err.message
    assert "\x00" not in err.message


def test_the_message_quotes_the_filter_and_says_what_was_expected() -> None:
    with pytest.raises(InvalidInput) as info:
        parse_filter("metrics.acc > 0.9 and")
    assert str(info.value) == (
        'Invalid filter at column 22 of "metrics.acc > 0.9 and": expected a condition such as '
        "metrics.acc > 0.9 after 'and', found the end of the filter."
    )
    assert info.value.details == {
        "filter": "metrics.acc > 0.9 and",
        "line": 1,
        "column": 22,
        "offset": 21,
    }


def test_an_error_is_always_writable_as_utf8() -> None:
    with pytest.raises(InvalidInput) as info:
        parse_filter("name = 'a\ud800' and \x00")
    assert info.value.details["filter"] == "name = 'a\ufffd' and \x00"
    assert info.value.details["column"] == 17  # the NUL: it is looked for first
    info.value.message.encode("utf-8")


def test_a_multi_line_filter_names_the_line() -> None:
    with pytest.raises(InvalidInput) as info:
        parse_filter("metrics.a > 1 and\n  params.b >")
    assert "at line 2, column 13 of" in info.value.message
    assert "\\n" in info.value.message
    assert "\n" not in info.value.message
    assert (info.value.details["line"], info.value.details["column"]) == (2, 13)


def test_a_long_filter_is_quoted_near_the_error() -> None:
    text = " and ".join(f"metrics.m{i} > {i}" for i in range(40)) + " and oops"
    with pytest.raises(InvalidInput) as info:
        parse_filter(text)
    assert info.value.details["column"] == len(text) - 3
    assert '(near "…' in info.value.message
    assert "and oops" in info.value.message
    assert len(info.value.message) < 300


def test_limits_on_length_depth_and_conditions() -> None:
    leaf = "metrics.a > 1"
    deepest = "(" * MAX_DEPTH + leaf + ")" * MAX_DEPTH
    assert parse_filter(deepest) == A
    assert parse_filter("not " * MAX_DEPTH + leaf) is not None
    with pytest.raises(InvalidInput, match=f"more than {MAX_DEPTH} levels deep"):
        parse_filter("(" + deepest + ")")
    with pytest.raises(InvalidInput, match=f"more than {MAX_DEPTH} levels deep"):
        parse_filter("not " * (MAX_DEPTH + 1) + leaf)
    # Far past the limit, and past Python's recursion limit: still a clean error.
    with pytest.raises(InvalidInput, match="levels deep"):
        parse_filter("(" * 5000)
    with pytest.raises(InvalidInput, match="levels deep"):
        parse_filter("not " * 2400)
    many = " or ".join([leaf] * MAX_CONDITIONS)
    assert len(parse_filter(many).operands) == MAX_CONDITIONS  # type: ignore[union-attr]
    with pytest.raises(InvalidInput, match=f"more than {MAX_CONDITIONS} conditions"):
        parse_filter(many + " or " + leaf)
    with pytest.raises(InvalidInput, match="the limit is 10,000") as info:
        parse_filter("name = '" + "x" * MAX_FILTER_LENGTH + "'")
    assert info.value.details["column"] == MAX_FILTER_LENGTH + 1


@pytest.mark.parametrize(
    "text",
    [
        "'; DROP TABLE runs; --",
        "name = 'x'; DROP TABLE runs; --",
        "name = 'x' OR 1=1",
        "1=1 or",
        "name = 'x' --",
        "name = 'x' /* */",
        "name = 'unbalanced",
        "name = 'a'' or ''1''=''1",
        "metrics.acc > 0 UNION SELECT * FROM runs",
        "(((",
        ")))",
        "metrics.`acc",
        "name = '\x00'",
        "\x00",
        "名前 = 'x'",
        "name \uff1d 'x'",
        "name = \u2018x\u2019",
        "\u202e name = 'x'",
        "name = 'x' \\",
    ],
)
def test_injection_attempts_are_invalid_input(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_filter(text)


def test_ast_objects_refuse_what_the_grammar_refuses() -> None:
    with pytest.raises(InvalidInput, match="cannot be used with 'like'"):
        metric("acc", "like", "x")
    with pytest.raises(InvalidInput, match="NUL"):
        tag("t", "=", "a\x00")
    with pytest.raises(InvalidInput, match="finite"):
        metric("acc", ">", math.inf)
    with pytest.raises(InvalidInput, match="key is empty"):
        Field("metrics", "")
    with pytest.raises(InvalidInput, match="Did you mean 'status'"):
        Field("attributes", "statu")
    with pytest.raises(InvalidInput, match="two or more"):
        And((A,))
    with pytest.raises(InvalidInput, match="not a number or a text"):
        metric("acc", ">", True)


def test_limit_and_offset_are_validated() -> None:
    for limit in (0, -1, 50_001, True):
        with pytest.raises(InvalidInput, match="limit must be a whole number from 1 to 50,000"):
            search_query("p", limit=limit)
    for offset in (-1, 2**62 + 1, 1.5):
        with pytest.raises(InvalidInput, match="offset must be a whole number from 0 to 2"):
            search_query("p", offset=offset)  # type: ignore[arg-type]
    search_query("p", limit=50_000, offset=10**9)


def test_every_value_is_a_bound_parameter() -> None:
    f = parse_filter(
        "name = '''; DROP TABLE runs; --' and tags.`x\"; DROP TABLE runs; --` like 'DROP%' "
        "and params.lr < 12345.5 and start_time > '2024-05-01'"
    )
    for dialect in DIALECTS:
        sql = str(search_query("p" * 32, f, ["params.`DROP TABLE x`"]).compile(dialect=dialect))
        assert "DROP" not in sql
        assert "12345" not in sql
        assert "2024" not in sql


# -- hypothesis: grammar properties ----------------------------------------------------------

_chars = st.characters(codec="utf-8", exclude_characters="\x00")
_texts = st.text(_chars, max_size=10)
_keys = st.text(_chars, min_size=1, max_size=10)
_numbers = st.one_of(
    st.integers(-(10**20), 10**20), st.floats(allow_nan=False, allow_infinity=False)
)
_patterns = _texts.filter(lambda s: (len(s) - len(s.rstrip("\\"))) % 2 == 0)
_times = st.one_of(
    st.datetimes(
        datetime(1900, 1, 1), datetime(2200, 1, 1), timezones=st.sampled_from([None, UTC])
    ).map(lambda d: d.isoformat()),
    st.integers(-(10**12), 10**13),
)


def _lists(values: st.SearchStrategy[object]) -> st.SearchStrategy[tuple[object, ...]]:
    return st.lists(values, min_size=1, max_size=3).map(tuple)


@st.composite
def comparisons(draw: st.DrawFn) -> Comparison:
    kind = draw(st.sampled_from(["metrics", "params", "tags", "status", "text", "time"]))
    if kind in ("metrics", "params", "tags"):
        f = Field(kind, draw(_keys))  # type: ignore[arg-type]
    elif kind == "status":
        f = Field("attributes", "status")
    elif kind == "text":
        f = Field("attributes", draw(st.sampled_from(["name", "run_id", "parent_id"])))
    else:
        f = Field("attributes", draw(st.sampled_from(["start_time", "end_time"])))
    statuses = st.sampled_from(RUN_STATUSES + tuple(s.upper() for s in RUN_STATUSES))
    by_kind: dict[str, list[tuple[str, st.SearchStrategy[object]]]] = {
        "metrics": [
            *((op, _numbers) for op in ("=", "!=", "<", "<=", ">", ">=")),
            ("in", _lists(_numbers)),
            ("not in", _lists(_numbers)),
            *((op, st.none()) for op in ("is null", "is not null", "is nan", "is not nan")),
        ],
        "params": [
            *((op, _numbers) for op in ("=", "!=", "<", "<=", ">", ">=")),
            *((op, _texts) for op in ("=", "!=")),
            *((op, _patterns) for op in ("like", "ilike")),
            *((op, _lists(_numbers) | _lists(_texts)) for op in ("in", "not in")),
            *((op, st.none()) for op in ("is null", "is not null")),
        ],
        "tags": [
            *((op, _texts) for op in ("=", "!=")),
            *((op, _patterns) for op in ("like", "ilike")),
            *((op, _lists(_texts)) for op in ("in", "not in")),
            *((op, st.none()) for op in ("is null", "is not null")),
        ],
        "status": [
            *((op, statuses) for op in ("=", "!=")),
            *((op, _lists(statuses)) for op in ("in", "not in")),
            *((op, _patterns) for op in ("like", "ilike")),
        ],
        "text": [
            *((op, _texts) for op in ("=", "!=")),
            *((op, _lists(_texts)) for op in ("in", "not in")),
            *((op, _patterns) for op in ("like", "ilike")),
        ],
        "time": [(op, _times) for op in ("=", "!=", "<", "<=", ">", ">=")],
    }
    options = by_kind[kind]
    if f.key in ("parent_id", "end_time"):
        options = [*options, ("is null", st.none()), ("is not null", st.none())]
    op, values = draw(st.sampled_from(options))
    return Comparison(f, op, draw(values))  # type: ignore[arg-type]


def _depth(f: Filter) -> int:
    if isinstance(f, Not):
        return 1 + _depth(f.operand)
    if isinstance(f, And | Or):
        return 1 + max(_depth(o) for o in f.operands)
    return 0


def trees(leaves: st.SearchStrategy[Comparison]) -> st.SearchStrategy[Filter]:
    def extend(children: st.SearchStrategy[Filter]) -> st.SearchStrategy[Filter]:
        several = st.lists(children, min_size=2, max_size=3).map(tuple)
        return st.one_of(children.map(Not), several.map(And), several.map(Or))

    tree: st.SearchStrategy[Filter] = st.recursive(leaves, extend, max_leaves=8)
    return tree.filter(lambda f: _depth(f) <= 12)


@settings(max_examples=300, deadline=None)
@given(trees(comparisons()))
def test_round_trip_format_then_parse_gives_the_same_tree(f: Filter) -> None:
    text = format_filter(f)
    assert parse_filter(text) == f
    assert format_filter(parse_filter(text)) == text


_TOKENS = [
    "metrics.acc", "params.model", "tags.team", "metrics.`a b`", 'params."x"', "status", "name",
    "id", "start_time", "end_time", "parent_id", "metric.acc", "and", "or", "not", "in", "is",
    "null", "nan", "like", "ilike", "(", ")", ",", "=", "!=", "<>", "<", "<=", ">", ">=", "!",
    "0.9", "-1", "1e3", "1e999", "'rf'", "'finished'", "'2024-05-01'", "'it''s'", "'", "`", '"',
    ";", "--", "\x00", "é", "\ud800", "\n", "..",
]  # fmt: skip


def _parse_and_use(text: str) -> None:
    error = None
    try:
        parsed = parse_filter(text)
    except InvalidInput as err:
        error = err
    if error is not None:
        assert error.message
        assert "\n" not in error.message
        assert 1 <= error.details["column"] <= len(text) + 1
        return
    again = format_filter(parsed)
    assert parse_filter(again) == parsed
    query = search_query("p" * 32, parsed)
    for dialect in DIALECTS:
        str(query.compile(dialect=dialect))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_raises_nothing_but_invalid_input(text: str) -> None:
    _parse_and_use(text)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_TOKENS), max_size=20), st.sampled_from([" ", ""]))
def test_token_soup_raises_nothing_but_invalid_input(tokens: list[str], glue: str) -> None:
    _parse_and_use(glue.join(tokens))


# -- behaviour on data -----------------------------------------------------------------------

T0 = datetime(2024, 5, 1, tzinfo=UTC)
PROJECT, OTHER = "a" * 32, "b" * 32


@dataclass
class R:
    """A run of the test data set, and what it logged."""

    name: str
    status: str
    hour: int
    end: int | None
    parent: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    project: str = PROJECT
    deleted: bool = False

    @property
    def id(self) -> str:
        return f"{self.name.encode().hex():0<32}"[:32]

    @property
    def start(self) -> datetime:
        return T0 + timedelta(hours=self.hour)

    @property
    def end_time(self) -> datetime | None:
        return None if self.end is None else T0 + timedelta(hours=self.end)


NAN = math.nan
RF = "baseline-rf"
RUNS = [
    R(RF, "finished", 0, 1, metrics={"acc": 0.95, "loss": 0.10},
      params={"model": "rf", "lr": "0.1", "seed": "12345678901234567"},
      tags={"team": "a", "owner": "alice"}),
    R("baseline-xgb", "finished", 1, 2, metrics={"acc": 0.90, "loss": 0.20},
      params={"model": "xgb", "lr": "0.01"}, tags={"team": "a", "owner": "bot"}),
    R("sweep_1", "failed", 2, 3, parent=RF, metrics={"acc": NAN, "loss": 0.05},
      params={"model": "RF", "lr": "abc"}, tags={"team": "b"}),
    R("sweep_2[*]", "running", 3, None, parent=RF, metrics={"loss": 0.30},
      params={"model": "rf", "lr": "1e-3"}, tags={"owner": "carol"}),
    R("Baseline-old", "killed", 4, 5, metrics={"acc": 0.99, "val acc": 0.7, "f1-score": 0.8},
      params={"lr": "2"}, tags={"team": "b", "note": "it's"}),
    R("100% done", "finished", 5, 6, metrics={"acc": 0.95, "loss": 0.15},
      params={"model": "xgb", "lr": " 1e999 "}, tags={"team": "a", "env": "prod"}),
    R("deleted", "finished", 6, 7, metrics={"acc": 0.99}, deleted=True),
    R("elsewhere", "finished", 7, 8, metrics={"acc": 0.99}, project=OTHER),
]  # fmt: skip
VISIBLE = [r for r in RUNS if r.project == PROJECT and not r.deleted]
BY_NAME = {r.name: r for r in RUNS}


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database.open(database_url, auto_upgrade=True)
    with database.transaction() as s:
        s.execute(insert(ProjectRow), [{"id": PROJECT, "name": "p"}, {"id": OTHER, "name": "q"}])
        for r in RUNS:  # one at a time: a parent goes in before its children
            s.execute(
                insert(RunRow).values(
                    id=r.id,
                    project_id=r.project,
                    name=r.name,
                    status=r.status,
                    parent_id=BY_NAME[r.parent].id if r.parent else None,
                    start_time=r.start,
                    end_time=r.end_time,
                    deleted=r.deleted,
                )
            )
        summaries = [
            {"run_id": r.id, "key": k, "latest": None if math.isnan(v) else v,
             "latest_is_nan": math.isnan(v), "latest_step": 1, "latest_timestamp_ms": 0,
             "min": None, "max": None, "count": 1}
            for r in RUNS for k, v in r.metrics.items()
        ]  # fmt: skip
        s.execute(insert(MetricSummaryRow), summaries)
        for table, attr_name in ((ParamRow, "params"), (TagRow, "tags")):
            rows = [
                {"run_id": r.id, "key": k, "value": v}
                for r in RUNS
                for k, v in getattr(r, attr_name).items()
            ]
            s.execute(insert(table), rows)
    yield database
    database.close()


def search(
    db: Database, f: str | Filter = "", order_by: list[str] | None = None, **kw: object
) -> list[str]:
    query = search_query(PROJECT, f, order_by or (), **kw)  # type: ignore[arg-type]
    with db.session() as s:
        return [row.name for row in s.scalars(query)]


def _ms(hour: float) -> int:
    return int((T0 + timedelta(hours=hour)).timestamp() * 1000)


FILTER_CASES: list[tuple[str, set[str]]] = [
    ("", {r.name for r in VISIBLE}),
    ("metrics.acc > 0.9", {RF, "Baseline-old", "100% done"}),
    ("metrics.acc >= 0.9", {RF, "baseline-xgb", "Baseline-old", "100% done"}),
    ("metrics.acc = 0.9", {"baseline-xgb"}),
    ("metrics.acc != 0.9", {RF, "Baseline-old", "100% done"}),
    ("metrics.acc < 2", {RF, "baseline-xgb", "Baseline-old", "100% done"}),
    ("not metrics.acc < 2", {"sweep_1", "sweep_2[*]"}),
    ("metrics.acc is nan", {"sweep_1"}),
    ("metrics.acc is not nan", {RF, "baseline-xgb", "Baseline-old", "100% done"}),
    ("metrics.acc is null", {"sweep_2[*]"}),
    ("metrics.acc is not null", {RF, "baseline-xgb", "sweep_1", "Baseline-old", "100% done"}),
    ("metrics.acc in (0.95, 0.99)", {RF, "Baseline-old", "100% done"}),
    ("metrics.acc not in (0.95)", {"baseline-xgb", "Baseline-old"}),
    ("metrics.`val acc` > 0.5", {"Baseline-old"}),
    ('metrics."f1-score" > 0.5', {"Baseline-old"}),
    ("metrics.loss < 0.1 or metrics.acc >= 0.95", {"sweep_1", RF, "Baseline-old", "100% done"}),
    ("(metrics.loss < 0.1 or metrics.acc >= 0.95) and status = 'finished'", {RF, "100% done"}),
    ("metrics.loss < 0.1 or metrics.acc >= 0.95 and status = 'finished'",
     {"sweep_1", RF, "100% done"}),
    ("params.model = 'rf'", {RF, "sweep_2[*]"}),
    ("params.model like 'r%'", {RF, "sweep_2[*]"}),
    ("params.model ilike 'r%'", {RF, "sweep_1", "sweep_2[*]"}),
    ("params.model in ('rf', 'xgb')", {RF, "baseline-xgb", "sweep_2[*]", "100% done"}),
    ("params.model not in ('rf')", {"baseline-xgb", "sweep_1", "100% done"}),
    ("not params.model in ('rf')", {"baseline-xgb", "sweep_1", "Baseline-old", "100% done"}),
    ("params.model != 'rf'", {"baseline-xgb", "sweep_1", "100% done"}),
    ("params.model is null", {"Baseline-old"}),
    ("params.lr < 0.05", {"baseline-xgb", "sweep_2[*]"}),
    ("params.lr = 0.1", {RF}),
    ("params.lr = '0.1'", {RF}),
    ("params.lr = 1e-3", {"sweep_2[*]"}),
    ("params.lr >= 1", {"Baseline-old", "100% done"}),
    ("params.lr > 1e300", {"100% done"}),
    ("params.lr in (2, 0.01)", {"baseline-xgb", "Baseline-old"}),
    ("params.lr != 2", {RF, "baseline-xgb", "sweep_2[*]", "100% done"}),
    ("params.lr = 'abc'", {"sweep_1"}),
    # Integers stay exact: a 17-digit seed is not rounded to a float.
    ("params.seed = 12345678901234567", {RF}),
    ("params.seed = 12345678901234568", set()),
    ("params.seed > 12345678901234566", {RF}),
    ("params.model = 'rf' and tags.team = 'a'", {RF}),
    ("tags.team = 'a'", {RF, "baseline-xgb", "100% done"}),
    ("tags.owner != 'bot'", {RF, "sweep_2[*]"}),
    ("tags.team is null", {"sweep_2[*]"}),
    ("tags.note = 'it''s'", {"Baseline-old"}),
    ("status = 'FINISHED'", {RF, "baseline-xgb", "100% done"}),
    ("status in ('failed', 'killed')", {"sweep_1", "Baseline-old"}),
    ("status != 'finished'", {"sweep_1", "sweep_2[*]", "Baseline-old"}),
    ("attributes.status = 'killed'", {"Baseline-old"}),
    ("status like 'f%'", {RF, "baseline-xgb", "sweep_1", "100% done"}),
    ("name like 'baseline%'", {RF, "baseline-xgb"}),
    ("name ilike 'baseline%'", {RF, "baseline-xgb", "Baseline-old"}),
    ("name like 'sweep\\_%'", {"sweep_1", "sweep_2[*]"}),
    ("name like 'sweep_1'", {"sweep_1"}),
    ("name like '%[*]'", {"sweep_2[*]"}),
    ("name like '%*%'", {"sweep_2[*]"}),
    ("name like '100\\%%'", {"100% done"}),
    ("name like '100\\% done'", {"100% done"}),
    ("run.name = 'sweep_1'", {"sweep_1"}),
    ("name = '''; DROP TABLE runs; --'", set()),
    (f"run_id = '{RF.encode().hex()}'", set()),
    (f"id = '{BY_NAME[RF].id}'", {RF}),
    (f"id in ('{BY_NAME[RF].id}', '{BY_NAME['sweep_1'].id}')", {RF, "sweep_1"}),
    (f"parent_id = '{BY_NAME[RF].id}'", {"sweep_1", "sweep_2[*]"}),
    (f"parent_id != '{BY_NAME[RF].id}'", set()),
    (f"not parent_id = '{BY_NAME[RF].id}'", {RF, "baseline-xgb", "Baseline-old", "100% done"}),
    ("parent_id is null", {RF, "baseline-xgb", "Baseline-old", "100% done"}),
    ("start_time >= '2024-05-01T03:00:00Z'", {"sweep_2[*]", "Baseline-old", "100% done"}),
    ("start_time < '2024-05-01 02:00'", {RF, "baseline-xgb"}),
    ("start_time > '2024-05-01T04:00:00+02:00'", {"sweep_2[*]", "Baseline-old", "100% done"}),
    ("start_time = '2024-05-01'", {RF}),
    (f"start_time >= {_ms(4)}", {"Baseline-old", "100% done"}),
    ("end_time is null", {"sweep_2[*]"}),
    ("end_time < '2024-05-01T02:30:00Z'", {RF, "baseline-xgb"}),
    ("not end_time < '2024-05-01T02:30:00Z'",
     {"sweep_1", "sweep_2[*]", "Baseline-old", "100% done"}),
]  # fmt: skip


def test_filters_select_exactly_the_expected_runs(db: Database) -> None:
    wrong = {}
    for text, expected in FILTER_CASES:
        found = search(db, text)
        if set(found) != expected or len(found) != len(set(found)):
            wrong[text] = sorted(found)
    assert wrong == {}


ORDER_CASES: list[tuple[list[str], list[str]]] = [
    # Ties go newest first; NaN after every number, then runs without the metric.
    (["metrics.acc desc"],
     ["Baseline-old", "100% done", RF, "baseline-xgb", "sweep_1", "sweep_2[*]"]),
    (["metrics.acc"], ["baseline-xgb", "100% done", RF, "Baseline-old", "sweep_1", "sweep_2[*]"]),
    (["metrics.loss desc", "name"],
     ["sweep_2[*]", "baseline-xgb", "100% done", RF, "sweep_1", "Baseline-old"]),
    # Numbers in numeric order, then other text, then runs without the param.
    (["params.lr"], ["sweep_2[*]", "baseline-xgb", RF, "Baseline-old", "100% done", "sweep_1"]),
    (["params.lr desc"],
     ["100% done", "Baseline-old", RF, "baseline-xgb", "sweep_2[*]", "sweep_1"]),
    (["params.model desc"],
     ["100% done", "baseline-xgb", "sweep_2[*]", RF, "sweep_1", "Baseline-old"]),
    (["tags.team desc"],
     ["Baseline-old", "sweep_1", "100% done", "baseline-xgb", RF, "sweep_2[*]"]),
    (["name desc"], ["sweep_2[*]", "sweep_1", "baseline-xgb", RF, "Baseline-old", "100% done"]),
    (["status", "start_time"],
     ["sweep_1", RF, "baseline-xgb", "100% done", "Baseline-old", "sweep_2[*]"]),
    (["end_time desc"], ["100% done", "Baseline-old", "sweep_1", "baseline-xgb", RF, "sweep_2[*]"]),
    ([], ["100% done", "Baseline-old", "sweep_2[*]", "sweep_1", "baseline-xgb", RF]),
]  # fmt: skip


def test_orders_put_runs_lacking_the_key_last(db: Database) -> None:
    wrong = {}
    for order_by, expected in ORDER_CASES:
        found = search(db, "", order_by)
        if found != expected:
            wrong[", ".join(order_by)] = found
    assert wrong == {}


def test_paging_scoping_and_deleted_runs(db: Database) -> None:
    everything = search(db, "", ["metrics.acc desc"])
    pages = [search(db, "", ["metrics.acc desc"], limit=4, offset=o) for o in (0, 4, 8)]
    assert [len(p) for p in pages] == [4, 2, 0]
    assert pages[0] + pages[1] == everything
    assert "elsewhere" not in everything
    assert "deleted" not in everything
    assert "deleted" in search(db, "metrics.acc > 0.98", include_deleted=True)
    assert search(db, parse_filter("metrics.acc > 0.98")) == ["Baseline-old"]
    assert search(db, MatchAll(), ["name"], limit=1) == ["100% done"]


def test_the_biggest_filters_run_on_both_databases(db: Database) -> None:
    ors = " or ".join(f"params.lr = {i}" for i in range(MAX_CONDITIONS - 1)) + " or name = 'x'"
    assert search(db, ors) == ["Baseline-old"]
    values = ", ".join(str(i) for i in range(1000))
    huge = f"params.lr in ({values}) and metrics.acc not in ({values})"
    assert len(huge) < MAX_FILTER_LENGTH
    assert search(db, huge) == ["Baseline-old"]
    nested = "(" * (MAX_DEPTH - 1) + "not " + "metrics.acc > 0.5" + ")" * (MAX_DEPTH - 1)
    assert set(search(db, nested)) == {"sweep_1", "sweep_2[*]"}


def _counts(db: Database) -> list[int]:
    with db.session() as s:
        tables = (RunRow, ParamRow, TagRow, MetricSummaryRow, ProjectRow)
        return [s.scalar(select(func.count()).select_from(t)) or 0 for t in tables]


def test_injection_attempts_leave_the_tables_intact(db: Database) -> None:
    before = _counts(db)
    for text in (
        "'; DROP TABLE runs; --",
        "name = 'x'; DROP TABLE runs; --",
        "1=1 or",
        "name = 'a'' or ''1''=''1",
        "name = '\x00'",
        "metrics.`acc` > 0) UNION SELECT * FROM runs --",
    ):
        with pytest.raises(InvalidInput):
            search(db, text)
    # Valid filters whose values and keys are SQL: they are data, and match nothing.
    for harmless in (
        "name = '''; DROP TABLE runs; --'",
        "name = 'a'' or ''1''=''1'",
        "tags.`x\"; DROP TABLE run_tags; --` = 'a'",
        "params.lr like '%''; DELETE FROM runs; --'",
        "name = '🙂 \u202e unicode \uff1d'",
    ):
        assert search(db, harmless) == []
    assert _counts(db) == before
    assert before[0] == len(RUNS)


# -- hypothesis: random filters on a real database, checked against a model in Python --------

_NUMBER_TEXT = re.compile(r"\s*[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?\s*")


def _like(pattern: str, text: str, *, fold: bool) -> bool:
    regex, chars = [], iter(pattern)
    for c in chars:
        if c == "\\":
            regex.append(re.escape(next(chars)))
        else:
            regex.append({"%": ".*", "_": "."}.get(c) or re.escape(c))
    if fold:
        pattern_re = re.compile("".join(regex), re.DOTALL | re.IGNORECASE)
        return pattern_re.fullmatch(text) is not None
    return re.fullmatch("".join(regex), text, re.DOTALL) is not None


def _holds(op: str, left: object, value: object) -> bool:
    if op in ("in", "not in"):
        assert isinstance(value, tuple)
        return (left in value) == (op == "in")
    if op in ("like", "ilike"):
        assert isinstance(value, str)
        assert isinstance(left, str)
        return _like(value, left, fold=op == "ilike")
    compare: Callable[[Any, Any], object] = {
        "=": operator.eq,
        "!=": operator.ne,
        "<": operator.lt,
        "<=": operator.le,
        ">": operator.gt,
        ">=": operator.ge,
    }[op]
    return bool(compare(left, value))


def model(f: Filter, run: R) -> bool:
    """What the filter means, written the obvious way."""
    if isinstance(f, MatchAll):
        return True
    if isinstance(f, Not):
        return not model(f.operand, run)
    if isinstance(f, And):
        return all(model(o, run) for o in f.operands)
    if isinstance(f, Or):
        return any(model(o, run) for o in f.operands)
    kind, key, op, value = f.field.kind, f.field.key, f.op, f.value
    if kind == "attributes":
        left: object = {
            "status": run.status,
            "name": run.name,
            "run_id": run.id,
            "parent_id": BY_NAME[run.parent].id if run.parent else None,
            "start_time": run.start,
            "end_time": run.end_time,
        }[key]
        if op in ("is null", "is not null"):
            return (left is None) == (op == "is null")
        if left is None:
            return False
        if isinstance(left, datetime):
            return _holds(op, left, datetime.fromisoformat(str(value)).replace(tzinfo=UTC))
        if key == "status" and isinstance(value, tuple):
            return _holds(op, left, tuple(str(v).lower() for v in value))
        if key == "status" and op not in ("like", "ilike"):
            return _holds(op, left, str(value).lower())
        return _holds(op, left, value)
    logged: dict[str, object] = getattr(run, kind)
    if op in ("is null", "is not null"):
        return (key in logged) == (op == "is not null")
    if key not in logged:
        return False
    found = logged[key]
    if kind == "metrics":
        assert isinstance(found, float)
        if op in ("is nan", "is not nan"):
            return math.isnan(found) == (op == "is nan")
        return not math.isnan(found) and _holds(op, found, value)
    numeric = isinstance(value, int | float) or (
        isinstance(value, tuple) and not isinstance(value[0], str)
    )
    if numeric:
        assert isinstance(found, str)
        if not _NUMBER_TEXT.fullmatch(found):
            return False
        number = float(found)
        value = tuple(float(v) for v in value) if isinstance(value, tuple) else float(value)  # type: ignore[arg-type]
        return _holds(op, number, value)
    return _holds(op, found, value)


_db_numbers = st.sampled_from([0, 0.01, 0.05, 0.1, 0.9, 0.95, 0.99, 1, 2, -1, 1e300])
_db_texts = st.sampled_from(["rf", "RF", "xgb", "a", "b", "bot", "0.1", "abc", "2", ""])
_db_patterns = st.sampled_from(["%", "r%", "R%", "%b%", "_", "__", "x%", "%\\_%", "a%", "%[*]"])
_db_statuses = st.sampled_from(["finished", "FAILED", "running", "killed"])
_db_times = st.sampled_from(["2024-05-01T02:00:00", "2024-05-01T03:30:00", "2024-04-30"])


@st.composite
def data_comparisons(draw: st.DrawFn) -> Comparison:
    """Comparisons over the keys and values of the test data, so that they match something."""
    kind = draw(st.sampled_from(["metrics", "params", "tags", "attributes"]))
    if kind == "metrics":
        key = draw(st.sampled_from(["acc", "loss", "nope"]))
        op, values = draw(
            st.sampled_from([
                *((op, _db_numbers) for op in ("=", "!=", "<", "<=", ">", ">=")),
                ("in", _lists(_db_numbers)), ("not in", _lists(_db_numbers)),
                *((op, st.none()) for op in ("is null", "is not null", "is nan", "is not nan")),
            ])
        )  # fmt: skip
    elif kind in ("params", "tags"):
        key = draw(st.sampled_from(["model", "lr", "team", "owner"]))
        options: list[tuple[str, st.SearchStrategy[object]]] = [
            *((op, _db_texts) for op in ("=", "!=")),
            *((op, _db_patterns) for op in ("like", "ilike")),
            *((op, _lists(_db_texts)) for op in ("in", "not in")),
            *((op, st.none()) for op in ("is null", "is not null")),
        ]
        if kind == "params":
            options += [(op, _db_numbers) for op in ("=", "!=", "<", "<=", ">", ">=")]
            options += [("in", _lists(_db_numbers)), ("not in", _lists(_db_numbers))]
        op, values = draw(st.sampled_from(options))
    else:
        key = draw(st.sampled_from(["status", "name", "parent_id", "start_time", "end_time"]))
        text_ops: list[tuple[str, st.SearchStrategy[object]]] = [
            ("=", _db_texts), ("!=", _db_texts), ("like", _db_patterns), ("ilike", _db_patterns),
        ]  # fmt: skip
        by_key: dict[str, list[tuple[str, st.SearchStrategy[object]]]] = {
            "status": [("=", _db_statuses), ("!=", _db_statuses), ("in", _lists(_db_statuses)),
                       ("like", _db_patterns)],
            "name": text_ops,
            "parent_id": [*text_ops, ("is null", st.none()), ("is not null", st.none())],
            "start_time": [(op, _db_times) for op in ("=", "<", ">=")],
            "end_time": [("<", _db_times), (">", _db_times), ("is null", st.none())],
        }  # fmt: skip
        op, values = draw(st.sampled_from(by_key[key]))
    return Comparison(Field(kind, key), op, draw(values))  # type: ignore[arg-type]


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(f=trees(data_comparisons()), descending=st.booleans())
def test_random_filters_select_what_they_mean(db: Database, f: Filter, descending: bool) -> None:
    text = format_filter(f)
    assume(len(text) <= MAX_FILTER_LENGTH)
    order = ["metrics.acc desc" if descending else "params.lr", "name"]
    found = search(db, text, order)
    expected = {r.name for r in VISIBLE if model(f, r)}
    assert set(found) == expected, text
    assert len(found) == len(expected)
    assert compile_filter(f) is not None
