"""`loopline automation ...`: triggers, the loop's timeline and reverts, deliveries, delivery
policies, and the controller (one round with ``tick``, or the loop with ``run``)."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from loopline.backends import open_backend
from loopline.cli._context import settings_from
from loopline.cli._output import JsonOption, console, print_json, reports_errors
from loopline.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from loopline.automation import LoopEvent, TickReport
    from loopline.backends import Backend

app = typer.Typer(
    help="The closed loop: triggers, the timeline of decisions, deliveries and their policies.",
    no_args_is_help=True,
)
trigger_app = typer.Typer(help="One trigger: its definition, versions and firings.")
policy_app = typer.Typer(help="Delivery policies: how an endpoint takes a new champion.")
app.add_typer(trigger_app, name="trigger")
app.add_typer(policy_app, name="policy")

# `-p` is a template parameter in `fire`, so the project has only its long name here.
ProjectOption = Annotated[str | None, typer.Option("--project", help="default: LOOPLINE_PROJECT")]
EVENT_KINDS = (
    "trigger_fired", "trigger_coalesced", "trigger_failed", "trigger_broken", "run_launched",
    "gate_passed", "gate_failed", "delivery_skipped", "shadow_started", "canary_started",
    "observation", "promoted", "rolled_back", "reverted",
)  # fmt: skip


def _when(value: object) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if hasattr(value, "strftime") else "-"


def _open(ctx: typer.Context, project: str | None) -> tuple[Backend, str]:
    settings = settings_from(ctx)
    return open_backend(settings), project or settings.project


# -- triggers -------------------------------------------------------------------------------------


@app.command("triggers")
@reports_errors
def triggers(
    ctx: typer.Context, project: ProjectOption = None, as_json: JsonOption = False
) -> None:
    """List the triggers of a project: kind, template, state, last firing."""
    backend, where = _open(ctx, project)
    try:
        found = backend.list_triggers(where)
    finally:
        backend.close()
    if as_json:
        print_json(found)
        return
    if not found:
        console.print(
            "No triggers yet. Make one with ll.automation.trigger(name, on=..., template=...)."
        )
        return
    table = Table("name", "kind", "watches", "template", "version", "state", "last fired (UTC)")
    for t in found:
        state = t.state if t.enabled else f"{t.state} (paused)"
        watches = ", ".join(f"{k}={v}" for k, v in t.config.items() if v) or "-"
        table.add_row(escape(t.name), t.kind, escape(watches), escape(t.template),
                      str(t.version), state, _when(t.last_fired_at))  # fmt: skip
    console.print(table)


@trigger_app.command("show")
@reports_errors
def show_trigger(
    ctx: typer.Context,
    name: str,
    limit: Annotated[int, typer.Option(help="How many firings to show.")] = 20,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show a trigger: its definition, its versions and its latest firings."""
    backend, where = _open(ctx, project)
    try:
        found = backend.get_trigger(where, name)
        versions = backend.trigger_versions(where, name)
        fired = backend.trigger_firings(where, name, limit)
    finally:
        backend.close()
    if as_json:
        print_json({"trigger": found, "versions": versions, "firings": fired})
        return
    state = found.state if found.enabled else f"{found.state} (paused)"
    console.print(f"[bold]{escape(found.name)}[/] v{found.version} · {found.kind} · {state}")
    if found.problem:
        console.print(f"  [red]problem:[/] {escape(found.problem)}")
    console.print(
        f"  launches {escape(found.template)} (version {found.template_version}), "
        f"debounce {found.debounce:g} s"
    )
    if found.config:
        console.print(f"  watches {escape(json.dumps(found.config, sort_keys=True))}")
    console.print(f"  params {escape(json.dumps(found.params, sort_keys=True))}")
    if found.next_fire_at is not None:
        console.print(f"  next fire at {_when(found.next_fire_at)} UTC")
    table = Table("version", "made (UTC)", "by", "definition", title="Versions")
    for v in versions:
        table.add_row(str(v.version), _when(v.created_at), escape(v.created_by),
                      escape(json.dumps(v.definition, sort_keys=True)[:120]))  # fmt: skip
    console.print(table)
    if not fired:
        console.print("No firings yet.")
        return
    table = Table("fired (UTC)", "status", "run", "event", "note", title="Firings")
    for f in fired:
        note = f.error or (f"coalesced into {f.coalesced_into[:8]}" if f.coalesced_into else "")
        if f.coalesced:
            note = f"{f.coalesced} coalesced" + (f"; {note}" if note else "")
        event = escape(json.dumps(f.event, sort_keys=True)[:60])
        table.add_row(_when(f.fired_at), f.status, (f.run_id or "-")[:12], event, escape(note[:80]))
    console.print(table)


