"""The registry through the SDK, on SQLite and PostgreSQL, in-process and through the server."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from tests.registry.conftest import blob_path

from loopline import Client, ModelRegistry
from loopline._datasets import Dataset
from loopline.config import Settings
from loopline.errors import Conflict, CorruptBlob, InvalidInput, NotFound
from loopline.registry import ModelLibraryWarning, SchemaMismatch

Frame = tuple[pd.DataFrame, pd.Series]


def _train(client: Client, frame: Frame, *, acc: float = 0.9, dataset: bool = False) -> str:
    """A run that (optionally) reads a dataset version, logs a metric and a model; its id."""
    x, y = frame
    registry = ModelRegistry(client)
    with client.start_run("vision", capture=False) as run:
        if dataset:
            Dataset.get("train", project="vision", client=client)
        run.log_metric("acc", acc)
        model = LogisticRegression().fit(x, y)
        registry.log_model(model, "model", input_example=x.head(5), run=run)
    return run.id


def _commit_dataset(client: Client, frame: Frame) -> int:
    x, y = frame
    draft = Dataset.create("train", project="vision", client=client)
    draft.add_frame(x.assign(label=y), "train.parquet")
    return draft.commit("training table").number


def test_log_register_load_round_trip(client: Client, frame: Frame) -> None:
    x, y = frame
    _commit_dataset(client, frame)
    run_id = _train(client, frame, acc=0.93, dataset=True)
    registry = ModelRegistry(client)
    version = registry.register(f"runs:/{run_id}/model", "digits", description="baseline")
    assert (version.number, version.flavor, version.status) == (1, "sklearn", "registered")
    assert version.run_id == run_id
    assert version.project == "vision"
    assert version.metrics == {"acc": 0.93}
    assert [t.ref for t in version.training_data] == ["vision/train:1"]
    assert version.profile_digest is not None
    assert version.profile_digest == version.training_data[0].profile_digest
    assert any(r.startswith("scikit-learn==") for r in version.requirements)
    assert version.size > 0
    assert version.creator == "ada"
    assert version.description == "baseline"
    assert version.signature is not None
    assert [c["name"] for c in version.signature["inputs"]["columns"]] == ["width", "height"]

    registry.set_alias("digits", "champion", 1, project="vision", reason="first")
    model = registry.load("models:/vision/digits@champion")
    expected = LogisticRegression().fit(x, y)
    np.testing.assert_array_equal(model.predict(x), expected.predict(x))
    np.testing.assert_allclose(model.predict_proba(x), expected.predict_proba(x))
    again = registry.load("models:/vision/digits/1")  # from the cache this time
    np.testing.assert_array_equal(again.predict(x), expected.predict(x))
    pd.testing.assert_frame_equal(model.input_example(), x.head(5).reset_index(drop=True))


def test_versions_number_in_order_and_every_change_is_an_event(
    client: Client, frame: Frame
) -> None:
    registry = ModelRegistry(client)
    runs = [_train(client, frame, acc=a) for a in (0.8, 0.85, 0.9)]
    numbers = [registry.register(f"runs:/{r}/model", "digits").number for r in runs]
    assert numbers == [1, 2, 3]
    assert [v.number for v in registry.versions("digits", project="vision")] == [3, 2, 1]

    registry.set_alias("digits", "champion", 2, project="vision", reason="best so far")
    moved = registry.set_alias("digits", "champion", 3, project="vision", reason="beats v2")
    assert moved.aliases == ["champion"]
    assert registry.version("digits", "champion", project="vision").number == 3
    assert registry.get("digits", project="vision").aliases == {"champion": 3}
    approved = registry.set_status("digits", 3, "approved", project="vision", reason="gate")
    assert approved.status == "approved"

    events = registry.events("digits", project="vision")
    kinds = [(e.kind, e.version, e.old, e.new) for e in events]
    assert kinds[:3] == [
        ("status_changed", 3, "registered", "approved"),
        ("alias_set", 3, "2", "3"),
        ("alias_set", 2, None, "2"),
    ]
    assert {e.actor for e in events} == {"ada"}
    assert events[1].reason == "beats v2"
    assert sum(e.kind == "registered" for e in events) == 3

    with pytest.raises(NotFound, match="no version 9; it has versions 1 to 3"):
        registry.set_alias("digits", "champion", 9, project="vision")
    with pytest.raises(Conflict, match="move or remove"):
        registry.set_status("digits", 3, "archived", project="vision")
    registry.set_status("digits", 1, "archived", project="vision", reason="superseded")
    with pytest.raises(Conflict, match="archived"):
        registry.set_alias("digits", "challenger", 1, project="vision")
    with pytest.raises(NotFound, match="Did you mean 'champion'"):
        registry.version("digits", "champio", project="vision")
    registry.remove_alias("digits", "champion", project="vision", reason="retire")
    assert registry.get("digits", project="vision").aliases == {}
    assert registry.events("digits", project="vision")[0].kind == "alias_removed"


def test_predict_with_a_wrong_schema_lists_every_difference(client: Client, frame: Frame) -> None:
    _x, _ = frame
    registry = ModelRegistry(client)
    registry.register(f"runs:/{_train(client, frame)}/model", "digits")
    model = registry.load("models:/vision/digits/1")
    wrong = pd.DataFrame({"width": ["a", "b"], "depth": [1.0, 2.0], "colour": ["r", "g"]})
    with pytest.raises(SchemaMismatch) as caught:
        model.predict(wrong)
    message = caught.value.message
    assert "missing columns 'height'" in message
    assert "extra columns 'depth', 'colour'" in message
    assert "'width' (expected double, got string)" in message
    assert caught.value.details["missing"] == ["height"]
    # Columns in another order, and integers where doubles are expected, are fine.
    ints = pd.DataFrame({"height": [1, 2], "width": [3, 4]})
    assert len(model.predict(ints)) == 2


def test_a_corrupted_model_file_is_an_error_naming_the_file(
    client: Client, frame: Frame, settings: Settings
) -> None:
    registry = ModelRegistry(client)
    version = registry.register(f"runs:/{_train(client, frame)}/model", "digits")
    artifacts = {a.path: a for a in client.list_artifacts(str(version.run_id))}
    pickled = blob_path(settings, artifacts["model/model.pkl"].digest)
    pickled.chmod(0o644)
    pickled.write_bytes(b"not the model any more")
    with pytest.raises(CorruptBlob, match=r"model file 'model.pkl' is corrupt"):
        registry.load("models:/vision/digits/1")


def test_an_object_no_flavor_knows_lists_flavors_and_points_to_pyfunc(client: Client) -> None:
    registry = ModelRegistry(client)
    with client.start_run("vision", capture=False) as run, pytest.raises(InvalidInput) as caught:
        registry.log_model(object(), run=run)
    assert "sklearn, pyfunc" in caught.value.message
    assert "flavor='pyfunc'" in caught.value.message


def test_registering_needs_a_logged_model(client: Client, frame: Frame) -> None:
    registry = ModelRegistry(client)
    run_id = _train(client, frame)
    with pytest.raises(NotFound, match="It has: 'model'"):
        registry.register(f"runs:/{run_id}/modle", "digits")
    with client.start_run("vision", capture=False) as empty:
        pass
    with pytest.raises(NotFound, match=r"log one with ll\.log_model"):
        registry.register(f"runs:/{empty.id}/model", "digits")
    with pytest.raises(InvalidInput, match="registered already"):
        registry.register("models:/digits/1", "digits")


def test_unknown_models_suggest_names_and_projects(client: Client, frame: Frame) -> None:
    registry = ModelRegistry(client)
    registry.register(f"runs:/{_train(client, frame)}/model", "digits")
    with pytest.raises(NotFound, match="Did you mean 'digits'"):
        registry.version("digit", project="vision")
    client.create_project("other")
    with pytest.raises(NotFound, match="use models:/vision/digits"):
        registry.load("models:/other/digits/1")


def test_compare_and_card(client: Client, frame: Frame) -> None:
    registry = ModelRegistry(client)
    registry.register(f"runs:/{_train(client, frame, acc=0.8)}/model", "digits")
    registry.register(f"runs:/{_train(client, frame, acc=0.9)}/model", "digits")
    registry.set_alias("digits", "champion", 2, project="vision", reason="higher acc")
    comparison = registry.compare("digits", 1, 2, project="vision")
    assert comparison.metrics == {"acc": (0.8, 0.9)}
    assert comparison.metric_delta("acc") == pytest.approx(0.1)
    assert "| acc | 0.8 | 0.9 |" in comparison.to_markdown()
    card = registry.card("digits", "champion", project="vision")
    assert card.startswith("# digits, version 2")
    for expected in (
        "`champion`",
        "| acc | 0.9 |",
        "| width | `double` |",
        "scikit-learn==",
        "set `champion` to 2",
        "higher acc",
        "may run code",
    ):
        assert expected in card, expected


def test_loading_with_another_major_library_version_warns(
    client: Client, frame: Frame, monkeypatch: pytest.MonkeyPatch
) -> None:
    import loopline.registry._package as package

    registry = ModelRegistry(client)
    registry.register(f"runs:/{_train(client, frame)}/model", "digits")
    from loopline.registry.flavors import library_version as real

    monkeypatch.setattr(
        package, "library_version", lambda m: "999.0.0" if m == "sklearn" else real(m)
    )
    with pytest.warns(ModelLibraryWarning, match=r"scikit-learn .*999\.0\.0"):
        registry.load("models:/vision/digits/1")
    monkeypatch.setattr(package, "library_version", lambda m: None if m == "sklearn" else real(m))
    with warnings.catch_warnings(), pytest.raises(InvalidInput, match="pip install"):
        registry.load("models:/vision/digits/1")
