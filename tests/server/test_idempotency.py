"""Idempotent writes under the failures they exist for: lost answers, races, dead servers."""

from __future__ import annotations

import socket
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
from sqlalchemy import text, update

from loopline.backends import LocalBackend
from loopline.db import utcnow
from loopline.server._idempotency import (
    IN_PROGRESS,
    MISMATCH,
    PENDING_LEASE,
    IdempotencyRecord,
    IdempotencyStore,
)


def test_a_claim_is_exclusive_until_answered(local_backend: LocalBackend) -> None:
    store = IdempotencyStore(local_backend.db)
    assert store.claim("k", "fp") is None
    assert store.claim("k", "fp") == IN_PROGRESS
    assert store.claim("k", "other") == MISMATCH
    store.complete("k", 201, "application/json", b"{}")
    replay = store.claim("k", "fp")
    assert replay is not None
    assert not isinstance(replay, str)
    assert (replay.status_code, replay.body) == (201, b"{}")


def test_a_claim_whose_request_died_can_be_taken_over_after_its_lease(
    local_backend: LocalBackend,
) -> None:
    store = IdempotencyStore(local_backend.db)
    assert store.claim("k", "fp") is None  # ... and the server dies before answering
    with local_backend.db.transaction() as s:
        stale = utcnow() - PENDING_LEASE - timedelta(seconds=1)
        s.execute(update(IdempotencyRecord).values(created_at=stale))
    assert store.claim("k", "fp") is None
    assert store.pending_keys() == ["k"]


def test_a_client_that_disconnects_mid_body_claims_nothing(
    server_url: str, local_backend: LocalBackend
) -> None:
    parts = urlsplit(server_url)
    body = b'{"name": "half-sent"}'
    with socket.create_connection((parts.hostname, parts.port)) as conn:
        conn.sendall(
            b"POST /api/v1/projects HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Idempotency-Key: cut\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body[:8]
        )
    # The retry with the whole body runs normally, and nothing was created by the cut one.
    whole = httpx.post(
        f"{server_url}/api/v1/projects",
        json={"name": "half-sent"},
        headers={"Idempotency-Key": "cut"},
    )
    # 201, not 409 (a claim in progress) or 422 (a key used for another body): the cut
    # request claimed nothing.
    assert whole.status_code == 201, whole.text
    assert [p.name for p in local_backend.list_projects()] == ["half-sent"]


def test_errors_in_the_idempotency_store_keep_their_type(
    server_url: str, local_backend: LocalBackend
) -> None:
    with local_backend.db.transaction() as s:
        s.execute(text("DROP TABLE idempotency_records"))
    answer = httpx.post(
        f"{server_url}/api/v1/projects", json={"name": "x"}, headers={"Idempotency-Key": "k"}
    )
    assert answer.status_code == 500
    assert answer.json()["error"]["type"] == "StorageError"
    assert "idempotency_records" in answer.json()["error"]["message"]


def test_a_server_error_releases_the_key_so_a_retry_runs_again(
    server_url: str, local_backend: LocalBackend
) -> None:
    with local_backend.db.transaction() as s:
        s.execute(text("ALTER TABLE projects RENAME TO projects_away"))
    url = f"{server_url}/api/v1/projects"
    failed = httpx.post(url, json={"name": "later"}, headers={"Idempotency-Key": "r"})
    assert failed.status_code == 500
    assert failed.json()["error"]["type"] == "StorageError"
    with local_backend.db.transaction() as s:
        s.execute(text("ALTER TABLE projects_away RENAME TO projects"))
    retried = httpx.post(url, json={"name": "later"}, headers={"Idempotency-Key": "r"})
    assert retried.status_code == 201
    assert "idempotent-replayed" not in retried.headers


def test_a_replayed_error_is_marked_as_a_replay(server_url: str) -> None:
    url = f"{server_url}/api/v1/projects"
    httpx.post(url, json={"name": "dup"})
    first = httpx.post(url, json={"name": "dup"}, headers={"Idempotency-Key": "c"})
    second = httpx.post(url, json={"name": "dup"}, headers={"Idempotency-Key": "c"})
    assert first.status_code == second.status_code == 409
    assert "idempotent-replayed" not in first.headers
    assert second.headers["idempotent-replayed"] == "true"
    assert second.json() == first.json()


def test_large_bodies_pass_through_uncovered(server_url: str) -> None:
    big = {"name": "big", "description": "x" * (2 << 20)}
    answer = httpx.post(f"{server_url}/api/v1/projects", json=big, headers={"Idempotency-Key": "b"})
    assert answer.status_code == 400  # the domain's own limit answers, not a buffering failure