@app.command("pause")
@reports_errors
def pause(ctx: typer.Context, name: str, project: ProjectOption = None) -> None:
    """Pause a trigger (events meanwhile are not made up for)."""
    _set_enabled(ctx, name, project, False)


@app.command("resume")
@reports_errors
def resume(ctx: typer.Context, name: str, project: ProjectOption = None) -> None:
    """Resume a trigger (this also clears a broken state)."""
    _set_enabled(ctx, name, project, True)


def _set_enabled(ctx: typer.Context, name: str, project: str | None, enabled: bool) -> None:
    backend, where = _open(ctx, project)
    try:
        backend.set_trigger_enabled(where, name, enabled)
    finally:
        backend.close()
    console.print(f"Trigger [bold]{escape(name)}[/] {'resumed' if enabled else 'paused'}.")


@app.command("delete")
@reports_errors
def delete(ctx: typer.Context, name: str, project: ProjectOption = None) -> None:
    """Delete a trigger with its versions and firings (its runs and the timeline stay)."""
    backend, where = _open(ctx, project)
    try:
        backend.delete_trigger(where, name)
    finally:
        backend.close()
    console.print(f"Deleted trigger [bold]{escape(name)}[/].")


def _parse_pairs(pairs: list[str], what: str) -> dict[str, Any]:
    """``key=value`` pairs; a value that reads as JSON (``3``, ``true``, ``[1, 2]``) keeps its
    type, anything else is text."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"{what}: {pair!r} is not key=value.", details={"field": what})
        try:
            out[key.strip()] = json.loads(value)
        except ValueError:
            out[key.strip()] = value
    return out


@app.command("fire")
@reports_errors
def fire(
    ctx: typer.Context,
    name: str,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="key=value in the event (repeat); {event.key} reads it"),
    ] = None,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Fire a trigger now, with key=value pairs as its event (debounced like any event)."""
    payload = _parse_pairs(param or [], "--param")
    settings = settings_from(ctx)
    backend = open_backend(settings)
    try:
        made = backend.fire_trigger(
            project or settings.project, name, payload, actor=settings.actor
        )
    finally:
        backend.close()
    if as_json:
        print_json(made)
        return
    if made.status == "launched":
        console.print(f"Trigger [bold]{escape(name)}[/] launched run {made.run_id}.")
    elif made.status == "coalesced":
        into = made.coalesced_into or "its last launch"
        console.print(f"Trigger [bold]{escape(name)}[/] coalesced this event into {into}.")
    else:
        console.print(f"[red]Trigger {escape(name)} failed to launch:[/] {escape(made.error)}")
        raise typer.Exit(1)


# -- the controller -------------------------------------------------------------------------------


def _print_report(report: TickReport, quiet_when_idle: bool = False) -> None:
    from loopline.automation._summary import summary

    if quiet_when_idle and not (report.events or report.errors):
        return
    if not report.events and not report.errors:
        console.print("Nothing to do: no trigger fired, no delivery to start or judge.")
    for e in report.events:
        line = f"#{e.id} [bold]{e.kind}[/] ({escape(e.project)}): {escape(e.message)}"
        console.print(line)
        compact = summary(e)
        if compact and compact not in e.message:
            console.print(f"    {escape(compact)}")
    for error in report.errors:
        console.print(f"[red]error:[/] {escape(error)}")


