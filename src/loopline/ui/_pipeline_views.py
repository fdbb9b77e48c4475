"""What the pipelines pages show, shaped from the backend's records: form fields, the DAG with
each step's state, the runs of a template with their metrics side by side.

Nothing here renders HTML or reads the request; the routes (``_pipeline_pages``) do.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from loopline.pipelines import PipelineRunRecord, StepRecord
from loopline.ui._dag_layout import BOX_H, BOX_W, Layout, lay_out

if TYPE_CHECKING:
    from loopline.backends import Backend
    from loopline.tracking import Run

__all__ = [
    "Field",
    "form_fields",
    "StepView",
    "dag_view",
    "inputs_of",
    "RunRow",
    "run_rows",
    "TEMPLATE_TAG",
    "RUN_STATUSES",
]

TEMPLATE_TAG = "loopline.template"  # "name:version" on a template's run (see pipelines)
RUN_STATUSES = ("running", "succeeded", "failed", "stopped")
_IDS_PER_QUERY = 200  # run ids per `in (...)` filter: well under the filter's length limit
_MARKERS = {"cached": "cache hit", "reused": "reused"}


# -- the launch form ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Field:
    """One field of a template's launch form."""

    name: str
    type: str
    required: bool
    value: str  # as the form shows it
    default: str
    error: str | None = None

    @property
    def input_id(self) -> str:
        return "param-" + "".join(c if c.isalnum() or c in "-_" else "_" for c in self.name)

    @property
    def kind(self) -> str:
        """How the field is drawn: number, bool (a menu), json (a text area) or text."""
        if self.type in ("int", "float"):
            return "number"
        if self.type == "bool":
            return "bool"
        return "json" if self.type in ("list", "dict") else "text"


def as_text(value: Any, kind: str) -> str:
    """A parameter value as a form field shows it (JSON for lists and dicts)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if kind in ("list", "dict") or not isinstance(value, str | int | float):
        return json.dumps(value)
    return str(value)


def form_fields(
    schema: Sequence[Mapping[str, Any]],
    values: Mapping[str, Any] | None = None,
    errors: Mapping[str, str] | None = None,
    *,
    submitted: bool = False,
) -> list[Field]:
    """The fields of a form for ``schema``: filled with ``values`` (a run's params to copy, or
    what was submitted: text as typed, when ``submitted``), else with the defaults."""
    out = []
    for spec in schema:
        name, kind = str(spec.get("name", "")), str(spec.get("type", "any"))
        default = as_text(spec.get("default"), kind)
        if values is not None and name in values:
            raw = values[name]
            value = raw if submitted and isinstance(raw, str) else as_text(raw, kind)
        else:
            value = default
        out.append(
            Field(
                name,
                kind,
                bool(spec.get("required", False)),
                value,
                default,
                (errors or {}).get(name),
            )
        )
    return out


def submitted_params(
    form: Mapping[str, str], schema: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """The parameters a launch form sent (``param.<name>`` fields), as text for the template's
    schema to check. An empty field of an optional, non-text parameter means its default."""
    types = {str(s.get("name")): str(s.get("type", "any")) for s in schema}
    params: dict[str, Any] = {}
    for key, value in form.items():
        if not key.startswith("param."):
            continue
        name = key[len("param.") :]
        if value == "" and types.get(name) not in ("str", "any"):
            continue
        params[name] = value
    return params


# -- a run's DAG --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StepView:
    """A step's box on the drawing, with its record (None: the spec names it, the run not)."""

    name: str
    x: int
    y: int
    record: StepRecord | None

    @property
    def status(self) -> str:
        return self.record.status if self.record is not None else "pending"

    @property
    def marker(self) -> str | None:
        """ "cache hit" or "reused" when the step's outputs came from elsewhere."""
        return _MARKERS.get(self.status)

    @property
    def label(self) -> str:
        """The name, shortened to fit its box."""
        return self.name if len(self.name) <= 22 else self.name[:21] + "…"


@dataclass(frozen=True, slots=True)
class DagView:
    layout: Layout
    steps: tuple[StepView, ...]
    box_w: int = BOX_W
    box_h: int = BOX_H
    counts: dict[str, int] = field(default_factory=dict)


def dag_view(record: PipelineRunRecord) -> DagView:
    """The run's DAG laid out, each box with the step's current record."""
    specs = [s for s in record.dag.get("steps", []) if isinstance(s, Mapping)]
    steps = []
    for spec in specs:
        inputs = spec.get("inputs", {})
        reads = inputs.values() if isinstance(inputs, Mapping) else ()
        upstream = [
            *(r for value in reads for r in _refs(value)),
            *_condition_refs(spec.get("conditions", [])),
        ]
        steps.append((str(spec.get("name", "")), upstream))
    by_name = {s.name: s for s in record.steps}
    for extra in record.steps:  # a step with no spec entry still shows
        if extra.name not in {n for n, _ in steps}:
            steps.append((extra.name, []))
    layout = lay_out(steps)
    views = tuple(StepView(b.name, b.x, b.y, by_name.get(b.name)) for b in layout.boxes)
    counts: dict[str, int] = {}
    for view in views:
        counts[view.status] = counts.get(view.status, 0) + 1
    return DagView(layout, views, counts=counts)


