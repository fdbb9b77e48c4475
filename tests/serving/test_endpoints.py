"""Endpoints and revisions through the SDK, on both backends and both databases."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from loopline import Client
from loopline._endpoints import Endpoints
from loopline.errors import Conflict, InvalidInput, NotFound
from loopline.serving import LATENCY_BUCKETS_MS, Route, StatsWindow
from tests.serving.conftest import register_echo


def test_deploy_pins_versions_and_records_every_revision(client: Client) -> None:
    register_echo(client, "echo", 1.0)
    register_echo(client, "echo", 2.0)
    client._backend.set_model_alias("shop", "echo", "champion", 1, actor="ada")
    eps = Endpoints(client)

    first = eps.deploy("scorer", "models:/echo@champion", message="first")
    assert first.revision.number == 1
    assert first.revision.status == "pending"
    assert first.spec.routes == (Route("models:/echo@champion", 100, False, 1),)

    second = eps.deploy("scorer", [("models:/echo@champion", 90), ("models:/echo/2", 10)])
    assert second.revision.number == 2
    assert [(r.version, r.weight) for r in second.spec.routes] == [(1, 90), (2, 10)]

    again = eps.deploy("scorer", [("models:/echo@champion", 90), ("models:/echo/2", 10)])
    assert again.revision.number == 2, "the same spec again makes no new revision"

    history = eps.revisions("scorer")
    assert [r.number for r in history] == [2, 1]
    assert history[1].message == "first"
    assert history[0].actor == "ada"
    assert [e.name for e in eps.list()] == ["scorer"]


def test_servers_report_live_and_failed_and_target_skips_a_failed_revision(
    client: Client,
) -> None:
    register_echo(client, "echo", 1.0)
    register_echo(client, "echo", 2.0)
    eps = Endpoints(client)
    eps.deploy("scorer", "models:/echo/1")
    backend = client._backend
    backend.mark_endpoint_revision("shop", "scorer", 1, "live")
    eps.deploy("scorer", "models:/echo/2")
    backend.mark_endpoint_revision("shop", "scorer", 2, "failed", "OSError: no weights")

    endpoint = eps.get("scorer")
    assert endpoint.revision.number == 2
    assert endpoint.revision.status == "failed"
    assert endpoint.target.number == 1, "servers keep serving the last revision that loaded"
    assert endpoint.revision.error == "OSError: no weights"

    eps.deploy("scorer", [("models:/echo/1", 50), ("models:/echo/2", 50)])
    backend.mark_endpoint_revision("shop", "scorer", 3, "live")
    backend.mark_endpoint_revision("shop", "scorer", 3, "failed", "a late worker")  # ignored
    statuses = {r.number: r.status for r in eps.revisions("scorer")}
    assert statuses == {3: "live", 2: "failed", 1: "superseded"}


def test_rollback_copies_the_last_revision_that_served(client: Client) -> None:
    register_echo(client, "echo", 1.0)
    register_echo(client, "echo", 2.0)
    eps = Endpoints(client)
    backend = client._backend
    eps.deploy("scorer", "models:/echo/1")
    backend.mark_endpoint_revision("shop", "scorer", 1, "live")
    eps.deploy("scorer", "models:/echo/2")
    backend.mark_endpoint_revision("shop", "scorer", 2, "live")

    back = eps.rollback("scorer")
    assert back.revision.number == 3
    assert back.revision.rollback_of == 1
    assert back.spec.routes[0].version == 1
    assert "roll back to revision 1" in back.revision.message

    again = eps.rollback("scorer", to=2)
    assert again.spec.routes[0].version == 2
    assert again.revision.rollback_of == 2
    with pytest.raises(NotFound, match="no revision 9"):
        eps.rollback("scorer", to=9)


def test_rollback_with_nothing_earlier_says_why(client: Client) -> None:
    register_echo(client, "echo", 1.0)
    eps = Endpoints(client)
    eps.deploy("scorer", "models:/echo/1")
    with pytest.raises(Conflict, match="no earlier revision"):
        eps.rollback("scorer")


def test_bad_definitions_are_refused_and_nothing_changes(client: Client) -> None:
    register_echo(client, "echo", 1.0)
    eps = Endpoints(client)
    eps.deploy("scorer", "models:/echo/1")
    with pytest.raises(InvalidInput, match="add up to 90"):
        eps.deploy("scorer", [("models:/echo/1", 90)])
    with pytest.raises(NotFound, match="no version 7"):
        eps.deploy("scorer", "models:/echo/7")
    with pytest.raises(NotFound, match="Did you mean 'echo'"):
        eps.deploy("scorer", "models:/ecko/1")
    with pytest.raises(InvalidInput, match="registered models"):
        eps.deploy("scorer", "runs:/0123456789abcdef0123456789abcdef/model")
    with pytest.raises(InvalidInput, match="sticky"):
        eps.deploy("scorer", "models:/echo/1", sticky="cookie:x")
    with pytest.raises(NotFound, match="Did you mean 'scorer'"):
        eps.get("scorer2")
    assert [r.number for r in eps.revisions("scorer")] == [1]


def test_statistics_add_up_across_servers_and_reports(client: Client) -> None:
    register_echo(client, "echo", 1.0)
    Endpoints(client).deploy("scorer", "models:/echo/1")
    start = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    buckets = tuple([1] + [0] * (len(LATENCY_BUCKETS_MS) - 1))
    window = StatsWindow(start, "echo/1", 1, 0, 0.4, buckets, batches=1, batch_rows=1)
    backend = client._backend
    backend.record_endpoint_stats("shop", "scorer", "host:1", [window, window])
    backend.record_endpoint_stats("shop", "scorer", "host:2", [window])
    stats = backend.endpoint_stats("shop", "scorer")
    assert len(stats) == 1
    merged = stats[0]
    assert (merged.requests, merged.batches, merged.buckets[0]) == (3, 3, 3)
    assert merged.quantile(0.5) is not None
    assert (merged.quantile(0.5) or 0.0) <= 0.5
    with pytest.raises(InvalidInput, match="latency buckets"):
        backend.record_endpoint_stats(
            "shop", "scorer", "h", [StatsWindow(start, "echo/1", 1, 0, 1.0, (1,))]
        )


def test_an_endpoint_file_applies_idempotently(client: Client, tmp_path: object) -> None:
    from pathlib import Path

    register_echo(client, "echo", 1.0)
    register_echo(client, "echo", 2.0)
    file = Path(str(tmp_path)) / "scorer.yaml"
    file.write_text(
        "name: scorer\n"
        "description: scores baskets\n"
        "routes:\n"
        "  - {model: 'models:/echo/1', weight: 80}\n"
        "  - {model: 'models:/echo/2', weight: 20}\n"
        "  - {model: 'models:/echo/2', shadow: true}\n"
        "sticky: header:x-user\n"
        "batching: {max_batch_size: 8}\n"
    )
    eps = Endpoints(client)
    made = eps.apply_file(file)
    assert made.description == "scores baskets"
    assert [r.shadow for r in made.spec.routes] == [False, False, True]
    assert made.spec.batching.max_batch_size == 8
    assert made.spec.sticky == "header:x-user"
    assert eps.apply_file(file).revision.number == 1
    file.write_text("name: scorer\nroutes: [{model: 'models:/echo/1', wieght: 100}]\n")
    with pytest.raises(InvalidInput, match="wieght"):
        eps.apply_file(file)
