"""ll.drift_report: references of every kind, and the HTML report a person reads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import loopline as ll
from loopline import Client
from loopline.config import Settings
from loopline.errors import InvalidInput
from loopline.monitoring import DriftReport, ReferenceProfile


def _frames(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    letters = np.array(["basic", "pro", "team"])
    train = pd.DataFrame(
        {
            "age": rng.normal(40, 10, 5000),
            "income": rng.lognormal(10, 0.5, 5000),
            "plan": letters[rng.choice(3, 5000, p=[0.5, 0.3, 0.2])],
        }
    )
    live = pd.DataFrame(
        {
            "age": rng.normal(44, 10, 2000),  # +0.4 SD
            "income": rng.lognormal(10, 0.5, 2000),
            "plan": letters[rng.choice(3, 2000, p=[0.5, 0.3, 0.2])],
        }
    )
    return train, live


@pytest.fixture(params=["local", "remote"])
def client(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Client]:
    if request.param == "local":
        c = Client(settings=settings)
    else:
        url: str = request.getfixturevalue("server_url")
        c = Client(
            settings=Settings.from_env(
                {"LOOPLINE_URI": url, "LOOPLINE_HOME": str(settings.home / "remote-client")}
            )
        )
    yield c
    c.close()


def test_every_kind_of_reference_gives_the_same_verdicts(tmp_path: Path) -> None:
    train, live = _frames()
    from_frame = ll.drift_report(train, live)
    assert isinstance(from_frame, DriftReport)
    assert from_frame.drifted == ["age"]
    profile = ReferenceProfile.from_frame(train)
    saved = profile.save(tmp_path / "reference.json")
    for reference in (
        profile,
        pa.Table.from_pandas(train),
        saved,
        str(saved),
        profile.to_dict(),
    ):
        report = ll.drift_report(reference, live)
        pd.testing.assert_frame_equal(report.columns, from_frame.columns)
    arrow_current = ll.drift_report(train, pa.Table.from_pandas(live))
    pd.testing.assert_frame_equal(arrow_current.columns, from_frame.columns)


def test_a_dataset_version_is_a_reference(client: Client) -> None:
    train, live = _frames(1)
    ds = ll.Dataset.create("customers", client=client)
    ds.add_frame(train, "train.parquet")
    version = ds.commit()
    # From the profile stored at commit: no data read.
    stored = ll.drift_report(version, live)
    assert stored.drifted == ["age"]
    assert stored.reference_rows == 5000
    # From the data itself: the fine sketch.
    fine = ll.drift_report(version, live, read_data=True, columns=["age", "plan"])
    assert fine.drifted == ["age"]
    assert list(fine.columns["column"]) == ["age", "plan"]


def test_the_html_report_is_self_contained_and_names_every_column(tmp_path: Path) -> None:
    train, live = _frames(2)
    train["<b>odd & name</b>"] = train["age"]
    live["<b>odd & name</b>"] = live["age"]
    live["when"] = pd.Timestamp("2026-01-01")
    train["when"] = pd.Timestamp("2025-01-01")
    report = ll.drift_report(train, live, title="Churn model, week 47")
    path = report.save_html(tmp_path / "drift.html")
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>")
    assert "Churn model, week 47" in page
    for external in ("<script", "<link", "src=", "url("):
        assert external not in page
    assert page.count("<svg") == 4  # a chart per judged column; none for the skipped one
    assert "&lt;b&gt;odd &amp; name&lt;/b&gt;" in page
    assert "<b>odd" not in page
    assert "not judged" in page
    assert report._repr_html_() == page
    assert "2 of 4 columns drifted" in page


def test_to_dict_is_json_ready() -> None:
    import json

    train, live = _frames(3)
    data = ll.drift_report(train, live).to_dict()
    text = json.dumps(data, allow_nan=False)
    assert json.loads(text)["drifted"] == ["age"]
    assert data["options"]["alpha"] == 0.05


def test_a_dataset_version_without_tables_is_refused(client: Client, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("no table here\n")
    ds = ll.Dataset.create("notes", client=client)
    ds.add_files(tmp_path / "notes.txt")
    version = ds.commit()
    live = pd.DataFrame({"x": [1.0] * 50})
    with pytest.raises(InvalidInput, match="read_data=True"):
        ll.drift_report(version, live)
    with pytest.raises(InvalidInput, match="no Parquet or CSV files"):
        ll.drift_report(version, live, read_data=True)
