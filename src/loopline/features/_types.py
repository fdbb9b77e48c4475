"""Feature value types and typed fields: what a feature view promises its users.

Each type knows its DuckDB spelling (the offline store casts source columns to it) and which
source column types it accepts, so that a source whose schema drifted is refused with a clear
message instead of silently producing other values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from loopline.errors import InvalidInput, did_you_mean

__all__ = [
    "FEATURES_TAG",
    "FeatureType",
    "Array",
    "Int32",
    "Int64",
    "Float32",
    "Float64",
    "String",
    "Bool",
    "UnixTimestamp",
    "Field",
    "parse_type",
    "validate_name",
]

FEATURES_TAG = "loopline.features"
"""The run tag naming the feature views a run's training frames read (comma-separated): the
link from a registered model back to the features it was trained on."""

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,99}")
_INTS = ("TINYINT", "SMALLINT", "INTEGER", "UTINYINT", "USMALLINT")
_WIDE_INTS = (*_INTS, "BIGINT", "UINTEGER")
_TIMESTAMPS = (
    "TIMESTAMP WITH TIME ZONE",
    "TIMESTAMP",
    "TIMESTAMP_NS",
    "TIMESTAMP_MS",
    "TIMESTAMP_S",
    "DATE",
)


def validate_name(kind: str, name: object) -> str:
    """``name`` if it is a valid name for a view, entity or field; else :class:`InvalidInput`.

    Names appear in ``"view:feature"`` references, URLs and SQL: 1 to 100 letters, digits or
    ``_``, not starting with a digit.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name) or name.startswith("__ll_"):
        raise InvalidInput(
            f"Invalid {kind} name {name!r}: use 1 to 100 letters, digits or '_', not starting "
            f"with a digit (for example 'conv_rate')."
        )
    return name


@dataclass(frozen=True, slots=True)
class FeatureType:
    """A feature's value type; use the module's instances (``Float64``, ``Array(Int64)``...).

    Attributes:
        name: the registry spelling (``"float64"``, ``"array<int64>"``).
        duckdb: the DuckDB type the offline store casts to.
        accepts: DuckDB column types of a source that may hold this feature.
    """

    name: str
    duckdb: str
    accepts: tuple[str, ...]

    def accepts_column(self, column_type: str) -> bool:
        """Whether a source column of DuckDB type ``column_type`` can hold this feature."""
        column_type = column_type.upper()
        if self.name.startswith("array<"):
            inner = parse_type(self.name[6:-1])
            return column_type.endswith("[]") and inner.accepts_column(column_type[:-2])
        if column_type.startswith("DECIMAL") and "DECIMAL" in self.accepts:
            return True
        return column_type in self.accepts

    def __repr__(self) -> str:
        return self.name


# Narrowing casts are accepted (a Parquet double declared Float32 is the common case); a value
# that does not fit stops the read with DuckDB's overflow error, never wraps.
Int32 = FeatureType("int32", "INTEGER", _WIDE_INTS)
Int64 = FeatureType("int64", "BIGINT", _WIDE_INTS)
Float32 = FeatureType("float32", "FLOAT", ("FLOAT", "DOUBLE", *_WIDE_INTS, "DECIMAL"))
Float64 = FeatureType("float64", "DOUBLE", ("FLOAT", "DOUBLE", *_WIDE_INTS, "DECIMAL"))
String = FeatureType("string", "VARCHAR", ("VARCHAR",))
Bool = FeatureType("bool", "BOOLEAN", ("BOOLEAN",))
UnixTimestamp = FeatureType("timestamp", "TIMESTAMP WITH TIME ZONE", _TIMESTAMPS)

_SCALARS = {t.name: t for t in (Int32, Int64, Float32, Float64, String, Bool, UnixTimestamp)}


def Array(inner: FeatureType) -> FeatureType:
    """A list of ``inner`` values (an embedding: ``Array(Float32)``)."""
    if inner.name.startswith("array<"):
        raise InvalidInput("Arrays of arrays are not supported: flatten the feature.")
    return FeatureType(f"array<{inner.name}>", f"{inner.duckdb}[]", ())


def parse_type(name: object) -> FeatureType:
    """The type spelled ``name`` in a registry spec (``"float64"``, ``"array<int64>"``)."""
    if isinstance(name, FeatureType):
        return name
    if not isinstance(name, str):
        raise InvalidInput(f"A feature type must be a type like Float64, not {name!r}.")
    if name.startswith("array<") and name.endswith(">"):
        return Array(parse_type(name[6:-1]))
    found = _SCALARS.get(name)
    if found is None:
        raise InvalidInput(
            f"Unknown feature type {name!r}; expected one of {', '.join(_SCALARS)} or "
            f"array<...>.{did_you_mean(name, _SCALARS)}"
        )
    return found


@dataclass(frozen=True, slots=True)
class Field:
    """A named, typed column of a feature view (or of request data).

    Example:
        >>> Field(name="conv_rate", dtype=Float32)
        Field(name='conv_rate', dtype=float32, description='')
    """

    name: str
    dtype: FeatureType
    description: str = ""

    def __post_init__(self) -> None:
        validate_name("field", self.name)
        dtype: object = self.dtype  # a spelling like "float64" is accepted too
        if not isinstance(dtype, FeatureType):
            object.__setattr__(self, "dtype", parse_type(dtype))

    def to_spec(self) -> dict[str, str]:
        spec = {"name": self.name, "dtype": self.dtype.name}
        if self.description:
            spec["description"] = self.description
        return spec

    @classmethod
    def from_spec(cls, spec: dict[str, str]) -> Field:
        return cls(spec["name"], parse_type(spec["dtype"]), spec.get("description", ""))
