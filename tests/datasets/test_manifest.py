"""Manifests and diffs: canonical bytes, content addressing, and what a diff says."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loopline.datasets import FileEntry, Manifest, diff_manifests, validate_dataset_path
from loopline.errors import CorruptBlob, InvalidInput

segment = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\\"),
    min_size=1,
    max_size=8,
).filter(lambda s: s not in (".", ".."))
paths = st.lists(segment, min_size=1, max_size=3).map("/".join)
digests = st.binary(min_size=1, max_size=8).map(lambda b: hashlib.sha256(b).hexdigest())
entries = st.dictionaries(paths, st.tuples(digests, st.integers(0, 2**40)), max_size=30).filter(
    lambda d: not any(p.startswith(q + "/") for p in d for q in d)
)


def manifest_of(d: dict[str, tuple[str, int]]) -> Manifest:
    return Manifest.of(FileEntry(p, dg, s) for p, (dg, s) in d.items())


@given(entries)
def test_encoding_round_trips_and_is_canonical(d: dict[str, tuple[str, int]]) -> None:
    m = manifest_of(d)
    again = Manifest.decode(m.encode())
    assert again == m
    assert again.encode() == m.encode()
    reversed_order = Manifest.of(reversed(list(m)))
    assert reversed_order.digest == m.digest, "the digest does not depend on insertion order"
    assert m.digest == hashlib.sha256(m.encode()).hexdigest()


@given(entries, entries)
def test_a_diff_says_exactly_how_to_go_from_a_to_b(
    a: dict[str, tuple[str, int]], b: dict[str, tuple[str, int]]
) -> None:
    ma, mb = manifest_of(a), manifest_of(b)
    d = diff_manifests(ma, mb)
    assert {c.path for c in d.added} == b.keys() - a.keys()
    assert {c.path for c in d.removed} == a.keys() - b.keys()
    assert {c.path for c in d.modified} == {p for p in a.keys() & b.keys() if a[p][0] != b[p][0]}
    assert d.unchanged == len({p for p in a.keys() & b.keys() if a[p][0] == b[p][0]})
    put = {c.path: (c.new_digest, c.new_size) for c in d.added + d.modified}
    rebuilt = ma.with_changes(
        {p: (dg, s) for p, (dg, s) in put.items() if dg is not None and s is not None},
        [c.path for c in d.removed],
    )
    for c in d.modified:  # sizes of unchanged digests are equal; modified ones carry theirs
        assert c.old_size == a[c.path][1]
        assert c.new_size == b[c.path][1]
    assert {p: v[0] for p, v in rebuilt.entries.items()} == {p: v[0] for p, v in b.items()}
    assert diff_manifests(ma, ma).is_empty


@given(st.lists(segment, min_size=0, max_size=3), st.sampled_from(["..", ".", ""]))
def test_paths_that_leave_the_dataset_are_refused(parts: list[str], bad: str) -> None:
    with pytest.raises(InvalidInput):
        validate_dataset_path("/".join([*parts, bad, "x"]))


@pytest.mark.parametrize(
    "path", ["/etc/passwd", "../x", "a/../../x", "a//b", "a\\b", "./a", "a/", "", "x\x00y"]
)
def test_bad_paths_are_refused(path: str) -> None:
    with pytest.raises(InvalidInput):
        validate_dataset_path(path)


def test_a_path_cannot_be_a_file_and_a_folder() -> None:
    with pytest.raises(InvalidInput, match="both a file and a folder"):
        Manifest.of([FileEntry("a", "0" * 64, 1), FileEntry("a/b", "1" * 64, 1)])


@pytest.mark.parametrize(
    "data",
    [b"", b"{}", b'{"schema":2,"files":[]}', b'{"schema":1,"files":[["a","zz",1]]}', b"\xff"],
)
def test_unreadable_manifests_are_refused(data: bytes) -> None:
    with pytest.raises(CorruptBlob):
        Manifest.decode(data)


@given(st.one_of(st.text(max_size=30), st.integers(), st.none(), st.booleans(), st.floats()))
def test_a_version_ref_is_valid_or_refused_clearly(ref: object) -> None:
    from loopline.datasets._types import validate_version_ref
    from loopline.projects import MAX_VERSION

    try:
        got = validate_version_ref(ref)
    except InvalidInput:
        return
    assert got == "latest" or isinstance(got, str) or 1 <= got <= MAX_VERSION


@pytest.mark.parametrize("ref", ["²", "0", "-1", "9" * 20, "9" * 5000, 2**31, 0])
def test_refs_that_name_no_version_are_refused(ref: object) -> None:
    from loopline.datasets._types import validate_version_ref

    with pytest.raises(InvalidInput):
        validate_version_ref(ref)
