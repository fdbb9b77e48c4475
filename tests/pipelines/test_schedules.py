"""Schedules: cron and time zone parsing, next firings (against croniter itself), claims that
fire once with two schedulers on one database, catch-up after downtime, the firing -> run
record, bad input (422 naming the field) and `loopline pipelines schedule`; both databases and
both backends. Ticks are driven with an explicit `now`: nothing waits for real minutes."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import available_timezones

import httpx
import pytest
from croniter import croniter
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

import loopline as ll
from loopline.backends import LocalBackend
from loopline.cli._app import app
from loopline.config import Settings
from loopline.errors import InvalidInput, NotFound
from loopline.pipelines import PipelineRunRecord, Scheduler, ScheduleRecord, next_firings
from loopline.pipelines._schedules import SCHEDULE_TAG, check_cron, check_timezone
from tests.pipelines import test_templates

published = test_templates.published  # a published template, as a fixture here too
DAG = {"steps": [{"name": "a", "step": "m:a", "inputs": {}, "outputs": []}], "params": []}

# -- parsing and next firings ---------------------------------------------------------------------


def _field(low: int, high: int) -> st.SearchStrategy[str]:
    number = st.integers(low, high).map(str)
    span = st.tuples(st.integers(low, high), st.integers(low, high)).map(
        lambda t: f"{min(t)}-{max(t)}"
    )
    step = st.integers(1, max(1, high - low)).map(lambda s: f"*/{s}")
    return st.one_of(st.just("*"), number, span, step)


CRONS = st.one_of(
    st.tuples(_field(0, 59), _field(0, 23), _field(1, 28), _field(1, 12), _field(0, 6)).map(
        " ".join
    ),
    st.sampled_from(["@hourly", "@daily", "@weekly", "@monthly", "@yearly"]),
)
ZONES = st.sampled_from(sorted(z for z in available_timezones() if "/" in z or z == "UTC"))
MOMENTS = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)
)


@given(cron=CRONS, zone=ZONES, after=MOMENTS)
def test_next_firings_are_croniters_in_the_time_zone(cron: str, zone: str, after: datetime) -> None:
    times = next_firings(cron, zone, after, 3)
    expected = croniter(cron, after.astimezone(check_timezone(zone)))
    assert times == [expected.get_next(datetime).astimezone(UTC) for _ in range(3)]
    assert after < times[0] < times[1] < times[2]
    assert all(t.tzinfo is UTC for t in times)
    assert all(croniter.match(cron, t.astimezone(check_timezone(zone))) for t in times)


@given(text=st.text(max_size=40))
def test_any_text_is_a_cron_expression_or_refused_naming_the_field(text: str) -> None:
    fields = text.split()
    if (len(fields) == 5 or (len(fields) == 1 and text.strip().startswith("@"))) and (
        croniter.is_valid(text.strip())
    ):
        assert check_cron(text) == text.strip()
    else:
        with pytest.raises(InvalidInput, match="cron") as info:
            check_cron(text)
        assert info.value.details == {"field": "cron"}


@given(name=st.one_of(ZONES, st.text(max_size=30)))
def test_any_text_is_a_time_zone_or_refused_naming_the_field(name: str) -> None:
    if name in available_timezones():
        assert str(check_timezone(name)) == name
    elif not name or ("/" not in name and name[:1].islower()):
        with pytest.raises(InvalidInput) as info:
            check_timezone(name)
        assert info.value.details == {"field": "timezone"}


@pytest.mark.parametrize(
    "cron", ["", "* * * *", "* * * * * *", "61 * * * *", "* * 32 * *", "@often", "0 3 * * mon-"]
)
def test_bad_cron_expressions_are_refused(cron: str) -> None:
    with pytest.raises(InvalidInput, match="not a cron expression") as info:
        check_cron(cron)
    assert info.value.details == {"field": "cron"}


def test_a_misspelt_time_zone_gets_a_suggestion() -> None:
    with pytest.raises(InvalidInput, match="Did you mean 'Europe/Paris'"):
        check_timezone("Europe/Pariss")
    for bad in ("", "../../etc/passwd", "Nowhere/City", "x" * 100):
        with pytest.raises(InvalidInput):
            check_timezone(bad)


# -- the service and both backends ----------------------------------------------------------------


def test_schedule_add_list_fire_pause_resume_delete(
    client: ll.Client, published: tuple[str, Any], local_backend: LocalBackend
) -> None:
    before = datetime.now(UTC)
    record = ll.pipelines.schedule(
        "digits-training",
        "0 3 * * *",
        params={"n": "2"},
        timezone="Europe/Paris",
        client=client,
        project="p",
    )
    store = client._backend
    assert (record.template, record.version, record.enabled) == ("digits-training", "latest", True)
    assert record.params == {"n": "2"}
    assert record.next_fire_at == next_firings("0 3 * * *", "Europe/Paris", before)[0]
    assert record.next_fire_at.astimezone(check_timezone("Europe/Paris")).hour == 3
    assert [s.id for s in store.list_pipeline_schedules("p")] == [record.id]
    assert store.list_pipeline_schedules("p", "other") == []
    pinned = ll.pipelines.schedule(
        "digits-training", "@daily", version=1, enabled=False, client=client, project="p"
    )
    assert (pinned.version, pinned.enabled, pinned.next_fire_at) == ("1", False, None)

    # The server's scheduler (over local_backend) fires it; its firing is read back here.
    launched: list[str] = []
    scheduler = Scheduler(
        local_backend.pipelines,
        local_backend.settings,
        launch=_fake_launcher(local_backend, launched),
    )
    (firing,) = scheduler.tick(record.next_fire_at + timedelta(seconds=5))
    assert launched == [record.id]
    assert store.pipeline_schedule_firings(record.id) == [firing]
    assert store.pipeline_schedule_firings(pinned.id) == []

    paused = store.set_pipeline_schedule_enabled(record.id, False)
    assert (paused.enabled, paused.next_fire_at) == (False, None)
    resumed = store.set_pipeline_schedule_enabled(record.id, True)
    assert resumed.enabled
    assert resumed.next_fire_at is not None

    store.delete_pipeline_schedule(record.id)
    with pytest.raises(NotFound, match="schedule list"):
        store.get_pipeline_schedule(record.id)
    with pytest.raises(NotFound):
        store.pipeline_schedule_firings(record.id)


BAD_SCHEDULES: list[tuple[dict[str, Any], str]] = [
    ({"cron": "every day"}, "cron"),
    ({"cron": "0 3 * * * *"}, "cron"),
    ({"timezone": "Mars/Olympus"}, "timezone"),
    ({"params": {"n": "many"}}, "n"),
    ({"version": "newest"}, "version"),
    ({"notify": [ll.pipelines.Notify("webhok", {"url": "http://127.0.0.1:1/"})]}, "notifier"),
    ({"notify": [ll.pipelines.webhook("ftp://example")]}, "config"),
    ({"notify": [ll.pipelines.webhook("http://127.0.0.1:1/", on=["done"])]}, "on"),
]


def test_bad_schedules_are_refused_naming_the_field(
    client: ll.Client, published: tuple[str, Any]
) -> None:
    for kwargs, field in BAD_SCHEDULES:
        args: dict[str, Any] = {"cron": "0 3 * * *", **kwargs}
        with pytest.raises(InvalidInput) as info:
            ll.pipelines.schedule("digits-training", client=client, project="p", **args)
        assert info.value.details["field"] == field, kwargs
    with pytest.raises(NotFound, match="Did you mean 'digits-training'"):
        ll.pipelines.schedule("digits-trainin", "@daily", client=client, project="p")
    with pytest.raises(NotFound):
        client._backend.set_pipeline_schedule_enabled(uuid.uuid4().hex, False)
    assert client._backend.list_pipeline_schedules("p") == []


@pytest.mark.parametrize("client", ["local"], indirect=True)
def test_the_schedule_route_answers_422_naming_the_field(
    server_url: str, published: tuple[str, Any]
) -> None:
    for body, field in [({"cron": "* * *"}, "cron"), ({"timezone": "Europe/Pariss"}, "timezone")]:
        answer = httpx.post(
            f"{server_url}/api/v1/projects/p/pipeline-schedules",
            json={"template": "digits-training", "cron": "@daily", **body},
        )
        assert answer.status_code == 422
        assert answer.json()["error"]["details"] == {"field": field}
    missing = httpx.post(f"{server_url}/api/v1/projects/p/pipeline-schedules", json={"cron": "x"})
    assert missing.status_code == 422


# -- scheduling -----------------------------------------------------------------------------------


def _fake_launcher(backend: LocalBackend, launched: list[str]) -> Any:
    def launch(schedule: ScheduleRecord) -> PipelineRunRecord:
        launched.append(schedule.id)
        return backend.pipelines.create_run(schedule.project, schedule.template, {}, DAG)

    return launch


def _bare_schedule(backend: LocalBackend, cron: str, now: datetime) -> ScheduleRecord:
    """A schedule over a stored template (the fake launcher never runs its code)."""
    backend.pipelines.publish_template("s", "t", dag=DAG, code="0" * 64, entry="m:p")
    return backend.pipelines.schedules.create("s", "t", cron, now=now)


NOW = datetime(2030, 6, 1, 12, 0, 30, tzinfo=UTC)  # far from the real clock: no server fires it


def test_a_due_schedule_fires_once_and_catches_up_with_one_firing(
    local_backend: LocalBackend,
) -> None:
    launched: list[str] = []
    schedule = _bare_schedule(local_backend, "*/5 * * * *", NOW)
    first = schedule.next_fire_at
    assert first == datetime(2030, 6, 1, 12, 5, tzinfo=UTC)
    scheduler = Scheduler(
        local_backend.pipelines,
        local_backend.settings,
        launch=_fake_launcher(local_backend, launched),
    )
    assert scheduler.tick(NOW) == []  # not due yet

    # Down for an hour and two minutes: one firing, for the latest time it was due.
    later = first + timedelta(hours=1, minutes=2)
    (firing,) = scheduler.tick(later)
    assert firing.fire_at == datetime(2030, 6, 1, 13, 5, tzinfo=UTC)
    assert firing.missed == 12  # 12:05 ... 13:00 folded into the 13:05 firing
    assert firing.run_id is not None
    assert firing.error is None
    assert scheduler.tick(later) == []  # the same moment again: nothing twice
    again = local_backend.get_pipeline_schedule(schedule.id)
    assert again.next_fire_at == datetime(2030, 6, 1, 13, 10, tzinfo=UTC)
    assert again.last_fire_at == firing.fire_at

    (on_time,) = scheduler.tick(datetime(2030, 6, 1, 13, 10, 1, tzinfo=UTC))
    assert (on_time.missed, on_time.fire_at.minute) == (0, 10)
    assert launched == [schedule.id, schedule.id]
    history = local_backend.pipeline_schedule_firings(schedule.id)
    assert [f.run_id for f in history] == [on_time.run_id, firing.run_id]


def test_a_paused_schedule_does_not_fire_and_resumes_from_now(local_backend: LocalBackend) -> None:
    launched: list[str] = []
    schedule = _bare_schedule(local_backend, "0 * * * *", NOW)
    service = local_backend.pipelines.schedules
    service.set_enabled(schedule.id, False)
    scheduler = Scheduler(
        local_backend.pipelines,
        local_backend.settings,
        launch=_fake_launcher(local_backend, launched),
    )
    assert scheduler.tick(NOW + timedelta(days=2)) == []
    resumed = service.set_enabled(schedule.id, True, now=NOW + timedelta(days=2))
    assert resumed.next_fire_at == datetime(2030, 6, 3, 13, 0, tzinfo=UTC)
    assert launched == []


def test_a_launch_that_fails_is_recorded_and_the_schedule_goes_on(
    local_backend: LocalBackend,
) -> None:
    schedule = _bare_schedule(local_backend, "*/5 * * * *", NOW)

    def broken(_schedule: ScheduleRecord) -> PipelineRunRecord:
        raise InvalidInput("template changed")

    scheduler = Scheduler(local_backend.pipelines, local_backend.settings, launch=broken)
    (firing,) = scheduler.tick(NOW + timedelta(minutes=5))
    assert (firing.run_id, firing.error) == (None, "InvalidInput: template changed")
    assert local_backend.get_pipeline_schedule(schedule.id).next_fire_at == NOW.replace(
        minute=10, second=0
    )


def test_two_schedulers_on_one_database_fire_each_firing_once(settings: Settings) -> None:
    """Two scheduler processes on one database, racing on the same due firings."""
    first, second = LocalBackend.open(settings), LocalBackend.open(settings)
    try:
        launched: list[str] = []
        schedules = [_bare_schedule(first, "* * * * *", NOW) for _ in range(6)]
        schedulers = [
            Scheduler(b.pipelines, b.settings, launch=_fake_launcher(b, launched))
            for b in (first, second)
        ]
        for minute in range(1, 4):
            start = threading.Barrier(2)
            now = NOW + timedelta(minutes=minute)

            def tick(
                scheduler: Scheduler, now: datetime = now, start: threading.Barrier = start
            ) -> None:
                start.wait()
                scheduler.tick(now)

            threads = [threading.Thread(target=tick, args=(s,)) for s in schedulers]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        assert sorted(launched) == sorted(s.id for s in schedules for _ in range(3))
        for s in schedules:
            firings = first.pipeline_schedule_firings(s.id)
            assert [f.fire_at.minute for f in firings] == [3, 2, 1]
            assert all(f.run_id for f in firings)
        assert len(first.list_pipeline_runs("s", "t", limit=1000)) == 18
    finally:
        first.close()
        second.close()


@pytest.mark.parametrize("client", ["local"], indirect=True)
def test_a_firing_launches_the_template_and_records_its_run(
    client: ll.Client, published: tuple[str, Any], local_backend: LocalBackend
) -> None:
    record = ll.pipelines.schedule(
        "digits-training", "*/10 * * * *", params={"n": 2}, client=client, project="p"
    )
    assert record.next_fire_at is not None
    scheduler = Scheduler(local_backend.pipelines, local_backend.settings)
    (firing,) = scheduler.tick(record.next_fire_at + timedelta(seconds=1))
    assert firing.run_id is not None, firing.error
    store = client._backend
    deadline = time.monotonic() + 60
    run = store.get_pipeline_run(firing.run_id)
    while run.status == "running" and time.monotonic() < deadline:
        time.sleep(0.1)
        run = store.get_pipeline_run(firing.run_id)
    assert (run.status, run.params) == ("succeeded", {"n": 2, "lr": 0.5})
    assert client.get_run(run.id).tags[SCHEDULE_TAG] == record.id
    assert [f.run_id for f in store.pipeline_schedule_firings(record.id)] == [run.id]


# -- the command line -----------------------------------------------------------------------------


@pytest.mark.parametrize("client", ["local"], indirect=True)
def test_cli_schedule_add_list_next_pause_resume_delete(
    published: tuple[str, Any], settings: Settings, client: ll.Client, tmp_path: Path
) -> None:
    runner = CliRunner()
    env = {
        "LOOPLINE_URI": settings.db_url or "",
        "LOOPLINE_HOME": str(settings.home),
        "LOOPLINE_ARTIFACTS": settings.artifacts,
        "LOOPLINE_PROJECT": "p",
    }

    def cli(*args: str) -> Any:
        return runner.invoke(app, ["pipelines", "schedule", *args], env=env)

    added = cli("add", "digits-training", "0 3 * * 1-5", "-p", "lr=0.2", "--timezone", "Asia/Tokyo")
    assert added.exit_code == 0, added.output
    (schedule,) = client._backend.list_pipeline_schedules("p")
    assert schedule.params == {"lr": "0.2"}
    listed = cli("list", "--json")
    assert '"timezone": "Asia/Tokyo"' in listed.stdout
    assert cli("list").exit_code == 0
    shown = cli("next", schedule.id, "-n", "3", "--json")
    assert shown.exit_code == 0, shown.output
    assert len(shown.stdout.strip().strip("[]").split(",")) == 3
    assert cli("next", "--cron", "@hourly").exit_code == 0
    assert cli("pause", schedule.id).exit_code == 0
    assert not client._backend.get_pipeline_schedule(schedule.id).enabled
    assert cli("resume", schedule.id).exit_code == 0
    assert cli("firings", schedule.id).exit_code == 0
    bad = cli("add", "digits-training", "0 3 * *")
    assert bad.exit_code == 1
    assert "cron" in bad.output
    bad_zone = cli("add", "digits-training", "@daily", "--timezone", "Asia/Tokio")
    assert bad_zone.exit_code == 1
    assert "Asia/Tokyo" in bad_zone.output
    assert cli("delete", schedule.id).exit_code == 0
    assert cli("pause", uuid.uuid4().hex).exit_code == 1


def test_a_scheduler_starts_again_after_it_was_stopped(local_backend: LocalBackend) -> None:
    # An app's lifespan can run twice (a test client reused); its scheduler must tick again.
    scheduler = Scheduler(local_backend.pipelines, local_backend.settings, interval=0.05)
    scheduler.start()
    scheduler.stop()
    scheduler.start()
    try:
        assert scheduler._thread is not None
        time.sleep(0.2)
        assert scheduler._thread.is_alive(), "it keeps ticking until stopped again"
    finally:
        scheduler.stop()
