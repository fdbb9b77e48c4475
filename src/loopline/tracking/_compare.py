"""Comparing runs: which params differ, and each metric's summary side by side."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from loopline.errors import InvalidInput
from loopline.tracking._types import MetricSummary, Run

__all__ = ["RunComparison", "compare_runs"]


@dataclass(frozen=True, slots=True)
class RunComparison:
    """Runs side by side. ``params[key][i]`` is run ``i``'s value (None when it has none)."""

    runs: tuple[Run, ...]
    params: dict[str, tuple[str | None, ...]]
    metrics: dict[str, tuple[MetricSummary | None, ...]]

    @property
    def differing_params(self) -> list[str]:
        """Keys whose value is not the same in every run (missing counts as different)."""
        return [k for k, values in self.params.items() if len(set(values)) > 1]


def compare_runs(
    runs: Sequence[Run], summaries: Sequence[Sequence[MetricSummary]]
) -> RunComparison:
    """Line up ``runs`` (and each one's metric summaries, in the same order)."""
    if len(runs) < 2:
        raise InvalidInput("Compare needs at least two runs.")
    if len(runs) != len(summaries):
        raise ValueError("one list of summaries per run")
    param_keys = sorted({k for r in runs for k in r.params})
    metric_keys = sorted({s.key for per_run in summaries for s in per_run})
    by_run = [{s.key: s for s in per_run} for per_run in summaries]
    return RunComparison(
        runs=tuple(runs),
        params={k: tuple(r.params.get(k) for r in runs) for k in param_keys},
        metrics={k: tuple(m.get(k) for m in by_run) for k in metric_keys},
    )
