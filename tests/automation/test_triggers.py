"""Triggers: definitions and their versions, cron / dataset / alert / manual events, the
parameter mapping, debouncing, a deleted template, and two controllers racing."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from loopline import Client
from loopline.automation import AutomationController, map_params
from loopline.backends import LocalBackend
from loopline.errors import InvalidInput, NotFound
from tests.automation.conftest import T0, Launches


def commit(client: Client, n: int) -> int:
    """Commit version ``n``'s worth of data to dataset ``images`` of project ``loop``."""
    from loopline._datasets import Dataset

    draft = Dataset.create("images", project="loop", parent="latest", client=client)
    draft.add_frame(pd.DataFrame({"a": [n]}), "data.parquet")
    return draft.commit(message=f"v{n}").number


def kinds(backend: LocalBackend) -> list[str]:
    return [e.kind for e in reversed(backend.automation.timeline.events("loop"))]


def test_editing_a_trigger_makes_a_version_and_keeps_the_history(
    backend: LocalBackend, template: Any
) -> None:
    svc = backend.automation.triggers
    first = svc.put(
        "loop",
        "nightly",
        kind="cron",
        template="retrain",
        config={"cron": "0 3 * * *"},
        actor="ada",
        now=T0,
    )
    assert (first.version, first.next_fire_at) == (1, T0.replace(day=24, hour=3))
    same = svc.put(
        "loop",
        "nightly",
        kind="cron",
        template="retrain",
        config={"cron": "0 3 * * *"},
        actor="ada",
        now=T0,
    )
    assert same.version == 1  # nothing changed: no new version
    second = svc.put(
        "loop",
        "nightly",
        kind="cron",
        template="retrain",
        config={"cron": "0 4 * * *"},
        params={"reason": "nightly"},
        actor="bob",
        now=T0,
    )
    assert second.version == 2
    assert second.next_fire_at == T0.replace(day=24, hour=4)
    history = svc.versions("loop", "nightly")
    assert [(v.version, v.definition["config"]["cron"], v.created_by) for v in history] == [
        (2, "0 4 * * *", "bob"),
        (1, "0 3 * * *", "ada"),
    ]
    svc.delete("loop", "nightly")
    with pytest.raises(NotFound):
        svc.get("loop", "nightly")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"kind": "webhook"}, "kind"),
        ({"config": {"cron": "every day"}}, "cron"),
        ({"params": {"dataset_version": "{event.versoin}"}}, "params.dataset_version"),
        ({"params": {"x": "{os.system}"}}, "params.x"),
        ({"debounce": "soon"}, "debounce"),
    ],
)
def test_bad_definitions_name_the_field(
    backend: LocalBackend, template: Any, changes: dict[str, Any], field: str
) -> None:
    definition: dict[str, Any] = {
        "kind": "cron",
        "template": "retrain",
        "config": {"cron": "@daily"},
    }
    if changes.get("params"):
        definition.update(kind="dataset", config={"dataset": "images"})
    definition.update(changes)
    if definition["kind"] == "dataset":
        backend.datasets.create("loop", "images")
    with pytest.raises(InvalidInput) as caught:
        backend.automation.triggers.put("loop", "t", actor="ada", **definition)
    assert caught.value.details["field"] == field


def test_parameter_mapping_keeps_types_and_never_evaluates() -> None:
    event = {"version": 3, "message": "drift {high}"}
    mapped = map_params(
        {"v": "{event.version}", "note": "v{event.version}: {event.message} {{literal}}", "n": 1},
        event,
        {"name": "t"},
    )
    assert mapped == {"v": 3, "note": "v3: drift {high} {literal}", "n": 1}
    with pytest.raises(InvalidInput, match="has no 'missing'"):
        map_params({"x": "{event.missing}"}, event, {})


def test_cron_fires_once_for_the_latest_due_time_and_counts_the_missed(
    backend: LocalBackend, template: Any, controller: AutomationController, launches: Launches
) -> None:
    backend.automation.triggers.put(
        "loop",
        "hourly",
        kind="cron",
        template="retrain",
        config={"cron": "0 * * * *"},
        params={"reason": "{event.fire_at}"},
        actor="ada",
        now=T0,
    )
    assert controller.tick(T0 + timedelta(minutes=30)).firings == ()
    report = controller.tick(T0 + timedelta(hours=3, minutes=5))
    (firing,) = report.firings
    assert firing.status == "launched"
    assert firing.event["missed"] == 2
    assert launches.made[0].params["reason"] == "2026-11-23T15:00:00+00:00"
    assert controller.tick(T0 + timedelta(hours=3, minutes=6)).firings == ()


def test_a_new_dataset_version_launches_with_its_number(
    embedded: Client,
    backend: LocalBackend,
    template: Any,
    controller: AutomationController,
    launches: Launches,
) -> None:
    commit(embedded, 1)
    backend.automation.triggers.put(
        "loop",
        "on-data",
        kind="dataset",
        template="retrain",
        config={"dataset": "images"},
        params={"dataset_version": "{event.version}"},
        actor="ada",
    )
    assert controller.tick().firings == ()  # v1 existed before the trigger: not news
    commit(embedded, 2)
    (firing,) = controller.tick().firings
    assert firing.params == {"dataset_version": 2}
    assert launches.made[-1].params["dataset_version"] == 2
    assert kinds(backend)[-2:] == ["trigger_fired", "run_launched"]


