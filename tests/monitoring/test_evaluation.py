"""The evaluation store: prediction logs and labels as Parquet partitions, read with DuckDB."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.monitoring.helpers import T0, UTC_US, labels, predictions

from loopline.config import Settings
from loopline.errors import InvalidInput
from loopline.monitoring import EvaluationStore

DAY = timedelta(days=1)


def test_a_batch_reads_back_with_its_columns_and_types(store: EvaluationStore) -> None:
    path = store.append_predictions("demo", "churn-api", predictions(["a", "b", "c"]))
    assert path.startswith(store.root + "/demo/churn-api/predictions/date=2026-11-20/")
    assert path.endswith(".parquet")

    frame = store.predictions("demo", "churn-api", with_labels=False)
    assert list(frame["request_id"]) == ["a", "b", "c"]
    assert list(frame.columns) == [
        "request_id",
        "ts",
        "model",
        "version",
        "route",
        "latency_ms",
        "error",
        "input.x",
        "output",
        "proba",
    ]
    assert str(frame["ts"].dtype) == "datetime64[us, UTC]"
    assert frame["ts"].iloc[0] == T0
    assert list(frame["version"]) == [1, 1, 1]
    assert list(frame["proba"].iloc[0]) == [0.25, 0.75]
    assert frame["error"].isna().all()


def test_a_batch_spanning_days_is_split_by_day(store: EvaluationStore) -> None:
    # 22:00 then every hour: the rows fall on the 20th (2) and the 21st (3).
    batch = predictions(["a", "b", "c", "d", "e"], step=timedelta(hours=1))
    first = store.append_predictions("demo", "api", batch)
    files = store.files("demo", "api")
    assert [f.split("/")[-2] for f in files] == ["date=2026-11-20", "date=2026-11-21"]
    # Both files carry the batch's name; the first one's path is returned.
    assert {f.rsplit("/", 1)[1] for f in files} == {first.rsplit("/", 1)[1]}
    assert len(store.predictions("demo", "api")) == 5


def test_time_filters_prune_partitions_and_rows(store: EvaluationStore) -> None:
    for day in range(4):
        ids = [f"d{day}-{i}" for i in range(3)]
        store.append_predictions("demo", "api", predictions(ids, start=T0 + day * DAY))
    start, end = T0 + DAY, T0 + 3 * DAY  # 21st 22:00 to 23rd 22:00
    assert [f.split("/")[-2] for f in store.files("demo", "api", start=start, end=end)] == [
        "date=2026-11-21",
        "date=2026-11-22",
        "date=2026-11-23",
    ]
    frame = store.predictions("demo", "api", start=start, end=end)
    assert sorted(frame["request_id"]) == [f"d{d}-{i}" for d in (1, 2) for i in range(3)]
    # A naive datetime is taken as UTC.
    naive = store.predictions("demo", "api", start=start.replace(tzinfo=None), end=end)
    assert len(naive) == 6


def test_filters_by_model_version_and_route(store: EvaluationStore) -> None:
    store.append_predictions("demo", "api", predictions(["a", "b"], version=1))
    store.append_predictions("demo", "api", predictions(["c"], version=2, route="shadow"))
    store.append_predictions("demo", "api", predictions(["d"], model="other", version=2))
    assert list(store.predictions("demo", "api", version=2)["request_id"]) == ["c", "d"]
    assert list(store.predictions("demo", "api", route="shadow")["request_id"]) == ["c"]
    assert list(store.predictions("demo", "api", model="other")["request_id"]) == ["d"]
    with pytest.raises(InvalidInput, match="Route 'canary' is not one of primary, shadow"):
        store.predictions("demo", "api", route="canary")


def test_late_labels_join_by_request_id(store: EvaluationStore) -> None:
    store.append_predictions("demo", "api", predictions(["a", "b", "c"]))
    assert store.predictions("demo", "api")["label"].isna().all()

    # Labels come days later, in two batches, filed under their own dates.
    store.append_labels("demo", "api", labels({"a": 1}, ts=T0 + 2 * DAY))
    store.append_labels("demo", "api", labels({"c": 0}, ts=T0 + 5 * DAY))
    frame = store.predictions("demo", "api").set_index("request_id")
    assert frame.loc["a", "label"] == 1
    assert frame.loc["c", "label"] == 0
    assert frame["label"].isna().sum() == 1
    assert frame.loc["c", "label_ts"] == T0 + 5 * DAY
    # The label log is not pruned by the predictions' dates: a window still sees late labels.
    window = store.predictions("demo", "api", start=T0, end=T0 + timedelta(hours=1))
    assert window["label"].notna().sum() == 2


def test_the_latest_label_of_a_request_wins(store: EvaluationStore) -> None:
    store.append_predictions("demo", "api", predictions(["a", "b"]))
    store.append_labels("demo", "api", labels({"a": 0, "b": 0}, ts=T0 + DAY))
    store.append_labels("demo", "api", labels({"a": 1}, ts=T0 + 2 * DAY))
    # An older label arriving later does not override a newer one...
    store.append_labels("demo", "api", labels({"a": 0}, ts=T0 + DAY / 2))
    # ...and of two labels with the same time, the later batch wins.
    store.append_labels("demo", "api", labels({"b": 1}, ts=T0 + DAY))
    frame = store.predictions("demo", "api").set_index("request_id")
    assert (frame.loc["a", "label"], frame.loc["b", "label"]) == (1, 1)
    assert len(store.labels("demo", "api")) == 2


def test_files_with_different_inputs_read_together(store: EvaluationStore) -> None:
    store.append_predictions("demo", "api", predictions(["a"], inputs={"x": [1.0]}))
    store.append_predictions(
        "demo", "api", predictions(["b"], start=T0 + timedelta(hours=1), inputs={"y": ["red"]})
    )
    frame = store.predictions("demo", "api", with_labels=False).set_index("request_id")
    assert frame.loc["a", "input.x"] == 1.0
    assert frame.loc["b", "input.y"] == "red"
    assert frame["input.x"].isna().sum() == 1


def test_tensor_models_log_one_input_list(store: EvaluationStore) -> None:
    batch = predictions(
        ["a", "b"],
        inputs={"input": [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]},
        output=[[0.1, 0.9], [0.8, 0.2]],
        proba=False,
    )
    store.append_predictions("demo", "tensors", batch)
    frame = store.predictions("demo", "tensors", with_labels=False)
    assert list(frame["input"].iloc[1]) == [3.0, 4.0, 5.0]
    assert list(frame["output"].iloc[0]) == [0.1, 0.9]
    assert "proba" not in frame.columns


def test_windows_count_predictions_errors_and_labels(store: EvaluationStore) -> None:
    ids = [f"r{i}" for i in range(6)]
    errors = [None, "boom", None, None, None, "bad input"]
    store.append_predictions(
        "demo", "api", predictions(ids, step=timedelta(minutes=20), errors=errors)
    )
    store.append_predictions(
        "demo", "api", predictions(["s0"], version=2, route="shadow", proba=False)
    )
    store.append_labels("demo", "api", labels({"r0": 1, "r4": 0, "s0": 1}))
    frame = store.windows("demo", "api", every=timedelta(hours=1))
    rows = [
        (r.window_start, r.version, r.route, r.predictions, r.errors, r.labelled)
        for r in frame.itertuples()
    ]
    assert rows == [
        (T0, 1, "primary", 3, 1, 1),
        (T0, 2, "shadow", 1, 0, 1),
        (T0 + timedelta(hours=1), 1, "primary", 3, 1, 1),
    ]
    with pytest.raises(InvalidInput, match="positive whole number of seconds"):
        store.windows("demo", "api", every=timedelta(0))


def test_an_endpoint_without_logs_reads_empty(store: EvaluationStore) -> None:
    assert store.predictions("demo", "nothing").empty
    assert "label" in store.predictions("demo", "nothing").columns
    assert store.windows("demo", "nothing").empty
    assert store.labels("demo", "nothing").empty
    assert store.append_predictions("demo", "api", predictions([])) == ""
    assert store.files("demo", "api") == []


def test_the_same_batch_id_replaces_instead_of_duplicating(store: EvaluationStore) -> None:
    batch_id = "0" * 12 + "ab" * 10
    first = store.append_predictions("demo", "api", predictions(["a", "b"]), batch_id=batch_id)
    again = store.append_predictions("demo", "api", predictions(["a", "b"]), batch_id=batch_id)
    assert first == again
    assert len(store.predictions("demo", "api")) == 2
    with pytest.raises(InvalidInput, match="32 lower-case hex digits"):
        store.append_predictions("demo", "api", predictions(["a"]), batch_id="../../etc")


def test_names_that_would_escape_the_root_are_refused(store: EvaluationStore) -> None:
    with pytest.raises(InvalidInput, match="project"):
        store.append_predictions("..", "api", predictions(["a"]))
    with pytest.raises(InvalidInput, match="endpoint"):
        store.append_labels("demo", "a/b", labels({"a": 1}))


def _drop(name: str) -> Callable[[pa.Table], pa.Table]:
    return lambda t: t.drop_columns([name])


def _set(name: str, values: Any) -> Callable[[pa.Table], pa.Table]:
    return lambda t: t.set_column(t.column_names.index(name), name, values)


BAD_PREDICTIONS: list[tuple[str, Callable[[pa.Table], pa.Table], str]] = [
    ("no route", _drop("route"), "lacks column.*'route'"),
    ("no inputs", _drop("input.x"), "has no inputs"),
    ("typo", lambda t: t.append_column("outptu", pa.array([1, 2])), "'outptu'.*Did you mean"),
    ("naive ts", _set("ts", pa.array([T0.replace(tzinfo=None)] * 2)), "has no time zone"),
    ("ts as text", _set("ts", pa.array(["2026-11-20", "x"])), "'ts' must be a timestamp"),
    ("null id", _set("request_id", pa.array(["a", None])), "'request_id' has 1 null"),
    ("bad route", _set("route", pa.array(["primary", "shadwo"])), "'shadwo'.*'shadow'"),
    ("float version", _set("version", pa.array([1.5, 2.0])), "'version' must be an integer"),
    ("huge version", _set("version", pa.array([2**40, 1])), "do not fit in int32"),
    ("text latency", _set("latency_ms", pa.array(["1", "2"])), "'latency_ms' must be a number"),
    ("proba scalar", _set("proba", pa.array([0.1, 0.2])), "'proba' must be a list<float64>"),
    (
        "struct input",
        _set("input.x", pa.array([{"a": 1}, {"a": 2}])),
        "'input.x' must be a scalar",
    ),
    (
        "both inputs",
        lambda t: t.append_column("input", pa.array([[1.0], [2.0]])),
        "both an 'input' column",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [pytest.param(m, msg, id=i) for i, m, msg in BAD_PREDICTIONS],
)
def test_bad_prediction_batches_are_refused_clearly(
    tmp_path: Path, mutate: Callable[[pa.Table], pa.Table], message: str
) -> None:
    store = EvaluationStore(str(tmp_path / "evaluations"))
    with pytest.raises(InvalidInput, match=message):
        store.append_predictions("demo", "api", mutate(predictions(["a", "b"])))
    assert store.files("demo", "api") == []


def test_bad_label_batches_are_refused_clearly(tmp_path: Path) -> None:
    store = EvaluationStore(str(tmp_path / "evaluations"))
    with pytest.raises(InvalidInput, match=r"lacks column.*'label'"):
        store.append_labels("demo", "api", labels({"a": 1}).drop_columns(["label"]))
    with pytest.raises(InvalidInput, match="null label"):
        store.append_labels("demo", "api", labels({"a": None, "b": 1}))
    with pytest.raises(InvalidInput, match="'label' must be a scalar"):
        store.append_labels("demo", "api", labels({"a": [1, 2]}))
    with pytest.raises(InvalidInput, match=r"must be a pyarrow\.Table"):
        store.append_labels("demo", "api", {"a": 1})


def test_types_are_normalised_to_the_contract(tmp_path: Path) -> None:
    store = EvaluationStore(str(tmp_path / "evaluations"))
    batch = predictions(["a", "b"])
    berlin = pa.array([T0, T0 + timedelta(hours=3)], pa.timestamp("ms", tz="Europe/Berlin"))
    batch = _set("ts", berlin)(batch)
    batch = _set("version", pa.array([3, 3], pa.int64()))(batch)
    batch = _set("proba", pa.array([[1, 0], [0, 1]], pa.list_(pa.int8())))(batch)
    path = store.append_predictions("demo", "api", batch)
    schema = pq.read_schema(path)
    assert schema.field("ts").type == UTC_US
    assert schema.field("version").type == pa.int32()
    assert schema.field("proba").type == pa.list_(pa.float64())
    # 22:00 and 01:00 UTC: split by the UTC day, not Berlin's.
    assert [f.split("/")[-2] for f in store.files("demo", "api")] == [
        "date=2026-11-20",
        "date=2026-11-21",
    ]


def test_no_half_written_file_is_ever_listed(tmp_path: Path) -> None:
    root = tmp_path / "evaluations"
    store = EvaluationStore(str(root))
    store.append_predictions("demo", "api", predictions(["a"]))
    # A writer that died mid-file leaves a dot-named temporary: readers skip it.
    day = root / "demo" / "api" / "predictions" / "date=2026-11-20"
    (day / ".0123.tmp").write_bytes(b"PAR1 half")
    assert len(store.files("demo", "api")) == 1
    assert len(store.predictions("demo", "api")) == 1
    assert sorted(p.name for p in day.iterdir() if not p.name.startswith(".")) == [
        Path(store.files("demo", "api")[0]).name
    ]


def test_settings_name_the_root(tmp_path: Path) -> None:
    default = Settings.from_env({"LOOPLINE_HOME": str(tmp_path)})
    assert EvaluationStore.from_settings(default).root == str(tmp_path / "evaluations")
    custom = Settings.from_env(
        {"LOOPLINE_HOME": str(tmp_path), "LOOPLINE_EVALUATION_URI": "s3://bucket/evals/"}
    )
    assert custom.evaluation_root == "s3://bucket/evals"
    relative = Settings.from_env(
        {"LOOPLINE_HOME": str(tmp_path), "LOOPLINE_EVALUATION_URI": "logs"}, cwd=tmp_path
    )
    assert relative.evaluation_root == str(tmp_path / "logs")
    from loopline.errors import ConfigError

    with pytest.raises(ConfigError, match="LOOPLINE_EVALUATION_URI"):
        Settings.from_env({"LOOPLINE_EVALUATION_URI": "s3://"})


# -- the latest-label rule, against a model of it --

_label_batches = st.lists(
    st.lists(
        st.tuples(st.sampled_from("abcd"), st.integers(0, 3), st.integers(0, 9)),
        min_size=1,
        max_size=6,
    ),
    min_size=1,
    max_size=5,
)


@given(batches=_label_batches)
def test_the_latest_label_rule_holds_for_any_arrival_order(
    tmp_path_factory: pytest.TempPathFactory, batches: list[list[tuple[str, int, int]]]
) -> None:
    store = EvaluationStore(str(tmp_path_factory.mktemp("evals")))
    expected: dict[str, tuple[tuple[int, int, int], int]] = {}
    for batch_number, batch in enumerate(batches):
        table = pa.table(
            {
                "request_id": [rid for rid, _, _ in batch],
                "ts": pa.array([T0 + timedelta(hours=h) for _, h, _ in batch], UTC_US),
                "label": [label for _, _, label in batch],
            }
        )
        # Distinct, increasing batch names: arrival order is file-name order.
        batch_id = f"{batch_number:012x}" + "0" * 20
        store.append_labels("demo", "api", table, batch_id=batch_id)
        for row, (rid, hour, label) in enumerate(batch):
            key = (hour, batch_number, row)
            if rid not in expected or key > expected[rid][0]:
                expected[rid] = (key, label)
    got = store.labels("demo", "api")
    assert dict(zip(got["request_id"], got["label"], strict=True)) == {
        rid: label for rid, (_, label) in expected.items()
    }


@given(
    hours=st.lists(st.integers(-72, 72), min_size=1, max_size=30),
    window=st.tuples(st.integers(-80, 80), st.integers(0, 100)),
)
def test_a_time_window_returns_exactly_the_rows_inside_it(
    tmp_path_factory: pytest.TempPathFactory, hours: list[int], window: tuple[int, int]
) -> None:
    store = EvaluationStore(str(tmp_path_factory.mktemp("evals")))
    batch = predictions([f"r{i}" for i in range(len(hours))], proba=False)
    times = pa.array([T0 + timedelta(hours=h) for h in hours], UTC_US)
    store.append_predictions("demo", "api", _set("ts", times)(batch))
    start = T0 + timedelta(hours=window[0])
    end = start + timedelta(hours=window[1])
    got = store.predictions("demo", "api", start=start, end=end, with_labels=False)
    expected = sorted(
        f"r{i}" for i, h in enumerate(hours) if start <= T0 + timedelta(hours=h) < end
    )
    assert sorted(got["request_id"]) == expected


def test_naive_and_aware_query_bounds_agree(tmp_path: Path) -> None:
    store = EvaluationStore(str(tmp_path / "evals"))
    store.append_predictions("demo", "api", predictions(["a", "b", "c"]))
    aware = store.predictions("demo", "api", start=T0 + timedelta(minutes=1))
    naive = store.predictions(
        "demo",
        "api",
        start=datetime(2026, 11, 20, 22, 1),
    )
    assert list(aware["request_id"]) == list(naive["request_id"]) == ["b", "c"]
    assert aware["ts"].iloc[0].tzinfo is not None
    assert T0.tzinfo is UTC
