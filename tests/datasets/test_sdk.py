"""ll.Dataset and DatasetVersion through both backends, on both databases."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import httpx
import pandas as pd
import pytest
from tests.datasets.conftest import blob_files, blob_path

import loopline as ll
from loopline import Client
from loopline.backends import LocalBackend
from loopline.config import Settings
from loopline.errors import CorruptBlob, InvalidInput, NotFound


def test_commit_get_and_read_back(client: Client, files: Path) -> None:
    ds = ll.Dataset.create("digits", project="vision", client=client)
    assert ds.add_files(files, dest="raw") == ["raw/a.txt", "raw/b.txt", "raw/sub/c.txt"]
    ds.add_frame(pd.DataFrame({"x": [1.0, 2.0, None], "y": ["a", "b", "a"]}), "t.parquet")
    v1 = ds.commit(message="first")
    assert (v1.number, v1.file_count, v1.message, v1.info.parent) == (1, 4, "first", None)
    got = ll.Dataset.get("digits", project="vision", client=client)
    assert got == v1
    assert got.digest == v1.digest
    assert [f.path for f in got.files()] == ["raw/a.txt", "raw/b.txt", "raw/sub/c.txt", "t.parquet"]
    with got.open("raw/a.txt") as f:
        assert f.read() == b"alpha\n"
    frame = got.to_pandas("t.parquet")
    assert list(frame["y"]) == ["a", "b", "a"]
    profile = got.profile()
    assert profile is not None
    assert profile["files"]["t.parquet"]["rows"] == 3
    with pytest.raises(NotFound, match=r"no file 'raw/a.tx'.*Did you mean 'raw/a.txt'"):
        got.open("raw/a.tx")


def test_versions_number_in_order_and_store_only_changes(
    client: Client, files: Path, settings: Settings
) -> None:
    ds = ll.Dataset.create("d", client=client)
    ds.add_files(files)
    v1 = ds.commit()
    before = len(blob_files(settings))
    (files / "a.txt").write_text("alpha, edited\n")
    ds2 = ll.Dataset.create("d", parent="latest", client=client)
    ds2.add_files(files / "a.txt")
    ds2.remove("sub")
    v2 = ds2.commit(message="edit a, drop sub")
    assert (v2.number, v2.info.parent) == (2, 1)
    assert (v2.info.added, v2.info.removed, v2.info.modified) == (0, 1, 1)
    # One new file blob and one new manifest: nothing unchanged is stored again.
    assert len(blob_files(settings)) == before + 2
    diff = ll.Dataset.diff(v1, v2)
    assert [c.path for c in diff.modified] == ["a.txt"]
    assert [(c.path, c.old_size) for c in diff.removed] == [("sub/c.txt", 6)]
    assert diff.added == []
    assert diff.unchanged == 1
    assert [v.number for v in ll.Dataset.versions("d", client=client)] == [2, 1]
    listed = ll.Dataset.list(client=client)
    assert [(d.name, d.version_count, d.latest and d.latest.number) for d in listed] == [
        ("d", 2, 2)
    ]


def test_aliases_name_one_version(client: Client, files: Path) -> None:
    ds = ll.Dataset.create("d", client=client)
    ds.add_files(files / "a.txt")
    v1 = ds.commit()
    ds.add_files(files / "b.txt")
    v2 = ds.commit()
    v1.set_alias("golden")
    assert ll.Dataset.get("d", "golden", client=client).number == 1
    v2.set_alias("golden")  # moves
    assert ll.Dataset.get("d", "golden", client=client).number == 2
    assert ll.Dataset.get("d", 1, client=client).aliases == []
    with pytest.raises(NotFound, match="Did you mean 'golden'"):
        ll.Dataset.get("d", "goldn", client=client)
    with pytest.raises(NotFound, match=r"no version 9 \(its versions are 1 to 2\)"):
        ll.Dataset.get("d", 9, client=client)
    with pytest.raises(InvalidInput):
        v1.set_alias("latest")


def test_an_unknown_dataset_suggests_the_closest(client: Client, files: Path) -> None:
    ds = ll.Dataset.create("digits", client=client)
    ds.add_files(files)
    ds.commit()
    with pytest.raises(NotFound, match="Did you mean 'digits'"):
        ll.Dataset.get("digit", client=client)


def test_local_copy_is_verified_cached_and_read_only(
    client: Client, files: Path, tmp_path: Path
) -> None:
    ds = ll.Dataset.create("d", client=client)
    ds.add_files(files)
    v = ds.commit()
    folder = v.local_copy()
    assert (folder / "sub" / "c.txt").read_text() == "gamma\n"
    assert folder.is_relative_to(client.settings.home)
    mode = (folder / "a.txt").stat().st_mode
    assert not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH), "linked files are read-only"
    inode = (folder / "a.txt").stat().st_ino
    assert v.local_copy() == folder
    assert (folder / "a.txt").stat().st_ino == inode, "a second copy touches nothing"
    # A file the user replaced is put back; a copy elsewhere can be plain copies.
    (folder / "b.txt").unlink()
    v.local_copy()
    assert (folder / "b.txt").read_text() == "beta\n"
    copied = v.local_copy(tmp_path / "mine", link=False)
    (copied / "a.txt").write_text("mine now")  # copies are the user's to edit
    with v.open("a.txt") as f:
        assert f.read() == b"alpha\n"


def test_local_copy_follows_a_new_version_in_the_same_folder(
    client: Client, files: Path, tmp_path: Path
) -> None:
    ds = ll.Dataset.create("d", client=client)
    ds.add_files(files)
    v1 = ds.commit()
    ds.remove("sub/c.txt")
    v2 = ds.commit()
    dest = tmp_path / "work"
    v1.local_copy(dest)
    v2.local_copy(dest)
    assert sorted(p.name for p in dest.rglob("*") if p.is_file()) == ["a.txt", "b.txt"]


def test_local_copy_refuses_a_folder_it_did_not_make(
    client: Client, files: Path, tmp_path: Path
) -> None:
    ds = ll.Dataset.create("d", client=client)
    ds.add_files(files)
    v = ds.commit()
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "precious.txt").write_text("keep me")
    with pytest.raises(InvalidInput, match="not empty"):
        v.local_copy(tmp_path / "busy")
    assert (tmp_path / "busy" / "precious.txt").read_text() == "keep me"


# -- bad input ---------------------------------------------------------------------------------


def test_committing_nothing_is_refused(client: Client, files: Path) -> None:
    ds = ll.Dataset.create("d", client=client)
    with pytest.raises(InvalidInput, match="Nothing to commit"):
        ds.commit()
    ds.add_files(files / "a.txt")
    v1 = ds.commit()
    with pytest.raises(InvalidInput, match="Nothing to commit since d:1"):
        ds.commit()
    again = ll.Dataset.create("d", parent=v1, client=client)
    again.add_files(files / "a.txt")  # the same bytes at the same path
    with pytest.raises(InvalidInput, match="exactly those of d:1"):
        again.commit()
    empty = ll.Dataset.create("d", parent="latest", client=client)
    empty.remove("a.txt")
    with pytest.raises(InvalidInput, match="no files"):
        empty.commit()
    assert [v.number for v in ll.Dataset.versions("d", client=client)] == [1]


@pytest.mark.parametrize("dest", ["../escape", "/abs", "a/../../b", "a\\b"])
def test_a_path_outside_the_dataset_is_refused(client: Client, files: Path, dest: str) -> None:
    ds = ll.Dataset.create("d", client=client)
    with pytest.raises(InvalidInput):
        ds.add_files(files, dest=dest)
    with pytest.raises(InvalidInput, match="outside the dataset"):
        ds.remove("../a.txt")
    with pytest.raises(InvalidInput, match="outside the dataset"):
        ds.add_frame(pd.DataFrame({"x": [1]}), "../x.parquet")


def test_a_missing_file_is_named(client: Client, tmp_path: Path) -> None:
    ds = ll.Dataset.create("d", client=client)
    with pytest.raises(NotFound, match=r"nope.csv'.*no such file"):
        ds.add_files(tmp_path / "nope.csv")
    with pytest.raises(NotFound, match="matches no file"):
        ds.add_files(str(tmp_path / "*.csv"))
    real = tmp_path / "real.csv"
    real.write_text("x\n1\n")
    ds.add_files(real)
    real.unlink()  # gone before the commit: the commit names it
    with pytest.raises(NotFound, match=r"real.csv"):
        ds.commit()
    with pytest.raises(NotFound, match="no versions yet"):
        ll.Dataset.get("d", client=client)


def test_a_corrupted_blob_is_an_error_naming_the_file(
    client: Client, files: Path, settings: Settings, tmp_path: Path
) -> None:
    ds = ll.Dataset.create("d", client=client)
    ds.add_files(files)
    v = ds.commit()
    digest = next(f.digest for f in v.files() if f.path == "b.txt")
    blob = blob_path(settings, digest)
    blob.chmod(0o644)
    blob.write_bytes(b"BETA\n")  # same size, other bytes
    with pytest.raises(CorruptBlob, match=r"'b.txt'"):
        v.local_copy(tmp_path / "out")
    with pytest.raises(CorruptBlob, match=r"b.txt"), v.open("b.txt") as f:
        f.read()
    with pytest.raises(CorruptBlob, match=r"b.txt"):
        v.local_copy(tmp_path / "out2", link=False)
    assert not (tmp_path / "out" / "b.txt").exists(), "nothing corrupt reaches the copy"


def test_two_writers_committing_at_once_both_get_a_version(
    settings: Settings, files: Path, tmp_path: Path
) -> None:
    clients = [Client(settings=settings) for _ in range(4)]
    start = threading.Barrier(len(clients))
    errors: list[BaseException] = []
    numbers: list[int] = []

    def commit(i: int, c: Client) -> None:
        try:
            f = tmp_path / f"w{i}.txt"
            f.write_text(f"writer {i}")
            ds = ll.Dataset.create("shared", client=c)
            ds.add_files(f)
            start.wait()
            numbers.append(ds.commit(message=f"writer {i}").number)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=commit, args=(i, c)) for i, c in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for c in clients:
        c.close()
    assert errors == []
    assert sorted(numbers) == [1, 2, 3, 4]
    with Client(settings=settings) as c:
        versions = ll.Dataset.versions("shared", client=c)
        assert sorted(v.message for v in versions) == [f"writer {i}" for i in range(4)]
        assert [v.number for v in versions] == [4, 3, 2, 1]
        assert sorted(v.created_at for v in versions) == [v.created_at for v in versions[::-1]]


def test_a_glob_keeps_paths_below_its_first_wildcard(client: Client, files: Path) -> None:
    ds = ll.Dataset.create("d", client=client)
    assert ds.add_files(str(files / "**" / "*.txt"), dest="t") == [
        "t/a.txt",
        "t/b.txt",
        "t/sub/c.txt",
    ]
    assert ds.remove("t/*.txt") == ["t/a.txt", "t/b.txt", "t/sub/c.txt"]
    os.chdir(files)
    assert ds.add_files("sub") == ["c.txt"]


def test_the_server_answers_bad_version_refs_with_a_4xx(
    server_url: str, local_backend: LocalBackend, files: Path
) -> None:
    client = Client(
        settings=Settings.from_env({"LOOPLINE_URI": server_url, "LOOPLINE_HOME": str(files.parent)})
    )
    ds = ll.Dataset.create("refs", project="p", client=client)
    ds.add_files(files)
    ds.commit()
    with httpx.Client(base_url=server_url) as http:
        at = "/api/v1/projects/p/datasets/refs/versions/"
        assert http.get(at + "1").status_code == 200
        for ref in ("%C2%B2", "0", "9" * 20, "9" * 5000, "no%20such"):
            answer = http.get(at + ref)
            assert 400 <= answer.status_code < 500, (ref, answer.text[:200])
    client.close()