def test_an_alias_moving_fires_a_dataset_trigger_that_watches_it(
    embedded: Client,
    backend: LocalBackend,
    template: Any,
    controller: AutomationController,
    launches: Launches,
) -> None:
    commit(embedded, 1)
    commit(embedded, 2)
    backend.datasets.set_alias("loop", "images", "production", 1)
    backend.automation.triggers.put(
        "loop",
        "on-prod",
        kind="dataset",
        template="retrain",
        config={"dataset": "images", "alias": "production"},
        params={"dataset_version": "{event.version}"},
        actor="ada",
    )
    assert controller.tick().firings == ()
    backend.datasets.set_alias("loop", "images", "production", 2)
    (firing,) = controller.tick().firings
    assert firing.event["alias"] == "production"
    assert firing.params == {"dataset_version": 2}


def test_an_event_storm_launches_once_and_counts_the_coalesced(
    backend: LocalBackend, template: Any, launches: Launches, controller: AutomationController
) -> None:
    backend.automation.triggers.put(
        "loop", "retrain", kind="manual", template="retrain", debounce="10m", actor="ada"
    )
    fire = backend.automation.triggers.fire
    first = fire(
        "loop",
        "retrain",
        {"n": 1},
        actor="ada",
        launch=launches,
        run_status=backend.automation.run_status,
        now=T0,
    )
    more = [
        fire(
            "loop",
            "retrain",
            {"n": i},
            actor="ada",
            launch=launches,
            run_status=backend.automation.run_status,
            now=T0 + timedelta(minutes=i),
        )
        for i in range(2, 6)
    ]
    assert first.status == "launched"
    assert {m.status for m in more} == {"coalesced"}
    assert len(launches.made) == 1
    latest = backend.automation.triggers.firings("loop", "retrain")
    assert latest[-1].id == first.id
    assert latest[-1].coalesced == 4
    launches.finish()
    # The run ended, but the debounce window still holds...
    held = fire(
        "loop",
        "retrain",
        {},
        actor="ada",
        launch=launches,
        run_status=backend.automation.run_status,
        now=T0 + timedelta(minutes=9),
    )
    assert held.status == "coalesced"
    # ...and after it a new event launches again.
    again = fire(
        "loop",
        "retrain",
        {},
        actor="ada",
        launch=launches,
        run_status=backend.automation.run_status,
        now=T0 + timedelta(minutes=11),
    )
    assert again.status == "launched"
    assert len(launches.made) == 2
    assert kinds(backend).count("trigger_coalesced") == 5


def test_a_trigger_whose_template_was_deleted_is_marked_broken_and_the_others_go_on(
    embedded: Client,
    backend: LocalBackend,
    template: Any,
    tmp_path: Path,
    controller: AutomationController,
    launches: Launches,
) -> None:
    from sqlalchemy import delete

    from loopline.pipelines._tables import PipelineTemplateRow

    triggers = backend.automation.triggers
    triggers.put(
        "loop",
        "a",
        kind="cron",
        template="retrain",
        config={"cron": "* * * * *"},
        actor="ada",
        now=T0,
    )
    triggers.put(
        "loop",
        "b",
        kind="cron",
        template="retrain",
        template_version=1,
        config={"cron": "* * * * *"},
        actor="ada",
        now=T0,
    )
    from tests.automation.conftest import publish_flow

    publish_flow(embedded, tmp_path)  # version 2: trigger "a" follows latest
    with backend.db.transaction() as session:  # version 1 deleted under trigger "b"
        session.execute(delete(PipelineTemplateRow).where(PipelineTemplateRow.version == 1))
    report = controller.tick(T0 + timedelta(minutes=1))
    statuses = {f.trigger: f.status for f in report.firings}
    assert statuses == {"a": "launched", "b": "failed"}
    broken = triggers.get("loop", "b")
    assert broken.state == "broken"
    assert "could not be found" in broken.problem
    failed = next(f for f in report.firings if f.trigger == "b")
    assert "retrain" in failed.error
    assert "trigger_broken" in kinds(backend)
    # A broken trigger stops firing until it is resumed (or edited).
    later = controller.tick(T0 + timedelta(minutes=2))
    assert [f.trigger for f in later.firings] == ["a"]
    # Resuming clears the state: it tries again (and fails again, recorded, while the
    # template is still gone).
    assert triggers.set_enabled("loop", "b", True, now=T0 + timedelta(minutes=2)).state == "ok"
    again = controller.tick(T0 + timedelta(minutes=3))
    assert sorted(f.status for f in again.firings) == ["coalesced", "failed"]  # a still runs


def test_two_controllers_fire_each_event_once(
    embedded: Client, backend: LocalBackend, template: Any, launches: Launches
) -> None:
    commit(embedded, 1)
    backend.automation.triggers.put(
        "loop",
        "on-data",
        kind="dataset",
        template="retrain",
        config={"dataset": "images"},
        params={"dataset_version": "{event.version}"},
        debounce=0,
        actor="ada",
    )
    backend.automation.triggers.put(
        "loop",
        "also-on-data",
        kind="dataset",
        template="retrain",
        config={"dataset": "images"},
        params={"dataset_version": "{event.version}"},
        debounce=0,
        actor="ada",
    )
    commit(embedded, 2)
    other = LocalBackend.open(backend.settings)
    try:
        one = AutomationController(backend.automation, backend.settings, launch=launches)
        two = AutomationController(other.automation, other.settings, launch=launches)
        import threading

        reports: list[Any] = []
        threads = [
            threading.Thread(target=lambda c=c: reports.append(c.tick())) for c in (one, two)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        other.close()
    fired = sorted(f.trigger for r in reports for f in r.firings)
    assert fired == ["also-on-data", "on-data"]  # two triggers, one launch each
    assert len(launches.made) == 2
