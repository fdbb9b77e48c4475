"""`loopline agent`, `loopline autoscaler`, `loopline queues ...`, `loopline tasks ...`,
`loopline agents ...`: work on queues, and the machines that do it."""

from __future__ import annotations

import signal
import threading
from typing import Annotated, Any

import typer
from rich.table import Column, Table

from loopline.backends import open_backend
from loopline.cli._context import settings_from
from loopline.cli._output import JsonOption, console, print_json, reports_errors
from loopline.errors import InvalidInput

queues_app = typer.Typer(help="Create and list queues.", no_args_is_help=True)
tasks_app = typer.Typer(help="List and cancel queued tasks.", no_args_is_help=True)
agents_app = typer.Typer(help="List agents.", no_args_is_help=True)

QueueOption = Annotated[
    list[str],
    typer.Option("--queue", "-q", help="A queue to pull from (repeat for several, first first)."),
]


def parse_resources(items: list[str] | None) -> dict[str, float]:
    """``["gpu=1", "memory=8e9"]`` as ``{"gpu": 1.0, "memory": 8e9}``."""
    found: dict[str, float] = {}
    for item in items or []:
        name, sep, amount = item.partition("=")
        try:
            value = float(amount) if sep else 1.0
        except ValueError:
            value = -1.0
        if not name or value < 0:
            raise InvalidInput(
                f"--resource {item!r}: write NAME=AMOUNT with an amount >= 0, e.g. gpu=1."
            )
        found[name] = value
    return found


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handler(_signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop


@reports_errors
def agent(
    ctx: typer.Context,
    queue: QueueOption = ["default"],  # noqa: B006 - typer reads the default, never mutates it
    concurrency: Annotated[int, typer.Option(min=1, max=256, help="Tasks at a time.")] = 1,
    server: Annotated[
        str | None, typer.Option(help="The Loopline server (default: LOOPLINE_URI).")
    ] = None,
    resource: Annotated[
        list[str] | None,
        typer.Option("--resource", "-r", help="What this machine offers: gpu=1 (repeat)."),
    ] = None,
    name: Annotated[str | None, typer.Option(help="Shown in listings (default host-pid).")] = None,
    lease: Annotated[
        float, typer.Option(min=1, max=3600, help="Seconds a task is ours without a heartbeat.")
    ] = 30.0,
    poll: Annotated[
        float, typer.Option(min=0.05, help="Seconds between looks at the queue.")
    ] = 0.5,
) -> None:
    """Pull tasks from queues and run them here, each in its own process, until stopped."""
    from loopline.agents._agent import Agent

    settings = settings_from(ctx, LOOPLINE_URI=server)
    backend = open_backend(settings)
    worker = Agent(
        backend,
        settings,
        queue,
        concurrency=concurrency,
        resources=parse_resources(resource),
        name=name,
        lease_seconds=lease,
        poll_seconds=poll,
    )
    try:
        worker.run(_stop_on_signals())
    finally:
        backend.close()


@reports_errors
def autoscaler(
    ctx: typer.Context,
    queue: QueueOption = ["default"],  # noqa: B006
    min_agents: Annotated[int, typer.Option("--min", min=0, help="Agents kept running.")] = 0,
    max_agents: Annotated[int, typer.Option("--max", min=1, help="Agents at most.")] = 4,
    idle_timeout: Annotated[
        float, typer.Option(min=0, help="Seconds an agent may sit idle before it is stopped.")
    ] = 300.0,
    interval: Annotated[float, typer.Option(min=0.1, help="Seconds between looks.")] = 5.0,
    server: Annotated[
        str | None, typer.Option(help="The Loopline server (default: LOOPLINE_URI).")
    ] = None,
    resource: Annotated[
        list[str] | None,
        typer.Option("--resource", "-r", help="What started agents offer: gpu=1 (repeat)."),
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, help="Concurrency of started agents.")] = 1,
) -> None:
    """Start and stop agents by queue depth; every decision is recorded with its reason."""
    from loopline.agents._autoscaler import Autoscaler, LocalProcessProvider, Policy

    settings = settings_from(ctx, LOOPLINE_URI=server)
    backend = open_backend(settings)
    provider = LocalProcessProvider(
        settings, resources=parse_resources(resource), concurrency=concurrency
    )
    policy = Policy(min_agents=min_agents, max_agents=max_agents, idle_timeout=idle_timeout)
    scaler = Autoscaler(backend, provider, queue, policy)
    console.print(
        f"Autoscaler for {', '.join(queue)}: {min_agents} to {max_agents} agents, "
        f"idle timeout {idle_timeout:g} s, on {backend.location}"
    )
    try:
        scaler.run(_stop_on_signals(), interval=interval)
    finally:
        provider.close()
        backend.close()


