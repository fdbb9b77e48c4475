"""ApiClient: retries, idempotency keys, and errors that come back as the server's own types."""

from __future__ import annotations

import httpx
import pytest
from tests.fixtures.server import free_port

from loopline.client import ApiClient
from loopline.errors import Conflict, InvalidInput, LooplineError, NotFound, ServerUnreachable


def flaky(failures: int, seen: list[httpx.Request]) -> httpx.MockTransport:
    """A transport that refuses the first ``failures`` connections, then answers 201."""

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) <= failures:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(201, json={"ok": True})

    return httpx.MockTransport(handle)


def test_writes_are_retried_with_one_idempotency_key() -> None:
    seen: list[httpx.Request] = []
    api = ApiClient("http://127.0.0.1:1", retries=3, backoff=0, transport=flaky(2, seen))
    assert api.post("/api/v1/projects", json={"name": "x"}) == {"ok": True}
    keys = {r.headers["Idempotency-Key"] for r in seen}
    assert len(seen) == 3
    assert len(keys) == 1


def test_each_new_write_gets_a_new_key_and_reads_get_none() -> None:
    seen: list[httpx.Request] = []
    api = ApiClient("http://127.0.0.1:1", backoff=0, transport=flaky(0, seen))
    api.post("/a")
    api.post("/a")
    api.get("/a")
    assert seen[0].headers["Idempotency-Key"] != seen[1].headers["Idempotency-Key"]
    assert "Idempotency-Key" not in seen[2].headers


def test_an_unreachable_server_is_one_line_that_says_what_to_do() -> None:
    api = ApiClient(f"http://127.0.0.1:{free_port()}", retries=2, backoff=0, timeout=2)
    with pytest.raises(ServerUnreachable) as info:
        api.get("/healthz")
    message = str(info.value)
    assert "Cannot reach the Loopline server at http://127.0.0.1:" in message
    assert "tried 2 times" in message
    assert "loopline server" in message
    assert "\n" not in message


def test_503_is_retried_then_reported() -> None:
    calls: list[int] = []

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(503, json={"error": {"type": "StorageError", "message": "busy"}})

    api = ApiClient("http://x", retries=3, backoff=0, transport=httpx.MockTransport(handle))
    with pytest.raises(LooplineError, match="busy"):
        api.get("/readyz")
    assert len(calls) == 3


@pytest.mark.parametrize(
    ("status", "payload", "expected"),
    [
        (404, {"error": {"type": "NotFound", "message": "gone"}}, NotFound),
        (409, {"error": {"type": "Conflict", "message": "taken"}}, Conflict),
        (422, {"error": {"type": "InvalidInput", "message": "bad"}}, InvalidInput),
        (404, {"unexpected": "shape"}, NotFound),
        (409, {"error": {"type": "NoSuchErrorType", "message": "m"}}, Conflict),
        (418, {"error": {"type": "__class__", "message": "m"}}, LooplineError),
    ],
)
def test_error_answers_become_exception_types(
    status: int, payload: object, expected: type[LooplineError]
) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(status, json=payload))
    api = ApiClient("http://x", transport=transport)
    with pytest.raises(expected):
        api.get("/thing")


def test_a_non_json_error_page_is_reported_with_its_status() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(404, text="<html>nginx</html>"))
    with pytest.raises(NotFound, match=r"HTTP 404 from .*nginx"):
        ApiClient("http://x", transport=transport).get("/thing")


def test_path_segments_are_quoted() -> None:
    assert ApiClient.quote("a/../b") == "a%2F..%2Fb"


def test_an_answer_of_the_wrong_shape_is_a_clear_error() -> None:
    from loopline.projects import Project

    api = ApiClient("http://x")
    with pytest.raises(LooplineError, match="same Loopline version"):
        api.decode(Project, {"name": 3})


def test_a_reset_connection_is_retried_for_writes_too() -> None:
    calls: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            raise httpx.ReadError("connection reset by peer", request=request)
        return httpx.Response(201, json={"ok": True})

    api = ApiClient("http://x", backoff=0, transport=httpx.MockTransport(handle))
    assert api.post("/a", json={}) == {"ok": True}
    assert calls[0].headers["Idempotency-Key"] == calls[1].headers["Idempotency-Key"]


def test_a_write_still_running_under_its_key_is_retried() -> None:
    answers = [
        httpx.Response(
            409,
            json={
                "error": {
                    "type": "Conflict",
                    "message": "running",
                    "details": {"reason": "in-progress"},
                }
            },
        ),
        httpx.Response(201, json={"ok": True}),
    ]
    api = ApiClient("http://x", backoff=0, transport=httpx.MockTransport(lambda r: answers.pop(0)))
    assert api.post("/a") == {"ok": True}


def test_a_plain_conflict_and_a_schema_mismatch_are_not_retried() -> None:
    calls: list[int] = []

    def answer(status: int, kind: str) -> httpx.MockTransport:
        def handle(request: httpx.Request) -> httpx.Response:
            calls.append(status)
            return httpx.Response(status, json={"error": {"type": kind, "message": "m"}})

        return httpx.MockTransport(handle)

    with pytest.raises(Conflict):
        ApiClient("http://x", backoff=0, transport=answer(409, "Conflict")).post("/a")
    from loopline.errors import SchemaOutOfDate

    with pytest.raises(SchemaOutOfDate):
        ApiClient("http://x", backoff=0, transport=answer(503, "SchemaOutOfDate")).get("/a")
    assert calls == [409, 503]
