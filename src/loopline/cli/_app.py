"""The root `loopline` command."""

from __future__ import annotations

import platform
from typing import Annotated

import typer

from loopline._version import __version__
from loopline.cli import (
    _config,
    _datasets,
    _db,
    _features,
    _models,
    _pipelines,
    _projects,
    _runs,
    _server,
    _ui,
)
from loopline.cli._context import CliState
from loopline.cli._output import JsonOption, console, print_json

app = typer.Typer(
    name="loopline",
    help="Loopline: experiment tracking, datasets, pipelines, registry, serving and monitoring.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


@app.callback()
def root(
    ctx: typer.Context,
    uri: Annotated[
        str | None,
        typer.Option(
            "--uri",
            help="Where to work: sqlite:///..., postgresql://... or http(s)://server.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Close the machine-learning loop, from a laptop to a cluster, with one API."""
    ctx.obj = CliState(overrides={"LOOPLINE_URI": uri} if uri else {})


@app.command()
def version(
    as_json: JsonOption = False,
) -> None:
    """Print the version of Loopline and of Python."""
    info = {"loopline": __version__, "python": platform.python_version()}
    if as_json:
        print_json(info)
    else:
        console.print(f"loopline {__version__} (Python {info['python']})")


app.command("server")(_server.server)
app.command("ui")(_ui.ui)
app.command("config")(_config.config)
app.add_typer(_db.app, name="db")
app.add_typer(_projects.app, name="projects")
app.add_typer(_runs.app, name="runs")
app.add_typer(_datasets.app, name="datasets")
app.add_typer(_features.app, name="features")
app.add_typer(_models.app, name="models")
app.add_typer(_pipelines.app, name="pipelines")
app.command("lineage")(_datasets.lineage)

# -- serving: inference servers, endpoints, batch scoring --
from loopline.cli import _serving  # noqa: E402

app.command("serve")(_serving.serve)
app.command("predict")(_serving.predict)
app.add_typer(_serving.app, name="endpoints")

# -- agents: queues, agents and the autoscaler --
from loopline.cli import _agents  # noqa: E402

app.command("agent")(_agents.agent)
app.command("autoscaler")(_agents.autoscaler)
app.add_typer(_agents.queues_app, name="queues")
app.add_typer(_agents.tasks_app, name="tasks")
app.add_typer(_agents.agents_app, name="agents")

# -- hard examples: collect for review, commit labels (helper H) --
from loopline.cli import _labelling  # noqa: E402

app.add_typer(_labelling.app, name="hard-examples")

# -- monitors: run monitors once, list them and their alerts (helper M) --
from loopline.cli import _monitors  # noqa: E402

app.add_typer(_monitors.app, name="monitor")

# -- automation: triggers, the loop's timeline, deliveries and policies (helper A2) --
from loopline.cli import _automation  # noqa: E402

app.add_typer(_automation.app, name="automation")
