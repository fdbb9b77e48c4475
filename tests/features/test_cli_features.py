"""`loopline features ...`, driven as a user drives it."""

from __future__ import annotations

import json
from pathlib import Path

from tests.features.helpers import driver_rows
from typer.testing import CliRunner

from loopline.cli import app

runner = CliRunner()

DEFINITIONS = """
from datetime import timedelta
from loopline.features import Entity, FeatureView, Field, FileSource, Float64, Int64

driver = Entity(name="driver", join_keys=["driver_id"])
driver_stats = FeatureView(
    name="driver_stats",
    entities=[driver],
    ttl=timedelta(days=1),
    schema=[Field(name="conv_rate", dtype=Float64), Field(name="trips", dtype=Int64)],
    source=FileSource(path="data/driver_stats.parquet", created_timestamp_column="created"),
)
"""


def test_apply_materialize_list_and_get_online(clean_environ: Path, tmp_path: Path) -> None:
    from datetime import UTC, datetime

    repo = tmp_path / "repo"
    (repo / "data").mkdir(parents=True)
    driver_rows(datetime.now(UTC)).to_parquet(repo / "data" / "driver_stats.parquet")
    (repo / "features.py").write_text(DEFINITIONS)

    applied = runner.invoke(app, ["features", "apply", str(repo / "features.py"), "--json"])
    assert applied.exit_code == 0, applied.output
    assert [r["status"] for r in json.loads(applied.output)] == ["created", "created"]
    again = runner.invoke(app, ["features", "apply", str(repo / "features.py")])
    assert again.exit_code == 0
    assert "unchanged" in again.output

    done = runner.invoke(app, ["features", "materialize", "--until", "now", "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)[0]["rows"] == 2

    listed = runner.invoke(app, ["features", "list", "--json"])
    [view] = json.loads(listed.output)
    # The relative path was taken from the definitions file's folder.
    assert view["source"]["location"] == str(repo / "data" / "driver_stats.parquet")
    assert view["watermark"] is not None

    found = runner.invoke(
        app,
        ["features", "get-online", "driver_stats:conv_rate", "-e", "driver_id=1,2,9", "--json"],
    )
    assert found.exit_code == 0, found.output
    assert json.loads(found.output) == {"driver_id": [1, 2, 9], "conv_rate": [0.2, 0.35, None]}


def test_bad_input_is_one_red_line(clean_environ: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("from loopline.features import Entity\nx = 1 / 0\n")
    result = runner.invoke(app, ["features", "apply", str(broken)])
    assert result.exit_code == 1
    assert "line 2" in result.output
    assert "ZeroDivisionError" in result.output
    naive = runner.invoke(app, ["features", "materialize", "--until", "2026-01-01T00:00:00"])
    assert naive.exit_code == 1
    assert "time zone" in naive.output
