"""`loopline hard-examples ...`: collect an endpoint's hard predictions into a dataset, see how
its review stands, commit the labels saved on the labelling page."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated

import typer

from loopline.cli._context import settings_from
from loopline.cli._output import JsonOption, console, print_json, reports_errors
from loopline.errors import InvalidInput

app = typer.Typer(
    help="Hard examples: collect low-confidence and misclassified predictions for review.",
    no_args_is_help=True,
)

ProjectOption = Annotated[
    str | None, typer.Option("--project", "-p", help="Default: LOOPLINE_PROJECT.")
]


def _when(text: str | None, name: str) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"--{name} {text!r} is not a time like 2026-11-23T10:00.") from None


def _shape(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(part) for part in text.lower().replace("x", ",").split(",")]
    except ValueError:
        raise InvalidInput(f"--image-shape {text!r}: give it like 8x8 or 32x32x3.") from None


@app.command("collect")
@reports_errors
def collect(
    ctx: typer.Context,
    endpoint: Annotated[str, typer.Argument(help="The endpoint whose predictions to read.")],
    dataset: Annotated[str, typer.Argument(help="The dataset to add them to.")],
    since: Annotated[str | None, typer.Option(help="From this time (ISO, UTC if naive).")] = None,
    until: Annotated[str | None, typer.Option(help="Until this time (exclusive).")] = None,
    confidence_below: Annotated[
        float | None, typer.Option(help="Collect predictions less sure than this.")
    ] = 0.6,
    misclassified: Annotated[
        bool, typer.Option(help="Collect labelled predictions that were wrong.")
    ] = True,
    limit: Annotated[int, typer.Option(help="The most rows to add.")] = 500,
    image_shape: Annotated[
        str | None, typer.Option(help="Show rows as images of this shape, like 8x8.")
    ] = None,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add ENDPOINT's low-confidence and misclassified predictions to DATASET (next version)."""
    from loopline._client import Client
    from loopline._labelling import collect_hard_examples

    client = Client(settings=settings_from(ctx, LOOPLINE_PROJECT=project))
    try:
        found = collect_hard_examples(
            endpoint,
            dataset,
            since=_when(since, "since"),
            until=_when(until, "until"),
            confidence_below=confidence_below,
            misclassified=misclassified,
            limit=limit,
            image_shape=_shape(image_shape),
            client=client,
        )
    finally:
        client.close()
    if as_json:
        print_json(found)
        return
    if found.version is None:
        console.print(
            f"No new hard examples among {found.scanned:,} predictions of {endpoint} "
            f"({found.already_collected:,} already collected)."
        )
        return
    console.print(
        f"[green]Collected {found.collected:,}[/] hard examples into [bold]{found.ref}[/] "
        f"({found.misclassified:,} misclassified, {found.low_confidence:,} low-confidence; "
        f"confidence from: {found.confidence_source}). Review them in the UI: "
        f"/ui/projects/{found.project}/datasets/{found.dataset}/labelling"
    )


@app.command("status")
@reports_errors
def status(
    ctx: typer.Context,
    dataset: Annotated[str, typer.Argument(help="A hard-examples dataset.")],
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """How far the review of DATASET is: labelled, waiting to be committed, total."""
    from loopline._client import Client

    client = Client(settings=settings_from(ctx, LOOPLINE_PROJECT=project))
    try:
        page = client._backend.labelling_page(
            client.settings.project, dataset, "latest", offset=0, limit=1
        )
    finally:
        client.close()
    state = page.state
    if as_json:
        print_json({**asdict(state), "decisions": len(state.decisions)})
        return
    console.print(
        f"{state.project}/{state.dataset}:{state.version}: {state.done:,} of {state.total:,} "
        f"labelled ({state.reviewed:,} committed, {state.waiting:,} waiting)."
    )


@app.command("commit")
@reports_errors
def commit(
    ctx: typer.Context,
    dataset: Annotated[str, typer.Argument(help="A hard-examples dataset.")],
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Commit the labels saved for DATASET as its next version (and log them for quality)."""
    from loopline._client import Client

    client = Client(settings=settings_from(ctx, LOOPLINE_PROJECT=project))
    try:
        done = client._backend.commit_labels(
            client.settings.project, dataset, actor=client.settings.actor
        )
    finally:
        client.close()
    if as_json:
        print_json(done)
        return
    if done.nothing_new:
        console.print(f"Nothing new to commit: {done.ref} has every saved label.")
        return
    console.print(
        f"[green]Committed {done.committed:,} labels[/] as {done.ref} ({done.corrected:,} "
        f"corrected); {done.labels_logged:,} sent to live quality."
    )