@queues_app.command("create")
@reports_errors
def create_queue(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Letters, digits, '_', '.' or '-'.")],
    priority: Annotated[int, typer.Option(help="Higher is served first.")] = 0,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", "-t", help="A resource its agents have (gpu).")
    ] = None,
    description: Annotated[str, typer.Option("--description", "-d")] = "",
    as_json: JsonOption = False,
) -> None:
    """Create a queue (or change its priority, tags and description)."""
    backend = open_backend(settings_from(ctx))
    try:
        made = backend.put_queue(name, priority=priority, tags=tag or [], description=description)
    finally:
        backend.close()
    if as_json:
        print_json(made)
    else:
        console.print(f"Queue [bold]{made.name}[/] (priority {made.priority}) is ready.")


@queues_app.command("list")
@reports_errors
def list_queues(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Queues with how many tasks wait and run."""
    backend = open_backend(settings_from(ctx))
    try:
        queues = backend.list_queues()
    finally:
        backend.close()
    if as_json:
        print_json(queues)
        return
    table = Table("queue", "priority", "tags", "waiting", "running")
    for q in queues:
        table.add_row(q.name, str(q.priority), ",".join(q.tags), str(q.depth), str(q.running))
    console.print(table)


@tasks_app.command("list")
@reports_errors
def list_tasks(
    ctx: typer.Context,
    queue: Annotated[str | None, typer.Option("--queue", "-q")] = None,
    status: Annotated[str | None, typer.Option(help="queued, running, succeeded, ...")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 50,
    as_json: JsonOption = False,
) -> None:
    """Tasks, newest first."""
    backend = open_backend(settings_from(ctx))
    try:
        tasks = backend.list_tasks(queue=queue, status=status, limit=limit)
    finally:
        backend.close()
    if as_json:
        print_json(tasks)
        return
    table = Table(
        Column("id", no_wrap=True), "queue", "kind", "name", "status", "attempts", "agent"
    )
    for t in tasks:
        table.add_row(
            t.id,
            t.queue,
            t.kind,
            t.name,
            t.status,
            f"{t.attempts}/{t.max_attempts}",
            t.agent_id or "",
        )
    console.print(table)
    for t in tasks:
        if t.waiting:  # something stops it: say what, and what to do
            console.print(f"Task {t.id} waits: {t.waiting}", soft_wrap=True)


@tasks_app.command("cancel")
@reports_errors
def cancel_task(ctx: typer.Context, task_id: str, as_json: JsonOption = False) -> None:
    """Cancel a task: at once when it waits; its agent stops it when it runs."""
    backend = open_backend(settings_from(ctx))
    try:
        task = backend.cancel_task(task_id)
    finally:
        backend.close()
    if as_json:
        print_json(task)
    elif task.status == "running":
        console.print(f"Task {task.id} will be stopped by its agent at its next heartbeat.")
    else:
        console.print(f"Task {task.id} is {task.status}.")


@agents_app.command("list")
@reports_errors
def list_agents(
    ctx: typer.Context,
    all_agents: Annotated[bool, typer.Option("--all", help="Stopped agents too.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Agents with their host, resources, current tasks and last heartbeat."""
    backend = open_backend(settings_from(ctx))
    try:
        agents = backend.list_agents(include_stopped=all_agents)
    finally:
        backend.close()
    if as_json:
        print_json(agents)
        return
    table = Table(
        Column("id", no_wrap=True),
        "name",
        "host",
        "queues",
        "resources",
        "status",
        "tasks",
        "heartbeat",
    )
    for a in agents:
        table.add_row(
            a.id,
            a.name,
            a.host,
            ",".join(a.queues),
            _resources_text(a.resources),
            a.status,
            ",".join(a.current_tasks),
            a.last_heartbeat.strftime("%H:%M:%S") if a.last_heartbeat else "",
        )
    console.print(table)


def _resources_text(resources: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:g}" for k, v in sorted(resources.items()))