def _refs(value: Any) -> list[str]:
    """The steps an input spec reads: ``{"ref": [step, n]}``, or a ``{"list": [...]}`` of them."""
    if not isinstance(value, Mapping):
        return []
    ref = value.get("ref")
    if isinstance(ref, Sequence) and not isinstance(ref, str) and ref:
        return [str(ref[0])]
    items = value.get("list")
    if isinstance(items, Sequence) and not isinstance(items, str):
        return [r for item in items for r in _refs(item)]
    return []


def _condition_refs(conditions: Any) -> list[str]:
    if not isinstance(conditions, Sequence):
        return []
    return [
        str(c["ref"][0])
        for c in conditions
        if isinstance(c, Mapping) and isinstance(c.get("ref"), Sequence) and c["ref"]
    ]


def inputs_of(record: PipelineRunRecord, step: str) -> list[tuple[str, str]]:
    """What step ``step`` reads, for people: ``("data", "output 0 of load")``,
    ``("lr", "parameter lr = 0.1")``, ``("k", "3")``."""
    spec = next((s for s in record.dag.get("steps", []) if s.get("name") == step), None)
    if spec is None:
        return []
    out = []
    for arg, value in dict(spec.get("inputs", {})).items():
        out.append((str(arg), _describe(value, record.params)))
    for condition in spec.get("conditions", []):
        ref = condition.get("ref", ["?", 0])
        out.append(("when", f"output {ref[1]} of {ref[0]} = {json.dumps(condition.get('equals'))}"))
    return out


def _describe(value: Any, params: Mapping[str, Any]) -> str:
    if not isinstance(value, Mapping):
        return json.dumps(value)
    if "ref" in value:
        step, output = value["ref"]
        return f"output {output} of {step}"
    if "param" in value:
        name = str(value["param"])
        return f"parameter {name} = {json.dumps(params.get(name))}"
    if "list" in value:
        return "[" + ", ".join(_describe(v, params) for v in value["list"]) + "]"
    return json.dumps(value.get("value"))


# -- a template's runs over time ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunRow:
    """A pipeline run in the runs-over-time table."""

    number: int  # 1 for the oldest run shown
    record: PipelineRunRecord
    version: str  # of the template, "" for a run not launched from one
    metrics: dict[str, float]

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def started_at(self) -> datetime:
        return self.record.started_at


def run_rows(backend: Backend, project: str, records: Sequence[PipelineRunRecord]) -> list[RunRow]:
    """``records`` (newest first) with their template version and step metrics
    (``"step.metric"``, as :meth:`pipeline_run_metrics` names them), in a few queries: the step
    runs of all of them at once, not one call per run."""
    ids = [r.id for r in records]
    tracked: dict[str, Run] = {}
    children: dict[str, dict[str, Run]] = {}
    for start in range(0, len(ids), _IDS_PER_QUERY):
        chunk = ", ".join(f"'{i}'" for i in ids[start : start + _IDS_PER_QUERY])
        for run in backend.search_runs(project, f"run_id in ({chunk})", limit=_IDS_PER_QUERY):
            tracked[run.id] = run
        for run in backend.search_runs(project, f"parent_id in ({chunk})", limit=50_000):
            if run.parent_id is not None:
                children.setdefault(run.parent_id, {})[run.id] = run
    rows = []
    for n, record in enumerate(reversed(records), start=1):
        metrics: dict[str, float] = {}
        steps = children.get(record.id, {})
        for step in record.steps:
            # Cached and reused steps executed nothing in this run: their metrics are another
            # run's (the same rule as pipeline_run_metrics).
            if step.run_id is None or step.status in _MARKERS or step.run_id not in steps:
                continue
            for key, value in steps[step.run_id].metrics.items():
                metrics[f"{step.name}.{key}"] = value
        tag = tracked[record.id].tags.get(TEMPLATE_TAG, "") if record.id in tracked else ""
        rows.append(RunRow(n, record, tag.rpartition(":")[2], metrics))
    rows.reverse()
    return rows


def varying_params(records: Sequence[PipelineRunRecord]) -> list[str]:
    """Parameter names, those whose values differ between ``records`` first."""
    names: dict[str, set[str]] = {}
    for record in records:
        for key, value in record.params.items():
            names.setdefault(key, set()).add(json.dumps(value, sort_keys=True, default=str))
    return sorted(names, key=lambda k: (len(names[k]) <= 1, k))
