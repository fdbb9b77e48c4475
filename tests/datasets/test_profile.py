"""Profiles of tabular files: exact enough to be a drift reference later."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pyarrow as pa

from loopline.datasets._profile import HISTOGRAM_BINS, PROFILE_SCHEMA, profile_file, profile_table


def test_numeric_columns_have_fixed_edge_histograms_and_exact_counts() -> None:
    values = [float(i) for i in range(100)] + [None, math.nan, math.inf]
    profile = profile_table(pa.table({"x": values}))
    (col,) = profile["columns"]
    assert profile["rows"] == 103
    assert (col["kind"], col["nulls"], col["nan"], col["infinite"]) == ("numeric", 1, 1, 1)
    assert (col["min"], col["max"], col["mean"]) == (0.0, 99.0, 49.5)
    edges, counts = col["histogram"]["edges"], col["histogram"]["counts"]
    assert len(edges) == HISTOGRAM_BINS + 1
    assert edges[0] == 0.0
    assert edges[-1] == 99.0
    assert sum(counts) == 100, "every finite value is in exactly one bin"
    assert col["quantiles"]["0.5"] == 49.5
    json.dumps(profile, allow_nan=False)  # strict JSON: no NaN or infinity anywhere


def test_categorical_and_boolean_columns_count_their_values() -> None:
    table = pa.table(
        {
            "plan": ["a", "b", "a", None, "a"],
            "flag": [True, False, True, True, None],
            "when": pa.array([1, 2, 3, 4, 5], pa.timestamp("s")),
        }
    )
    cols = {c["name"]: c for c in profile_table(table)["columns"]}
    assert cols["plan"]["top"] == [["a", 3], ["b", 1]]
    assert cols["plan"]["null_share"] == 0.2
    assert cols["flag"]["kind"] == "boolean"
    assert cols["flag"]["top"][0] == ["true", 3]
    assert cols["when"]["kind"] == "temporal"
    assert cols["when"]["min"].startswith("1970-01-01")


def test_constant_and_empty_columns(tmp_path: Path) -> None:
    frame = pd.DataFrame({"c": [7, 7, 7], "e": [None, None, None]})
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    cols = {c["name"]: c for c in profile_file(path, "t.csv")["columns"]}
    assert cols["c"]["histogram"] == {"edges": [7.0, 7.0], "counts": [3]}
    assert cols["e"]["nulls"] == 3


def test_a_file_that_is_not_a_table_gets_a_profile_saying_so(tmp_path: Path) -> None:
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"not parquet")
    profile = profile_file(path, "bad.parquet")
    assert profile["error"]
    assert profile["rows"] is None
    assert PROFILE_SCHEMA == 1
