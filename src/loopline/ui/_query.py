"""The runs table's state, read from and written to the query string (so a view can be shared).

Everything a person can change on the runs page (filter, sort, page, page size, columns, the
runs picked for comparison) lives in the URL. Reading is forgiving: a value that makes no sense
(``page=abc``, an unknown column) falls back to the default rather than failing the page; the
filter and the sort are passed on as written, so the search itself reports their mistakes.

Example:
    >>> q = RunsQuery.from_params({"filter": "metrics.acc > 0.9", "page": "2"})
    >>> q.with_(page=3).query_string()
    'filter=metrics.acc+%3E+0.9&page=3'
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

__all__ = ["RunsQuery", "Column", "ATTRIBUTE_COLUMNS", "PAGE_SIZES", "parse_column", "run_ids"]

PAGE_SIZES = (25, 50, 100, 200)
DEFAULT_PAGE_SIZE = 50
DEFAULT_SORT = "start_time desc"
MAX_COLUMNS = 60
MAX_SELECTED = 20
# Far past any real page; keeps the offset (page * size) a small integer for the database.
MAX_PAGE = 1_000_000

# Attribute columns: name -> heading. "start_time" sorts; "duration" is computed, so it does not.
ATTRIBUTE_COLUMNS: dict[str, str] = {
    "name": "Name",
    "status": "Status",
    "start_time": "Started",
    "duration": "Duration",
    "run_id": "Run id",
    "parent_id": "Parent",
}
DEFAULT_ATTRIBUTES = ("name", "status", "start_time", "duration")
_KINDS = ("metrics", "params", "tags")
_KEY = re.compile(r"[\w][\w .\-/:@]*")
_BARE = re.compile(r"[A-Za-z_][\w.\-/:]*")
_RUN_ID = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True, slots=True)
class Column:
    """A column of the runs table: an attribute (``kind == "attributes"``) or a metric, param
    or tag key."""

    kind: str
    key: str

    @property
    def name(self) -> str:
        """How the column is written in the URL: ``status``, ``metrics.val/acc``."""
        return self.key if self.kind == "attributes" else f"{self.kind}.{self.key}"

    @property
    def heading(self) -> str:
        return ATTRIBUTE_COLUMNS[self.key] if self.kind == "attributes" else self.key

    @property
    def sort_field(self) -> str | None:
        """The field as the search's order_by grammar writes it, or None if it cannot sort."""
        if self.kind == "attributes":
            return None if self.key == "duration" else self.key
        key = self.key if _BARE.fullmatch(self.key) else "`" + self.key + "`"
        return f"{self.kind}.{key}"


def parse_column(text: str) -> Column | None:
    """``status`` / ``metrics.acc`` / ``params.lr`` as a Column; None when it is not one."""
    text = text.strip()
    if text in ATTRIBUTE_COLUMNS:
        return Column("attributes", text)
    kind, dot, key = text.partition(".")
    if dot and kind in _KINDS and len(key) <= 250 and _KEY.fullmatch(key):
        return Column(kind, key)
    return None


def run_ids(values: Iterable[str]) -> tuple[str, ...]:
    """The well-formed run ids in ``values`` (comma-separated or repeated), in order, once each."""
    seen: dict[str, None] = {}
    for value in values:
        for part in value.split(","):
            part = part.strip()
            if _RUN_ID.fullmatch(part):
                seen[part] = None
    return tuple(seen)


@dataclass(frozen=True, slots=True)
class RunsQuery:
    """What the runs page shows. ``columns`` is None until the person chooses some."""

    filter: str = ""
    sort: str = DEFAULT_SORT
    page: int = 1
    per_page: int = DEFAULT_PAGE_SIZE
    columns: tuple[Column, ...] | None = None
    selected: tuple[str, ...] = ()

    @classmethod
    def from_params(cls, params: Mapping[str, str] | Any) -> RunsQuery:
        """Read the query string (a Starlette ``QueryParams`` or a plain mapping)."""
        getlist = getattr(params, "getlist", None)

        def all_of(name: str) -> list[str]:
            if getlist is not None:
                return list(getlist(name))
            value = params.get(name)
            return [] if value is None else [value]

        per_page = _whole(params.get("per_page"), DEFAULT_PAGE_SIZE)
        columns = None
        if "cols" in params:
            parsed = (parse_column(c) for v in all_of("cols") for c in v.split(","))
            columns = tuple(dict.fromkeys(c for c in parsed if c is not None))[:MAX_COLUMNS]
        return cls(
            filter=str(params.get("filter") or "").strip(),
            sort=str(params.get("sort") or "").strip() or DEFAULT_SORT,
            page=min(MAX_PAGE, max(1, _whole(params.get("page"), 1))),
            per_page=per_page if per_page in PAGE_SIZES else DEFAULT_PAGE_SIZE,
            columns=columns,
            selected=run_ids(all_of("sel"))[:MAX_SELECTED],
        )

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    def with_(self, **changes: Any) -> RunsQuery:
        return replace(self, **changes)

    def sort_state(self, column: Column) -> str | None:
        """ "asc" or "desc" when the table is sorted by ``column``, else None."""
        field = column.sort_field
        if field is None:
            return None
        words = self.sort.rsplit(None, 1)
        direction = words[1].lower() if len(words) == 2 else "asc"
        if direction not in ("asc", "desc"):
            field_text, direction = self.sort, "asc"
        else:
            field_text = words[0]
        return direction if field_text.strip() == field else None

    def sorted_by(self, column: Column) -> RunsQuery:
        """This view sorted by ``column``: descending first, ascending on a second click."""
        field = column.sort_field
        if field is None:
            return self
        direction = "asc" if self.sort_state(column) == "desc" else "desc"
        return replace(self, sort=f"{field} {direction}", page=1)

    def query_string(self) -> str:
        """The URL query for this view; defaults are left out so URLs stay short."""
        items: list[tuple[str, str]] = []
        if self.filter:
            items.append(("filter", self.filter))
        if self.sort != DEFAULT_SORT:
            items.append(("sort", self.sort))
        if self.page != 1:
            items.append(("page", str(self.page)))
        if self.per_page != DEFAULT_PAGE_SIZE:
            items.append(("per_page", str(self.per_page)))
        if self.columns is not None:
            items.append(("cols", ",".join(c.name for c in self.columns)))
        if self.selected:
            items.append(("sel", ",".join(self.selected)))
        return urlencode(items)


def default_columns(
    metric_keys: Sequence[str], param_keys: Sequence[str], limit: int = 6
) -> tuple[Column, ...]:
    """What the table shows before anyone chooses: the attributes, then a few metrics and params."""
    return (
        *(Column("attributes", a) for a in DEFAULT_ATTRIBUTES),
        *(Column("metrics", k) for k in metric_keys[:limit]),
        *(Column("params", k) for k in param_keys[:limit]),
    )


def _whole(value: object, default: int) -> int:
    try:
        return int(str(value))
    except ValueError:
        return default