@app.command("tick")
@reports_errors
def tick(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Run one round of the loop now (every project) and print what happened."""
    backend, _ = _open(ctx, None)
    try:
        report = backend.automation_tick()
    finally:
        backend.close()
    if as_json:
        print_json(report)
        return
    _print_report(report)


@app.command("run")
@reports_errors
def run(
    ctx: typer.Context,
    interval: Annotated[float, typer.Option(help="Seconds between rounds.", min=0.1)] = 10.0,
    rounds: Annotated[
        int | None, typer.Option(help="Stop after this many rounds (default: until Ctrl-C).", min=1)
    ] = None,
) -> None:
    """Run the loop here until Ctrl-C: a round every --interval seconds (for embedded use; a
    server runs its own)."""
    backend, _ = _open(ctx, None)
    done = 0
    console.print(f"Running the loop every {interval:g} s; Ctrl-C stops it.")
    try:
        while rounds is None or done < rounds:
            started = time.monotonic()
            _print_report(backend.automation_tick(), quiet_when_idle=True)
            done += 1
            if rounds is not None and done >= rounds:
                break
            time.sleep(max(0.0, interval - (time.monotonic() - started)))
    except KeyboardInterrupt:
        console.print("Stopped.")
    finally:
        backend.close()
    console.print(f"{done} round{'' if done == 1 else 's'} of the loop.")


# -- the timeline ---------------------------------------------------------------------------------


def _events(backend: Backend, project: str, limit: int, kind: str | None) -> list[LoopEvent]:
    if kind is None:
        return backend.automation_timeline(project, limit=limit)
    found: list[LoopEvent] = []
    before: int | None = None
    while len(found) < limit:
        page = backend.automation_timeline(project, limit=1000, before=before)
        found += [e for e in page if e.kind == kind]
        if len(page) < 1000:
            break
        before = page[-1].id
    return found[:limit]


@app.command("timeline")
@reports_errors
def timeline(
    ctx: typer.Context,
    limit: Annotated[
        int, typer.Option(help="How many events, newest first.", min=1, max=1000)
    ] = 50,
    kind: Annotated[str | None, typer.Option(help="Only events of this kind.")] = None,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """The loop's events, newest first, with their figures in short."""
    from loopline.automation._summary import summary

    if kind is not None and kind not in EVENT_KINDS:
        raise InvalidInput(
            f"--kind {kind!r} is not an event kind; the kinds are {', '.join(EVENT_KINDS)}.",
            details={"field": "kind"},
        )
    backend, where = _open(ctx, project)
    try:
        found = _events(backend, where, limit, kind)
    finally:
        backend.close()
    if as_json:
        print_json(found)
        return
    if not found:
        console.print("No events yet: the loop has not done anything in this project.")
        return
    table = Table("#", "at (UTC)", "kind", "subject", "figures", "message")
    for e in found:
        subject = " ".join(
            p
            for p in (
                e.trigger and f"trigger {e.trigger}",
                e.model and f"{e.model}" + (f" v{e.version}" if e.version is not None else ""),
                e.endpoint and f"on {e.endpoint}",
            )
            if p
        )
        kind_text = e.kind if e.reverted_by is None else f"{e.kind} (reverted by #{e.reverted_by})"
        table.add_row(str(e.id), _when(e.at), kind_text, escape(subject),
                      escape(summary(e)), escape(e.message))  # fmt: skip
    console.print(table)


@app.command("revert")
@reports_errors
def revert(
    ctx: typer.Context, event_id: int, project: ProjectOption = None, as_json: JsonOption = False
) -> None:
    """Undo a decision of the loop (a shadow or canary start, a promotion, a rollback)."""
    settings = settings_from(ctx)
    backend = open_backend(settings)
    try:
        made = backend.revert_automation_event(
            project or settings.project, event_id, actor=settings.actor
        )
    finally:
        backend.close()
    if as_json:
        print_json(made)
        return
    console.print(f"#{made.id} [bold]reverted[/]: {escape(made.message)}")


# -- deliveries and policies ----------------------------------------------------------------------


@app.command("deliveries")
@reports_errors
def deliveries(
    ctx: typer.Context,
    every: Annotated[bool, typer.Option("--all", help="Past deliveries too.")] = False,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Deliveries in shadow or canary now (--all: past ones too), newest first."""
    backend, where = _open(ctx, project)
    try:
        found = backend.list_deliveries(where, active=not every)
    finally:
        backend.close()
    if as_json:
        print_json(found)
        return
    if not found:
        console.print("No deliveries " + ("yet." if every else "in progress (--all: past ones)."))
        return
    table = Table("id", "endpoint", "model", "challenger", "champion", "state", "canary %",
                  "since (UTC)", "revision", "note")  # fmt: skip
    for d in found:
        champion = "-" if d.champion_version is None else f"v{d.champion_version}"
        table.add_row(
            d.id[:8], escape(d.endpoint), escape(d.model), f"v{d.challenger_version}", champion,
            d.state, str(d.policy.get("canary_percent", "-")), _when(d.phase_started_at),
            str(d.revision), escape(d.message[:80]),
        )  # fmt: skip
    console.print(table)


def _print_policy(policy: Any) -> None:
    console.print(
        f"[bold]{escape(policy.endpoint)}[/]: "
        + ("shadow first, then " if policy.shadow_first else "")
        + f"a {policy.canary_percent}% canary, observed {policy.observe_seconds:g} s and at "
        f"least {policy.min_requests} requests ({policy.min_labels} labelled per model for "
        f"quality); alias {policy.alias!r}" + ("" if policy.enabled else " · disabled")
    )
    for metric, margin in sorted(policy.margins.items()):
        console.print(f"  {escape(metric)}: may be {margin:g} worse than the champion's")


@policy_app.command("show")
@reports_errors
def show_policy(
    ctx: typer.Context, endpoint: str, project: ProjectOption = None, as_json: JsonOption = False
) -> None:
    """Show the delivery policy of an endpoint."""
    backend, where = _open(ctx, project)
    try:
        found = backend.get_delivery_policy(where, endpoint)
    finally:
        backend.close()
    if as_json:
        print_json(found)
        return
    _print_policy(found)


@policy_app.command("set")
@reports_errors
def set_policy(
    ctx: typer.Context,
    endpoint: str,
    canary: Annotated[int | None, typer.Option(help="Canary traffic share, in percent.")] = None,
    observe: Annotated[str | None, typer.Option(help="How long to watch: 90s, 10m, 2h.")] = None,
    min_requests: Annotated[int | None, typer.Option(help="Challenger requests needed.")] = None,
    min_labels: Annotated[int | None, typer.Option(help="Labelled predictions needed.")] = None,
    margin: Annotated[
        list[str] | None,
        typer.Option(help="metric=how much worse it may be (repeat): accuracy=0.01, p99_ms=10"),
    ] = None,
    shadow_first: Annotated[
        bool | None, typer.Option("--shadow-first/--no-shadow-first", show_default=False)
    ] = None,
    alias: Annotated[str | None, typer.Option(help="The champion's alias.")] = None,
    enabled: Annotated[
        bool | None, typer.Option("--enabled/--disabled", show_default=False)
    ] = None,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create or change the delivery policy of an endpoint (options not given keep their
    current value; --margin replaces all margins)."""
    settings = settings_from(ctx)
    where = project or settings.project
    backend = open_backend(settings)
    try:
        try:
            old = backend.get_delivery_policy(where, endpoint)
            policy: dict[str, Any] = {
                "canary_percent": old.canary_percent,
                "shadow_first": old.shadow_first,
                "observe_for": old.observe_seconds,
                "min_requests": old.min_requests,
                "min_labels": old.min_labels,
                "margins": dict(old.margins),
                "alias": old.alias,
                "enabled": old.enabled,
            }
        except NotFound:
            policy = {}
        given = {
            "canary_percent": canary,
            "shadow_first": shadow_first,
            "observe_for": observe,
            "min_requests": min_requests,
            "min_labels": min_labels,
            "margins": _margins(margin) if margin else None,
            "alias": alias,
            "enabled": enabled,
        }
        policy.update({k: v for k, v in given.items() if v is not None})
        made = backend.set_delivery_policy(where, endpoint, policy, actor=settings.actor)
    finally:
        backend.close()
    if as_json:
        print_json(made)
        return
    _print_policy(made)


def _margins(pairs: list[str]) -> dict[str, Any]:
    out = _parse_pairs(pairs, "--margin")
    for metric, value in out.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidInput(
                f"--margin {metric}={value!r}: a margin is a number (how much worse the "
                f"challenger may be), e.g. accuracy=0.01.",
                details={"field": f"margins.{metric}"},
            )
    return out
