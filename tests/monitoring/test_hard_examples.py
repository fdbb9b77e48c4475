"""Hard examples: which predictions are collected, the dataset version they make (with the
link back to the logs), and labelling them through the backends (in-process and over HTTP)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.monitoring.helpers import T0, labels, predictions

from loopline.backends import Backend, LocalBackend
from loopline.errors import Conflict, InvalidInput, NotFound
from loopline.monitoring._evaluation import table_to_parquet
from loopline.monitoring._hard_examples import (
    EXAMPLES_FILE,
    METADATA_FILE,
    coerce_label,
    detect_image_shape,
    select_hard_examples,
)


def _pixels(n: int, seed: int = 0) -> dict[str, Sequence[Any]]:
    rng = np.random.default_rng(seed)
    grid = rng.integers(0, 17, size=(n, 64)).astype(float)
    return {f"pixel_{i}": grid[:, i].tolist() for i in range(64)}


def _log(backend: Backend, ids: list[str], proba: list[list[float]], output: list[int]) -> None:
    table = predictions(ids, inputs=_pixels(len(ids)), output=output, proba=False, model="digits")
    table = table.append_column("proba", pa.array(proba, pa.list_(pa.float64())))
    backend.append_predictions("vision", "digits-api", table_to_parquet(table))


def _examples(local: LocalBackend, version: int) -> tuple[pd.DataFrame, dict[str, object]]:
    files = {f.path: f for f in local.datasets.files("vision", "digits-review", version).files}
    data = pq.read_table(pa.BufferReader(local.blobs.get_bytes(files[EXAMPLES_FILE].digest)))
    meta = json.loads(local.blobs.get_bytes(files[METADATA_FILE].digest))
    return data.to_pandas(), meta


def test_selection_puts_wrong_predictions_first_then_the_least_sure() -> None:
    frame = pd.DataFrame(
        {
            "request_id": ["a", "b", "c", "d", "e"],
            "ts": pd.date_range(T0, periods=5, freq="min"),
            "output": [1, 2, 3, 4, 5],
            "label": [1, 7, None, None, 5],
        }
    )
    confidence = np.array([0.9, 0.95, 0.3, 0.5, np.nan])
    chosen, skipped = select_hard_examples(
        frame, confidence, confidence_below=0.6, misclassified=True, exclude={"d"}
    )
    assert chosen["request_id"].tolist() == ["b", "c"]  # wrong, then unsure; d seen; e unknown
    assert chosen["reason"].tolist() == ["misclassified", "low_confidence"]
    assert skipped == 1
    only_wrong, _ = select_hard_examples(
        frame, confidence, confidence_below=None, misclassified=True
    )
    assert only_wrong["request_id"].tolist() == ["b"]
    top, _ = select_hard_examples(
        frame, confidence, confidence_below=0.6, misclassified=False, limit=1
    )
    assert top["request_id"].tolist() == ["c"]


def test_labels_typed_by_a_person_take_the_predictions_type() -> None:
    assert coerce_label("7", pa.int64()) == 7
    assert coerce_label(7.0, pa.int64()) == 7
    assert coerce_label("yes", pa.bool_()) is True
    assert coerce_label(" cat ", pa.string()) == "cat"
    with pytest.raises(InvalidInput, match="whole number"):
        coerce_label("7.5", pa.int64())
    with pytest.raises(InvalidInput, match="empty"):
        coerce_label("  ", pa.int64())


def test_image_shapes_are_found_from_pixel_columns() -> None:
    assert detect_image_shape([f"pixel_{i}" for i in range(64)], [0.0] * 64) == [8, 8]
    assert detect_image_shape(["input"], [[0.0] * 3072]) == [32, 32, 3]
    assert detect_image_shape(["age", "plan"], [30, "pro"]) is None
    assert detect_image_shape([f"pixel_{i}" for i in range(10)], [0.0] * 10) is None


def test_collection_makes_a_version_linked_to_the_predictions(
    local_backend: LocalBackend,
) -> None:
    ids = [f"r{i}" for i in range(6)]
    proba = [[0.9, 0.1], [0.55, 0.45], [0.42, 0.58], [0.99, 0.01], [0.5, 0.5], [0.8, 0.2]]
    _log(local_backend, ids, proba, [0, 0, 1, 0, 0, 0])
    local_backend.append_labels("vision", "digits-api", table_to_parquet(labels({"r3": 1})))

    found = local_backend.collect_hard_examples(
        "vision", "digits-api", "digits-review", since=T0, until=T0 + timedelta(hours=1)
    )
    assert (found.version, found.collected, found.scanned) == (1, 4, 6)
    assert (found.misclassified, found.low_confidence) == (1, 3)
    assert found.confidence_source == "logged"
    assert found.image_shape == [8, 8]
    data, meta = _examples(local_backend, 1)
    assert data["request_id"].tolist() == ["r3", "r4", "r1", "r2"]
    assert data.loc[0, "label"] == 1
    assert data.loc[0, "predicted"] == 0
    assert data["confidence"].round(2).tolist() == [0.99, 0.5, 0.55, 0.58]
    assert not data["reviewed"].any()
    assert {"endpoint", "model", "model_version", "ts", "pixel_0", "pixel_63"} <= set(data)
    assert meta["image_shape"] == [8, 8]
    collection = meta["collections"][0]  # type: ignore[index]
    assert collection["endpoint"] == "digits-api"
    assert collection["request_ids"] == ["r3", "r4", "r1", "r2"]
    assert collection["since"] == T0.isoformat()

    # Again with two more predictions: only the new hard one is added.
    _log(local_backend, ["r6", "r7"], [[0.51, 0.49], [1.0, 0.0]], [0, 0])
    again = local_backend.collect_hard_examples("vision", "digits-api", "digits-review")
    assert (again.version, again.collected, again.already_collected) == (2, 1, 4)
    data, meta = _examples(local_backend, 2)
    assert data["request_id"].tolist() == ["r3", "r4", "r1", "r2", "r6"]
    assert len(meta["collections"]) == 2  # type: ignore[arg-type]
    # Nothing new: no version.
    nothing = local_backend.collect_hard_examples("vision", "digits-api", "digits-review")
    assert (nothing.version, nothing.collected) == (None, 0)


def test_bad_collections_are_refused_with_the_reason(backend: Backend) -> None:
    backend.create_project("vision")
    with pytest.raises(InvalidInput, match="Nothing to collect"):
        backend.collect_hard_examples(
            "vision", "api", "review", confidence_below=None, misclassified=False
        )
    with pytest.raises(InvalidInput, match="before until"):
        backend.collect_hard_examples("vision", "api", "review", since=T0, until=T0)
    with pytest.raises(InvalidInput, match="image_shape"):
        backend.collect_hard_examples("vision", "api", "review", image_shape=[8, 8, 2])
    # An endpoint with no logs: nothing collected, no version, no error.
    assert backend.collect_hard_examples("vision", "quiet-api", "review").version is None


def test_labelling_saves_progress_and_commits_once(
    backend: Backend, local_backend: LocalBackend
) -> None:
    ids = ["a", "b", "c"]
    _log(local_backend, ids, [[0.5, 0.5], [0.45, 0.55], [0.52, 0.48]], [0, 1, 0])
    found = backend.collect_hard_examples("vision", "digits-api", "digits-review")
    assert found.version == 1

    state = backend.save_labels("vision", "digits-review", {"a": "0", "b": 0}, actor="ana")
    assert (state.total, state.waiting, state.done, state.reviewed) == (3, 2, 2, 0)
    assert {d.request_id: d.status for d in state.decisions} == {
        "a": "confirmed",
        "b": "corrected",
    }
    page = backend.labelling_page("vision", "digits-review", offset=1, limit=1)
    assert [r["request_id"] for r in page.rows] == ["c"]  # least sure first: a, c, b
    assert page.state.image_shape == [8, 8]
    assert "pixel_0" in page.input_columns

    done = backend.commit_labels("vision", "digits-review", actor="ana")
    assert (done.version, done.committed, done.corrected, done.labels_logged) == (2, 2, 1, 2)
    again = backend.commit_labels("vision", "digits-review", actor="ana")
    assert again.nothing_new
    assert again.version == 2
    assert [v.number for v in local_backend.datasets.versions("vision", "digits-review")] == [
        2,
        1,
    ]
    data, meta = _examples(local_backend, 2)
    assert data["request_id"].tolist() == ["a", "c", "b"]
    assert data.loc[[0, 2], "label"].tolist() == [0, 0]
    assert data["label"].isna().tolist()[1]
    assert data["reviewed"].tolist() == [True, False, True]
    assert meta["reviews"][0]["request_ids"] == ["a", "b"]  # type: ignore[index]
    # Live quality sees the labels, once.
    logged = local_backend.evaluations.labels("vision", "digits-api")
    assert sorted(logged["request_id"]) == ["a", "b"]
    assert len(local_backend.evaluations.files("vision", "digits-api", "labels")) == 1

    after = backend.labelling_page("vision", "digits-review")
    assert (after.state.version, after.state.reviewed, after.state.waiting) == (2, 2, 0)
    # A later correction is a new label waiting, committed as version 3.
    backend.save_labels("vision", "digits-review", {"c": 1}, actor="ana")
    assert backend.commit_labels("vision", "digits-review", actor="ana").version == 3


def test_bad_labels_are_refused(backend: Backend, local_backend: LocalBackend) -> None:
    _log(local_backend, ["a"], [[0.5, 0.5]], [0])
    backend.collect_hard_examples("vision", "digits-api", "digits-review")
    with pytest.raises(InvalidInput, match="not among"):
        backend.save_labels("vision", "digits-review", {"zz": 1}, actor="ana")
    with pytest.raises(InvalidInput, match="whole number"):
        backend.save_labels("vision", "digits-review", {"a": "seven"}, actor="ana")
    with pytest.raises(NotFound):
        backend.save_labels("vision", "no-such-dataset", {"a": 1}, actor="ana")


def test_a_second_commit_at_once_is_refused(local_backend: LocalBackend) -> None:
    _log(local_backend, ["a"], [[0.5, 0.5]], [0])
    local_backend.collect_hard_examples("vision", "digits-api", "digits-review")
    local_backend.save_labels("vision", "digits-review", {"a": 1}, actor="ana")
    service = local_backend.labelling
    from sqlalchemy import update

    from loopline.db import utcnow
    from loopline.monitoring._labelling_tables import LabelReviewRow

    with local_backend.db.transaction() as session:  # a commit under way elsewhere
        session.execute(update(LabelReviewRow).values(commit_lock="x" * 32, locked_at=utcnow()))
    with pytest.raises(Conflict, match="under way"):
        service.commit("vision", "digits-review", actor="ana")
