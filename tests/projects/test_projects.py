"""Projects through both backends (in-process and over HTTP) on both databases."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loopline.backends import Backend
from loopline.errors import Conflict, InvalidInput, NotFound
from loopline.projects import validate_project_name


def test_create_get_list(backend: Backend) -> None:
    created = backend.create_project("churn", "who leaves, and why")
    backend.create_project("alpha")
    assert backend.get_project("churn") == created
    assert created.description == "who leaves, and why"
    assert len(created.id) == 32
    assert [p.name for p in backend.list_projects()] == ["alpha", "churn"]


def test_a_taken_name_is_a_conflict_and_the_first_project_is_kept(backend: Backend) -> None:
    first = backend.create_project("fraud", "the original")
    with pytest.raises(Conflict, match="'fraud' already exists"):
        backend.create_project("fraud", "an impostor")
    assert backend.get_project("fraud") == first


def test_not_found_suggests_the_closest_name(backend: Backend) -> None:
    backend.create_project("digits")
    with pytest.raises(NotFound) as info:
        backend.get_project("digit")
    assert str(info.value) == "Project 'digit' not found. Did you mean 'digits'?"


@pytest.mark.parametrize("name", ["", "-lead", "has space", "a/b", "..", "x" * 101, "naïve"])
def test_invalid_names_are_refused_with_the_rule(backend: Backend, name: str) -> None:
    with pytest.raises(InvalidInput) as info:
        backend.create_project(name)
    assert (
        "letters, digits" in str(info.value)
        or "at most" in str(info.value).lower()
        or ("Invalid request" in str(info.value))
    )
    assert backend.list_projects() == []


def test_an_oversized_description_is_refused(backend: Backend) -> None:
    with pytest.raises(InvalidInput):
        backend.create_project("big", "x" * 10_001)
    assert backend.list_projects() == []


_NAME_CHARS = st.characters(codec="utf-8", exclude_categories=["Cs"])


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=st.text(_NAME_CHARS, max_size=120))
def test_any_name_is_created_or_refused_cleanly(backend: Backend, name: str) -> None:
    try:
        valid = validate_project_name(name) == name
    except InvalidInput:
        valid = False
    if not valid:
        with pytest.raises(InvalidInput):
            backend.create_project(name)
        return
    try:
        project = backend.create_project(name)
    except Conflict:
        project = backend.get_project(name)
    assert backend.get_project(name) == project


@pytest.mark.parametrize("name", ["..", "a/b", "a b", "%2e%2e"])
def test_lookups_of_invalid_names_fail_the_same_way_on_both_backends(
    backend: Backend, name: str
) -> None:
    with pytest.raises(InvalidInput, match="Invalid project name"):
        backend.get_project(name)
