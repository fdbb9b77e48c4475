"""A running run's console output, followed live; and counting runs for pages of a search."""

from __future__ import annotations

import time

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loopline import Client
from loopline.backends import Backend
from loopline.errors import Conflict, InvalidInput, NotFound
from loopline.tracking import ConsoleText


def read_all(backend: Backend, run_id: str, limit: int = 1_000_000) -> tuple[str, ConsoleText]:
    """Follow the log from the start, ``limit`` bytes at a time, as a live view does."""
    text, offset = [], 0
    while True:
        piece = backend.read_console(run_id, offset, limit)
        text.append(piece.text)
        if piece.next_offset == offset:
            return "".join(text), piece
        offset = piece.next_offset


def test_pieces_are_read_back_in_order(backend: Backend) -> None:
    run = backend.create_run("p")
    backend.append_console(run.id, 0, b"epoch 1\n")
    backend.append_console(run.id, 8, b"epoch 2\n")
    text, last = read_all(backend, run.id)
    assert text == "epoch 1\nepoch 2\n"
    assert (last.next_offset, last.complete) == (16, False), "a running run's log is not complete"
    assert backend.read_console(run.id, 8).text == "epoch 2\n"
    assert backend.read_console(run.id, 3, limit=4).text == "ch 1"
    ahead = backend.read_console(run.id, 99)
    assert (ahead.text, ahead.next_offset) == ("", 99), "a running log never goes back"


def test_a_retried_piece_changes_nothing_and_a_gap_is_refused(backend: Backend) -> None:
    run = backend.create_run("p")
    backend.append_console(run.id, 0, b"one\n")
    backend.append_console(run.id, 0, b"one\n")  # a retry after a lost answer
    with pytest.raises(Conflict, match="continues at byte 4"):
        backend.append_console(run.id, 10, b"gap\n")
    with pytest.raises(Conflict, match="continues at byte 4"):
        backend.append_console(run.id, 2, b"overlapping\n")
    assert read_all(backend, run.id)[0] == "one\n"


def test_a_retry_that_grew_since_its_answer_was_lost_adds_only_the_new_bytes(
    backend: Backend,
) -> None:
    # The store kept "one\n" but the client never heard; by its retry the log has grown.
    run = backend.create_run("p")
    backend.append_console(run.id, 0, b"one\n")
    backend.append_console(run.id, 0, b"one\ntwo\n")
    backend.append_console(run.id, 4, b"two\nthree\n")
    assert read_all(backend, run.id)[0] == "one\ntwo\nthree\n"


def test_bad_console_input_is_refused(backend: Backend) -> None:
    run = backend.create_run("p")
    with pytest.raises(InvalidInput):
        backend.read_console(run.id, -1)
    with pytest.raises(InvalidInput):
        backend.read_console(run.id, 0, limit=0)
    with pytest.raises(NotFound):
        backend.read_console("0" * 32)
    with pytest.raises(NotFound):
        backend.append_console("0" * 32, 0, b"x")
    backend.end_run(run.id)
    with pytest.raises(Conflict, match="is finished"):
        backend.append_console(run.id, 0, b"late\n")


def test_a_character_split_between_pieces_waits_for_its_end(backend: Backend) -> None:
    run = backend.create_run("p")
    snowman = "☃".encode()  # three bytes
    backend.append_console(run.id, 0, b"a" + snowman[:2])
    first = backend.read_console(run.id)
    assert (first.text, first.next_offset) == ("a", 1), "half a character is not shown"
    backend.append_console(run.id, 3, snowman[2:] + b"\n")
    assert backend.read_console(run.id, first.next_offset).text == "☃\n"


def test_an_ended_run_reads_its_log_from_the_artifact(backend: Backend) -> None:
    run = backend.create_run("p")
    backend.append_console(run.id, 0, b"partial")
    backend.log_artifact(run.id, "console.log", b"the whole log\n")
    backend.end_run(run.id)
    text, last = read_all(backend, run.id, limit=5)
    assert text == "the whole log\n"
    assert last.complete
    assert last.next_offset == len("the whole log\n")


def test_a_run_that_died_keeps_its_shipped_pieces(backend: Backend) -> None:
    # Killed before the artifact was stored: the pieces shipped while it ran are the log.
    run = backend.create_run("p")
    backend.append_console(run.id, 0, b"before the crash\n")
    backend.end_run(run.id, "killed")
    text, last = read_all(backend, run.id)
    assert text == "before the crash\n"
    assert last.complete


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    text=st.text(max_size=200),
    sizes=st.lists(st.integers(1, 40), min_size=1, max_size=10),
    limit=st.integers(4, 64),
)
def test_any_text_in_any_pieces_reads_back_whole(
    local_backend: Backend, text: str, sizes: list[int], limit: int
) -> None:
    run = local_backend.create_run("p")
    data = text.encode("utf-8", "backslashreplace")
    offset = 0
    for size in sizes:
        if offset < len(data):
            local_backend.append_console(run.id, offset, data[offset : offset + size])
            offset += size
    if offset < len(data):
        local_backend.append_console(run.id, offset, data[offset:])
    assert read_all(local_backend, run.id, limit)[0] == data.decode()


def test_a_live_run_can_be_followed_while_it_prints(client: Client) -> None:
    # The SDK ships what the run prints every couple of seconds, on both backends.
    with client.start_run(project="live") as run:
        print("hello from the run")
        deadline = time.monotonic() + 20
        seen = ""
        while "hello from the run" not in seen and time.monotonic() < deadline:
            time.sleep(0.25)
            seen = client._backend.read_console(run.id).text
        assert "hello from the run" in seen
        assert not client._backend.read_console(run.id).complete
    ended = client._backend.read_console(run.id)
    assert ended.complete
    assert "hello from the run" in ended.text


def test_counting_runs_follows_the_filter(backend: Backend) -> None:
    for i in range(5):
        backend.create_run("count", params={"i": i})
    deleted = backend.create_run("count", params={"i": 99})
    backend.delete_run(deleted.id)
    assert backend.count_runs("count") == 5
    assert backend.count_runs("count", "params.i >= 3") == 2
    with pytest.raises(InvalidInput, match="column"):
        backend.count_runs("count", "params.i >>= 3")
    with pytest.raises(NotFound):
        backend.count_runs("no-such-project")


def test_the_server_refuses_bad_console_requests(server_url: str, local_backend: Backend) -> None:
    run = local_backend.create_run("p")
    with httpx.Client(base_url=server_url) as http:
        url = f"/api/v1/runs/{run.id}/console"
        assert http.post(url, params={"offset": -1}, content=b"x").status_code == 422
        assert http.post(url, params={"offset": "a"}, content=b"x").status_code == 422
        assert http.post(url, content=b"x").status_code == 422, "the offset is required"
        huge = b"x" * (4 * 1024 * 1024 + 1)
        answer = http.post(url, params={"offset": 0}, content=huge)
        assert answer.status_code == 400
        assert "limit" in answer.json()["error"]["message"]
        assert http.get(url, params={"limit": 1}).status_code == 422
        assert http.get(f"/api/v1/runs/{'0' * 32}/console").status_code == 404
    assert local_backend.read_console(run.id).next_offset == 0, "nothing was stored"
