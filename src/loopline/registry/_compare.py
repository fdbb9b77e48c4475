"""Comparing model versions side by side: metrics, signature, flavor, libraries, data."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from loopline.registry._types import ModelVersion

__all__ = ["ModelComparison", "compare_versions"]


@dataclass(frozen=True, slots=True)
class ModelComparison:
    """Versions of a model side by side; each tuple holds one value per version, in order.

    Attributes:
        metrics: every metric any version has (``None`` where one lacks it).
        differences: the fields whose values are not all equal (``flavor``, ``signature``,
            ``training_data``, ``libraries``, ``requirements``, ``status``, ``size``).
    """

    versions: tuple[ModelVersion, ...]
    metrics: dict[str, tuple[float | None, ...]] = field(default_factory=dict)
    differences: tuple[str, ...] = ()

    def metric_delta(self, key: str) -> float | None:
        """Last version's value minus the first's (``None`` if either lacks the metric)."""
        values = self.metrics.get(key)
        if not values or values[0] is None or values[-1] is None:
            return None
        return values[-1] - values[0]

    def to_markdown(self) -> str:
        """The comparison as a Markdown table."""
        head = "| | " + " | ".join(f"v{v.number}" for v in self.versions) + " |"
        rule = "| --- |" + " ---: |" * len(self.versions)
        rows = [head, rule]
        rows.append("| status | " + " | ".join(v.status for v in self.versions) + " |")
        rows.append("| flavor | " + " | ".join(v.flavor for v in self.versions) + " |")
        rows.append(
            "| aliases | " + " | ".join(", ".join(v.aliases) or "-" for v in self.versions) + " |"
        )
        for key, values in self.metrics.items():
            cells = " | ".join("-" if x is None else f"{x:.6g}" for x in values)
            rows.append(f"| {key} | {cells} |")
        if self.differences:
            rows.append("")
            rows.append("Also different: " + ", ".join(self.differences) + ".")
        return "\n".join(rows)


def compare_versions(versions: Sequence[ModelVersion]) -> ModelComparison:
    """Line ``versions`` up (see :class:`ModelComparison`)."""
    keys = sorted({k for v in versions for k in v.metrics})
    metrics = {k: tuple(v.metrics.get(k) for v in versions) for k in keys}
    checks: dict[str, list[object]] = {
        "flavor": [v.flavor for v in versions],
        "status": [v.status for v in versions],
        "signature": [v.signature for v in versions],
        "training_data": [[t.ref for t in v.training_data] for v in versions],
        "libraries": [v.libraries for v in versions],
        "requirements": [v.requirements for v in versions],
        "size": [v.size for v in versions],
    }
    differences = tuple(
        name for name, values in checks.items() if any(x != values[0] for x in values)
    )
    return ModelComparison(tuple(versions), metrics, differences)
