"""Model cards: one Markdown page per version with everything needed to trust and serve it."""

from __future__ import annotations

from collections.abc import Sequence

from loopline.registry._signature import Schema
from loopline.registry._types import ModelEvent, ModelVersion, RegisteredModel

__all__ = ["model_card", "describe_event"]


def model_card(
    model: RegisteredModel,
    version: ModelVersion,
    events: Sequence[ModelEvent],
    *,
    run_name: str | None = None,
) -> str:
    """The Markdown card of ``version``: summary, lineage, metrics, signature, requirements and
    the history of its aliases and status.

    Example:
        >>> print(model_card(model, version, events)[:40])
        # digits, version 3
    """
    lines = [f"# {model.name}, version {version.number}", ""]
    if version.description:
        lines += [_escape(version.description), ""]
    elif model.description:
        lines += [_escape(model.description), ""]
    aliases = ", ".join(f"`{a}`" for a in version.aliases) or "none"
    lines += [
        "## Summary",
        "",
        "| | |",
        "| --- | --- |",
        f"| Project | `{version.project}` |",
        f"| Status | **{version.status}** |",
        f"| Aliases | {aliases} |",
        f"| Flavor | `{version.flavor}` |",
        f"| Size | {_size(version.size)} |",
        f"| Registered | {version.created_at:%Y-%m-%d %H:%M:%S} UTC "
        f"by {_escape(version.creator)} |",
        f'| Load with | `ll.load_model("{version.uri}")` |',
        f"| Package digest | `{version.package_digest}` |",
        "",
        "## Where it came from",
        "",
    ]
    if version.run_id:
        label = f"{_escape(run_name)} (`{version.run_id}`)" if run_name else f"`{version.run_id}`"
        lines.append(f"- **Source run:** {label}, logged at `{version.artifact_path}`")
    else:
        lines.append("- **Source run:** deleted since registration")
    if version.training_data:
        lines.append("- **Training data:**")
        for t in version.training_data:
            profile = "profiled" if t.profile_digest else "no profile"
            lines.append(f"  - `{t.ref}` (manifest `{t.digest[:12]}`, {profile})")
    else:
        lines.append("- **Training data:** not recorded (the run read no versioned dataset)")
    if version.profile_digest:
        lines.append(
            f"- **Reference profile** (for drift monitoring): `{version.profile_digest[:12]}`"
        )
    lines += ["", "## Evaluation metrics", ""]
    if version.metrics:
        lines += ["| metric | value |", "| --- | ---: |"]
        lines += [f"| {_escape(k)} | {v:.6g} |" for k, v in sorted(version.metrics.items())]
    else:
        lines.append("No metrics were logged in the source run.")
    lines += ["", "## Signature", ""]
    if version.signature is None:
        lines.append("None recorded: inputs are not checked. Log the model with an input_example.")
    else:
        inputs = Schema.from_dict(version.signature["inputs"])
        lines += ["**Inputs**", "", *_schema_table(inputs), ""]
        outputs = version.signature.get("outputs")
        if outputs:
            lines += ["**Outputs**", "", *_schema_table(Schema.from_dict(outputs))]
    lines += ["", "## Requirements", ""]
    if version.requirements:
        lines += ["```text", *version.requirements, "```"]
    else:
        lines.append("None recorded.")
    if version.libraries:
        saved = ", ".join(f"{k} {v}" for k, v in version.libraries.items())
        lines += ["", f"Saved with {saved}."]
    mine = [e for e in events if e.version == version.number or e.kind == "alias_set"]
    mine = [e for e in mine if e.version == version.number or e.old == str(version.number)]
    lines += ["", "## History", ""]
    if mine:
        lines += ["| when (UTC) | who | what | why |", "| --- | --- | --- | --- |"]
        for e in mine:
            lines.append(
                f"| {e.at:%Y-%m-%d %H:%M:%S} | {_escape(e.actor)} | {describe_event(e)} | "
                f"{_escape(e.reason)} |"
            )
    else:
        lines.append("No changes yet.")
    lines += [
        "",
        "> Loading this model may run code from its files (pickle). Load only models "
        "registered in your own Loopline by people you trust.",
        "",
    ]
    return "\n".join(lines)


def describe_event(event: ModelEvent) -> str:
    """What an event did, for people: ``champion: 2 -> 3``, ``approved -> archived``."""
    if event.kind == "registered":
        return f"registered version {event.version}"
    if event.kind == "alias_set":
        if event.old is None:
            return f"set `{event.alias}` to {event.new}"
        return f"moved `{event.alias}` from {event.old} to {event.new}"
    if event.kind == "alias_removed":
        return f"removed `{event.alias}` (was {event.old})"
    return f"version {event.version}: {event.old} -> {event.new}"


def _schema_table(schema: Schema) -> list[str]:
    if schema.tensor is not None:
        return [f"A tensor of `{schema.tensor.type}`, shape `{list(schema.tensor.shape)}`."]
    rows = ["| column | type | shape |", "| --- | --- | --- |"]
    for c in schema.columns:
        shape = "" if c.shape is None else f"`{list(c.shape)}`"
        rows.append(f"| {_escape(c.name)} | `{c.type}` | {shape} |")
    return rows


def _escape(text: str) -> str:
    # Table cells and headings: a pipe would end the cell, a newline the row.
    return text.replace("|", "\\|").replace("\n", " ")


def _size(value: int) -> str:
    size = float(value)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{value} B"  # pragma: no cover
