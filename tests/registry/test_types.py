"""Names, aliases, version references and model URIs (hypothesis), and version numbering under
any order of registrations."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.dummy import DummyClassifier

from loopline import Client, ModelRegistry
from loopline.config import Settings
from loopline.errors import InvalidInput
from loopline.registry import (
    ModelUri,
    parse_model_uri,
    validate_model_alias,
    validate_model_name,
    validate_model_ref,
)

NAME = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True)


@given(st.text(max_size=30))
def test_an_alias_is_valid_or_refused_with_invalid_input(text: str) -> None:
    try:
        alias = validate_model_alias(text)
    except InvalidInput:
        return
    assert not alias.isdigit()
    assert alias != "latest"
    assert parse_model_uri(f"models:/digits@{alias}").ref == alias


@given(NAME, st.one_of(st.integers(1, 10**6), st.just("latest"), NAME), st.none() | NAME)
def test_model_uris_round_trip(name: str, ref: int | str, project: str | None) -> None:
    if isinstance(ref, str) and ref != "latest":
        try:
            validate_model_alias(ref)
        except InvalidInput:
            return
    try:
        validate_model_name(name)
    except InvalidInput:  # pragma: no cover - the regex makes valid names
        return
    if project is None and (name.isdigit() or name == "latest"):
        return  # "models:/3/4" reads as name 3, version 4: ambiguous without a project
    uri = ModelUri("models", name=name, project=project, ref=ref)
    assert parse_model_uri(str(uri)) == uri


@pytest.mark.parametrize(
    "text",
    [
        "",
        "digits",
        "models:/",
        "models:/a/b/c/d",
        "models:/digits@",
        "models:/digits@3",
        "runs:/xyz/model",
        "runs:/" + "0" * 32,
        "models:/../x",
        "models:/digits/0",
    ],
)
def test_malformed_uris_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_model_uri(text)


def test_version_references() -> None:
    assert validate_model_ref("3") == 3
    assert validate_model_ref("latest") == "latest"
    assert validate_model_ref("champion") == "champion"
    for bad in (0, -1, True, "latest!", 1.5):
        with pytest.raises(InvalidInput):
            validate_model_ref(bad)


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ModelRegistry, str]]:
    root = tmp_path_factory.mktemp("numbering")
    client = Client(
        settings=Settings.from_env(
            {"LOOPLINE_HOME": str(root), "LOOPLINE_URI": f"sqlite:///{Path(root) / 'll.db'}"}
        )
    )
    registry = ModelRegistry(client)
    with client.start_run("zoo", capture=False) as run:
        model = DummyClassifier().fit([[0], [1]], [0, 1])
        logged = registry.log_model(model, run=run)
    yield registry, logged.uri
    client.close()


@settings(max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from("abc"), min_size=1, max_size=12))
def test_each_model_numbers_its_versions_one_by_one(
    zoo: tuple[ModelRegistry, str], order: list[str]
) -> None:
    registry, uri = zoo
    prefix = uuid.uuid4().hex[:8]  # a fresh set of models for every example
    got: dict[str, list[int]] = {}
    for letter in order:
        version = registry.register(uri, f"{prefix}-{letter}")
        got.setdefault(letter, []).append(version.number)
    for numbers in got.values():
        assert numbers == list(range(1, len(numbers) + 1))
    for letter, numbers in got.items():
        listed = registry.versions(f"{prefix}-{letter}", project="zoo")
        assert [v.number for v in listed] == sorted(numbers, reverse=True)
