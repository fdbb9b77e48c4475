"""Gates: a challenger judged against the champion on the same data, by declared rules.

The judging is a pure function of two sets of figures and the rules (:func:`judge`); the SDK's
``ll.gate`` computes the figures (it evaluates both models on the holdout), and the service
here records the outcome, which is what the controller delivers from: a passed gate with a
registered challenger becomes a delivery to every endpoint whose policy serves that model.
"""

from __future__ import annotations

import builtins
import json
import math
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from loopline.automation._tables import GateRow
from loopline.automation._timeline import Timeline, clean_figures
from loopline.automation._types import GateFigure, GateRecord, parse_rule
from loopline.db import Database, new_id
from loopline.errors import InvalidInput, NotFound
from loopline.projects import ProjectService
from loopline.registry import validate_model_name

__all__ = ["GateService", "judge", "check_rules"]


def check_rules(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """``metrics`` if every rule parses (raises InvalidInput naming the first that does not)."""
    if not isinstance(metrics, Mapping) or not metrics:
        raise InvalidInput(
            "metrics: name at least one metric and its rule, e.g. "
            "{'accuracy': '>= -0.01', 'log_loss': '<= 0.02'}.",
            details={"field": "metrics"},
        )
    for metric, rule in metrics.items():
        parse_rule(str(metric), rule)
    return dict(metrics)


def judge(
    rules: Mapping[str, Any],
    challenger: Mapping[str, float],
    champion: Mapping[str, float] | None,
    *,
    data: str = "holdout",
) -> tuple[bool, builtins.list[GateFigure], str]:
    """Apply ``rules`` to the figures of both models (``champion`` None: there is none yet).

    Relative clauses need a champion: without one they are skipped, and only absolute clauses
    (``abs >= 0.9``) decide. A metric the evaluation did not produce fails the gate, with a
    message naming it and the metrics that were produced.

    Example:
        >>> judge({"accuracy": ">= -0.01"}, {"accuracy": 0.95}, {"accuracy": 0.97})[0]
        False
    """
    figures: builtins.list[GateFigure] = []
    problems: builtins.list[str] = []
    for metric, rule in rules.items():
        clauses = parse_rule(metric, rule)
        mine = challenger.get(metric)
        theirs = None if champion is None else champion.get(metric)
        if mine is None or (isinstance(mine, float) and math.isnan(mine)):
            available = (
                ", ".join(sorted(k for k, v in challenger.items() if v is not None)) or "none"
            )
            note = (
                f"the evaluation did not produce {metric!r} for the challenger "
                f"(it produced: {available})"
            )
            figures.append(GateFigure(metric, str(rule), None, theirs, None, False, note, data))
            problems.append(note)
            continue
        if champion is not None and theirs is None:
            available = ", ".join(sorted(champion)) or "none"
            note = (
                f"the evaluation did not produce {metric!r} for the champion "
                f"(it produced: {available})"
            )
            figures.append(
                GateFigure(metric, str(rule), float(mine), None, None, False, note, data)
            )
            problems.append(note)
            continue
        verdicts = [
            c.holds(float(mine), None if theirs is None else float(theirs)) for c in clauses
        ]
        decided = [v for v in verdicts if v is not None]
        ok = all(decided)
        note = ""
        if not decided:
            note = "no champion yet: no absolute minimum declared, so it passes"
        elif len(decided) < len(verdicts):
            note = "no champion yet: judged on the absolute clauses only"
        delta = None if theirs is None else float(mine) - float(theirs)
        text = " and ".join(str(c) for c in clauses)
        figures.append(
            GateFigure(
                metric,
                text,
                float(mine),
                None if theirs is None else float(theirs),
                delta,
                ok,
                note,
                data,
            )
        )
        if not ok:
            shown = f"{mine:.4g}" + ("" if theirs is None else f" vs champion {theirs:.4g}")
            problems.append(f"{metric} {shown} breaks '{text}'")
    passed = not problems
    message = (
        "passed: "
        + ", ".join(
            f"{f.metric} {f.challenger:.4g}"
            + ("" if f.champion is None else f" (champion {f.champion:.4g})")
            for f in figures
            if f.challenger is not None
        )
        if passed
        else "failed: " + "; ".join(problems)
    )
    return passed, figures, message


class GateService:
    """Gate records: what ``ll.gate`` decided, kept for the timeline and the controller."""

    def __init__(
        self,
        db: Database,
        projects: ProjectService,
        timeline: Timeline,
        *,
        registry: Any = None,
    ) -> None:
        self._db = db
        self._projects = projects
        self._timeline = timeline
        self._registry = registry

    def record(
        self,
        project: str,
        model: str,
        *,
        passed: bool,
        figures: builtins.list[GateFigure] | tuple[GateFigure, ...],
        message: str = "",
        challenger_version: int | None = None,
        champion_version: int | None = None,
        run_id: str | None = None,
        pipeline_run_id: str | None = None,
    ) -> GateRecord:
        """Record a gate's outcome; a passed gate with a registered challenger is delivered."""
        validate_model_name(model)
        for value, what in (
            (challenger_version, "challenger_version"),
            (champion_version, "champion_version"),
        ):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise InvalidInput(
                    f"{what}: a version number, not {value!r}.", details={"field": what}
                )
        if self._registry is not None:
            # A passed gate starts a delivery: it must name versions that exist here.
            for value, what in (
                (challenger_version, "challenger_version"),
                (champion_version, "champion_version"),
            ):
                if value is not None:
                    try:
                        self._registry.version(project, model, value)
                    except NotFound as exc:
                        raise InvalidInput(f"{what}: {exc}", details={"field": what}) from None
        project_row = self._projects.ensure(project)
        delivery = "pending" if passed and challenger_version is not None else "none"
        gate_id = new_id()
        with self._db.transaction() as session:
            session.add(
                GateRow(
                    id=gate_id,
                    project_id=project_row.id,
                    model=model,
                    passed=bool(passed),
                    figures=json.dumps(clean_figures([_figure_dict(f) for f in figures])),
                    message=str(message)[:5000],
                    challenger_version=challenger_version,
                    champion_version=champion_version,
                    run_id=run_id,
                    pipeline_run_id=pipeline_run_id,
                    delivery=delivery,
                )
            )
        record = self.get(gate_id)
        what = (
            f"{model} v{challenger_version}" if challenger_version else f"a challenger for {model}"
        )
        against = f"v{champion_version}" if champion_version else "no champion yet"
        self._timeline.record(
            record.project,
            "gate_passed" if passed else "gate_failed",
            f"Gate {'passed' if passed else 'failed'} for {what} against {against}: {message}"
            + ("" if passed or challenger_version is None else " No delivery starts."),
            figures={"figures": [_figure_dict(f) for f in figures]},
            gate_id=gate_id,
            run_id=pipeline_run_id or run_id,
            model=model,
            version=challenger_version,
        )
        return record

    def get(self, gate_id: str) -> GateRecord:
        with self._db.session() as session:
            row = session.get(GateRow, gate_id) if isinstance(gate_id, str) else None
            if row is None:
                raise NotFound(f"No gate {gate_id!r}.")
            return self._gate(row)

    def list(
        self, project: str, *, model: str | None = None, limit: int = 100
    ) -> builtins.list[GateRecord]:
        project_row = self._projects.get(project)
        query = (
            select(GateRow)
            .where(GateRow.project_id == project_row.id)
            .order_by(GateRow.created_at.desc())
            .limit(max(1, min(limit, 1000)))
        )
        if model is not None:
            query = query.where(GateRow.model == model)
        with self._db.session() as session:
            return [self._gate(r) for r in session.scalars(query)]

    def _gate(self, row: GateRow) -> GateRecord:
        return GateRecord(
            id=row.id,
            project=self._projects.get_by_id(row.project_id).name,
            model=row.model,
            passed=row.passed,
            figures=tuple(GateFigure(**f) for f in json.loads(row.figures)),
            message=row.message,
            created_at=row.created_at,
            challenger_version=row.challenger_version,
            champion_version=row.champion_version,
            run_id=row.run_id,
            pipeline_run_id=row.pipeline_run_id,
            delivery=row.delivery,
        )


def _figure_dict(figure: GateFigure) -> dict[str, Any]:
    return {
        "metric": figure.metric,
        "rule": figure.rule,
        "challenger": figure.challenger,
        "champion": figure.champion,
        "delta": figure.delta,
        "passed": figure.passed,
        "note": figure.note,
        "data": figure.data,
    }
