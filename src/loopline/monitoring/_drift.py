"""Data drift: compare current data with a reference profile, column by column.

Each column gets one *method*, chosen by its type (numeric or categorical) unless named:

==================  ===========================================  ==========================
method              what it measures                             drift when
==================  ===========================================  ==========================
``ks`` (numeric)    two-sample Kolmogorov-Smirnov test           q < alpha and effect >= floor
``chisquare`` (cat) two-sample chi-square test (2 x k table)     q < alpha and effect >= floor
``wasserstein``     Wasserstein-1 distance / reference std       score >= 0.1
``psi``             population stability index (deciles/shares) score >= 0.1
``jensenshannon``   Jensen-Shannon distance (base 2) of shares   score >= 0.1
==================  ===========================================  ==========================

The two tests (the defaults) are made right where popular tools are not:

- **A true two-sample chi-square.** The reference is a sample too: its counts and the current
  counts form a 2 x k contingency table (as ``scipy.stats.chi2_contingency`` without Yates'
  correction). Treating the reference shares as exact, as a one-sample goodness-of-fit test
  does, underestimates the variance and flags unchanged columns when the reference is small.
  Categories too rare for the chi-square approximation (an expected count under 5 in either
  row) are pooled first.
- **A correction for testing many columns at once.** The p-values of all tested columns are
  adjusted with Benjamini-Hochberg (``q_value``): with 50 unchanged columns and
  ``alpha = 0.05``, the chance that *any* is flagged stays near 5 %, not 92 %.
- **An effect-size floor.** A test on a huge window finds any difference significant; a
  column drifts only if the difference is also large enough to matter: a Wasserstein-1
  distance of at least ``0.1`` reference standard deviations (numeric), or a total variation
  distance of at least ``0.05`` (categorical: 5 percentage points of the rows changed
  category). A 0.2-SD shift (effect 0.2) or a 10-point category shift (effect 0.10) is
  caught; a 0.02-SD shift in a million rows is not.

The KS statistic is computed exactly against the reference sketch (see
:mod:`loopline.monitoring._reference`): exact when the reference has at most ``bins``
distinct values, within ``1/bins`` otherwise. Its p-value is Smirnov's distribution
(``scipy.stats.kstwo`` at ``n*m/(n+m)``), as ``scipy.stats.ks_2samp(method="asymp")``.
A column with fewer than ``min_rows`` (30) current values is not judged.

The dataset drifts when the share of drifted columns reaches ``drift_share`` (0.5).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from loopline.errors import InvalidInput, did_you_mean
from loopline.monitoring._reference import (
    CategoryCounts,
    FloatArray,
    NumericSketch,
    ReferenceProfile,
    category_counts,
    column_kind,
    column_names,
    column_of,
    num_rows,
    numeric_values,
    workers,
)

if TYPE_CHECKING:
    from datetime import datetime

    import pandas as pd
    import pyarrow as pa

    from loopline.monitoring._evaluation import EvaluationStore

__all__ = [
    "DriftOptions",
    "DriftReport",
    "Method",
    "NUMERIC_METHODS",
    "CATEGORICAL_METHODS",
    "compare",
    "drift_report",
    "endpoint_drift",
    "benjamini_hochberg",
]

Method = Literal["ks", "wasserstein", "psi", "chisquare", "jensenshannon"]
NUMERIC_METHODS: tuple[Method, ...] = ("ks", "wasserstein", "psi")
CATEGORICAL_METHODS: tuple[Method, ...] = ("chisquare", "jensenshannon", "psi")
TESTS = frozenset({"ks", "chisquare"})
PSI_EPSILON = 1e-4  # shares of empty bins, so the logarithm stays finite
MIN_EXPECTED = 5.0  # the chi-square approximation's usual rule
CHART_BINS = 30
CHART_CATEGORIES = 12


@dataclass(frozen=True, slots=True)
class DriftOptions:
    """The thresholds of a drift report, with their documented defaults.

    Attributes:
        alpha: false discovery rate of the tests (``ks``, ``chisquare``), after the
            Benjamini-Hochberg correction across columns.
        numeric_effect_floor: the least Wasserstein-1 distance, in reference standard
            deviations, that a numeric column must move to drift under ``ks``.
        categorical_effect_floor: the least total variation distance (share of rows that
            changed category) that a categorical column must move to drift under ``chisquare``.
        wasserstein_threshold: drift threshold of the ``wasserstein`` method.
        psi_threshold: drift threshold of the ``psi`` method.
        jensenshannon_threshold: drift threshold of the ``jensenshannon`` method.
        drift_share: the share of drifted columns at which the dataset drifts.
        min_rows: the fewest current values a column needs to be judged.
        numeric_method: the method for numeric columns not named in ``methods``.
        categorical_method: the method for categorical columns not named in ``methods``.
        methods: a method per column, overriding the two above.
    """

    alpha: float = 0.05
    numeric_effect_floor: float = 0.1
    categorical_effect_floor: float = 0.05
    wasserstein_threshold: float = 0.1
    psi_threshold: float = 0.1
    jensenshannon_threshold: float = 0.1
    drift_share: float = 0.5
    min_rows: int = 30
    numeric_method: Method = "ks"
    categorical_method: Method = "chisquare"
    methods: Mapping[str, Method] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("alpha", "drift_share"):
            value = getattr(self, name)
            if not 0 < value <= 1:
                raise InvalidInput(f"{name}={value!r}: expected a number in (0, 1].")
        for name in (
            "numeric_effect_floor",
            "categorical_effect_floor",
            "wasserstein_threshold",
            "psi_threshold",
            "jensenshannon_threshold",
        ):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and value >= 0 and math.isfinite(value)):
                raise InvalidInput(f"{name}={value!r}: expected a number >= 0.")
        if self.min_rows < 1:
            raise InvalidInput(f"min_rows={self.min_rows!r}: expected at least 1.")
        _check_method(self.numeric_method, NUMERIC_METHODS, "numeric_method")
        _check_method(self.categorical_method, CATEGORICAL_METHODS, "categorical_method")
        for column, method in self.methods.items():
            _check_method(method, (*NUMERIC_METHODS, "chisquare", "jensenshannon"), column)

    def threshold(self, method: Method) -> float:
        return {
            "ks": self.alpha,
            "chisquare": self.alpha,
            "wasserstein": self.wasserstein_threshold,
            "psi": self.psi_threshold,
            "jensenshannon": self.jensenshannon_threshold,
        }[method]


def _check_method(method: object, allowed: Sequence[str], what: str) -> None:
    if method not in allowed:
        raise InvalidInput(
            f"Drift method {method!r} for {what} is not one of {', '.join(allowed)}."
            f"{did_you_mean(str(method), allowed)}"
        )


@dataclass(slots=True)
class _Row:
    column: str
    kind: str
    method: Method | None = None
    statistic: float = math.nan
    p_value: float = math.nan
    q_value: float = math.nan
    effect: float = math.nan
    effect_floor: float = math.nan
    threshold: float = math.nan
    drift: bool = False
    reference_count: int = 0
    current_count: int = 0
    reference_null_share: float = math.nan
    current_null_share: float = math.nan
    wasserstein: float = math.nan
    psi: float = math.nan
    jensenshannon: float = math.nan
    note: str = ""
    # For the p-values: the KS statistic, the chi-square and its degrees of freedom.
    ks: float = math.nan
    chi2: float = math.nan
    dof: int = 0
    chart: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, eq=False)
class DriftReport:
    """Per-column drift results and the dataset's verdict.

    Attributes:
        columns: one row per column: ``column``, ``kind``, ``method``, ``statistic`` (KS D,
            chi-square, or the score), ``p_value``, ``q_value`` (Benjamini-Hochberg),
            ``effect`` (Wasserstein / std, or total variation distance), ``effect_floor``,
            ``threshold``, ``drift``, counts and null shares, the other scores
            (``wasserstein``, ``psi``, ``jensenshannon``) and a ``note``.
        drift: whether the dataset drifts (the share of drifted columns >= ``drift_share``).
        drift_share: the share of judged columns that drift.
        options: the thresholds used.
    """

    columns: pd.DataFrame
    drift: bool
    drift_share: float
    options: DriftOptions
    reference_rows: int
    current_rows: int
    charts: dict[str, dict[str, Any]]
    title: str = "Data drift"

    @property
    def drifted(self) -> list[str]:
        """The names of the drifted columns."""
        return [str(c) for c in self.columns.loc[self.columns["drift"], "column"]]

    def to_dict(self) -> dict[str, Any]:
        """The verdicts as plain data (JSON-ready: NaN becomes None)."""
        rows = self.columns.astype(object).where(self.columns.notna(), None)
        return {
            "drift": self.drift,
            "drift_share": self.drift_share,
            "drifted": self.drifted,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "options": {
                **{k: getattr(self.options, k) for k in self.options.__dataclass_fields__},
                "methods": dict(self.options.methods),
            },
            "columns": rows.to_dict(orient="records"),
        }

    def to_html(self) -> str:
        """A self-contained HTML page: the verdicts and a chart per column (inline SVG)."""
        from loopline.monitoring._drift_html import render

        return render(self)

    def save_html(self, path: str | Path) -> Path:
        """Write :meth:`to_html` to ``path``; return the path."""
        target = Path(path)
        target.write_text(self.to_html(), encoding="utf-8")
        return target

    def _repr_html_(self) -> str:
        return self.to_html()

    def __repr__(self) -> str:
        judged = int(self.columns["method"].notna().sum())
        verdict = "drift" if self.drift else "no drift"
        return (
            f"DriftReport({verdict}: {len(self.drifted)} of {judged} columns drifted "
            f"({self.drift_share:.0%}), {self.drifted[:5]})"
        )


def compare(
    reference: ReferenceProfile,
    current: pd.DataFrame | pa.Table,
    *,
    columns: Sequence[str] | None = None,
    options: DriftOptions | None = None,
    title: str = "Data drift",
) -> DriftReport:
    """Compare ``current`` data with the ``reference`` profile; see the module doc."""
    options = options or DriftOptions()
    names = _columns_to_compare(reference, current, columns, options)
    present = set(column_names(current))

    def one(name: str) -> _Row:
        sketch = reference.columns[name]
        if name not in present:
            return _Row(name, sketch.kind, note="not in the current data")
        return _compare_column(name, sketch, column_of(current, name), options)

    with ThreadPoolExecutor(workers()) as pool:
        rows = list(pool.map(one, names))
    for name, why in reference.skipped.items():
        if columns is None or name in columns:
            rows.append(_Row(name, "skipped", note=why))
    _p_values(rows)
    _verdicts(rows, options)
    return _report(rows, reference, current, options, title)


def _columns_to_compare(
    reference: ReferenceProfile,
    current: Any,
    columns: Sequence[str] | None,
    options: DriftOptions,
) -> list[str]:
    known = list(reference.columns)
    if columns is None:
        names = known
    else:
        if isinstance(columns, str):
            columns = [columns]
        missing = [c for c in columns if c not in reference.columns and c not in reference.skipped]
        if missing:
            raise InvalidInput(
                f"Column {missing[0]!r} is not in the reference.{did_you_mean(missing[0], known)}"
            )
        names = [c for c in columns if c in reference.columns]
    for name in options.methods:
        if name not in reference.columns:
            raise InvalidInput(
                f"methods names column {name!r}, which the reference does not have."
                f"{did_you_mean(name, known)}"
            )
    column_names(current)  # a clear error for something that is not a table
    return names


def _compare_column(name: str, sketch: Any, column: Any, options: DriftOptions) -> _Row:
    if isinstance(sketch, NumericSketch):
        method = options.methods.get(name, options.numeric_method)
        if method not in NUMERIC_METHODS:
            raise InvalidInput(
                f"Column {name!r} is numeric: its method is one of {', '.join(NUMERIC_METHODS)}, "
                f"not {method!r}."
            )
        if column_kind(column) == "categorical":
            import pandas as pd

            column = pd.to_numeric(_as_pandas(column), errors="coerce")
        values, nulls = numeric_values(column)
        finite = values[np.isfinite(values)]
        return _numeric_row(name, sketch, finite, nulls + values.size - finite.size, method,
                            options)  # fmt: skip
    assert isinstance(sketch, CategoryCounts)
    method = options.methods.get(name, options.categorical_method)
    if method not in CATEGORICAL_METHODS:
        raise InvalidInput(
            f"Column {name!r} is categorical: its method is one of "
            f"{', '.join(CATEGORICAL_METHODS)}, not {method!r}."
        )
    counts, nulls = category_counts(column)
    return _categorical_row(name, sketch, counts, nulls, method, options)


def _as_pandas(column: Any) -> Any:
    import pyarrow as pa

    if isinstance(column, pa.ChunkedArray | pa.Array):
        return column.to_pandas()
    return column


# -- numeric columns --


def _numeric_row(
    name: str,
    ref: NumericSketch,
    current: FloatArray,
    nulls: int,
    method: Method,
    options: DriftOptions,
) -> _Row:
    n, m = ref.count, int(current.size)
    row = _Row(
        name,
        "numeric",
        method=method,
        reference_count=n,
        current_count=m,
        reference_null_share=_share(ref.nulls, ref.nulls + n),
        current_null_share=_share(nulls, nulls + m),
    )
    if n == 0:
        row.method, row.note = None, "no values in the reference"
        return row
    if m < options.min_rows:
        row.method, row.note = None, f"too few current values ({m} < {options.min_rows})"
        return row
    ordered = np.sort(current)
    ks, wasserstein = ks_and_wasserstein(ref, ordered)
    row.ks = ks
    row.wasserstein = _normalised(wasserstein, ref, ordered)
    row.psi = _numeric_psi(ref, ordered)
    row.effect = row.wasserstein
    row.statistic = {"ks": ks, "wasserstein": row.wasserstein, "psi": row.psi}[method]
    row.chart = _numeric_chart(ref, ordered)
    return row


def ks_and_wasserstein(ref: NumericSketch, ordered: FloatArray) -> tuple[float, float]:
    """The KS statistic and the Wasserstein-1 distance between the reference sketch's CDF and
    the empirical CDF of ``ordered`` (sorted current values), both exact for the sketch."""
    m = float(ordered.size)
    repeats = ordered[1:] == ordered[:-1]
    if repeats.any():
        starts = np.flatnonzero(np.r_[True, ~repeats])
        points = ordered[starts]  # the distinct current values
        below = starts.astype(np.float64)  # current values < each point
        upto = np.r_[starts[1:], ordered.size].astype(np.float64)  # values <= each point
    else:
        points = ordered
        below = np.arange(ordered.size, dtype=np.float64)
        upto = below + 1.0
    cur_right, cur_left = upto / m, below / m
    ref_right, ref_left = ref.cdf_sorted(points)
    # At the reference's edges: the reference's exact counts, the current's by search.
    n = float(ref.count)
    edge_ref_right, edge_ref_left = ref.le / n, ref.lt / n
    edge_cur_right = np.searchsorted(ordered, ref.edges, side="right") / m
    edge_cur_left = np.searchsorted(ordered, ref.edges, side="left") / m
    if ref.coarse:
        # A histogram counts exactly the values below each edge, and all values at the last:
        # compare there only (how many sit on an edge is an estimate; see _reference).
        ks = max(
            float(np.max(np.abs(edge_ref_left[:-1] - edge_cur_left[:-1]), initial=0.0)),
            abs(1.0 - float(edge_cur_right[-1])),
        )
    else:
        ks = max(
            float(np.max(np.abs(edge_ref_right - edge_cur_right))),
            float(np.max(np.abs(edge_ref_left - edge_cur_left))),
        )
    if not ref.coarse:  # between the edges too, where the sketch is within 1/bins
        ks = max(
            ks,
            float(np.max(np.abs(ref_right - cur_right))),
            float(np.max(np.abs(ref_left - cur_left))),
        )
    # Wasserstein-1 = the area between the CDFs. Between two consecutive break points the
    # current CDF is flat and the reference's is linear, so each piece integrates exactly.
    at = np.concatenate([points, ref.edges])
    order = np.argsort(at, kind="stable")
    at = at[order]
    cur = np.concatenate([cur_right, edge_cur_right])[order]
    right = np.concatenate([ref_right, edge_ref_right])[order]
    left = np.concatenate([ref_left, edge_ref_left])[order]
    width = np.diff(at)
    a = right[:-1] - cur[:-1]
    b = left[1:] - cur[:-1]
    same_sign = a * b >= 0
    magnitude = np.abs(a) + np.abs(b)
    with np.errstate(invalid="ignore", divide="ignore"):
        crossing = np.where(magnitude > 0, (a * a + b * b) / (2 * magnitude), 0.0)
    area = np.where(same_sign, magnitude / 2, crossing) * width
    return ks, float(area.sum())


def _normalised(wasserstein: float, ref: NumericSketch, ordered: FloatArray) -> float:
    if ref.std > 0:
        return wasserstein / ref.std
    # A constant reference: the share of current values that differ from its value.
    return float(np.mean(ordered != ref.edges[0]))


def _numeric_psi(ref: NumericSketch, ordered: FloatArray) -> float:
    cuts = np.unique(ref.quantile(np.linspace(0.1, 0.9, 9)))
    ref_cdf = np.r_[0.0, ref.cdf(cuts)[0], 1.0]
    cur_cdf = np.r_[0.0, np.searchsorted(ordered, cuts, side="right") / ordered.size, 1.0]
    return _psi(np.diff(ref_cdf), np.diff(cur_cdf))


def _numeric_chart(ref: NumericSketch, ordered: FloatArray) -> dict[str, Any]:
    last = ordered.size - 1
    low = min(float(ref.quantile(np.asarray([0.005]))[0]), float(ordered[int(0.005 * last)]))
    high = max(float(ref.quantile(np.asarray([0.995]))[0]), float(ordered[int(0.995 * last)]))
    if not high > low:
        high = low + 1.0
    edges = np.linspace(low, high, CHART_BINS + 1)
    inner = edges[1:-1]
    ref_cdf = np.r_[0.0, ref.cdf(inner)[0], 1.0]
    cur_cdf = np.r_[0.0, np.searchsorted(ordered, inner, side="right") / ordered.size, 1.0]
    return {
        "kind": "numeric",
        "edges": edges.tolist(),
        "reference": np.diff(ref_cdf).tolist(),
        "current": np.diff(cur_cdf).tolist(),
        "reference_mean": ref.mean,
        "current_mean": float(ordered.mean()),
    }


# -- categorical columns --


def _categorical_row(
    name: str,
    ref: CategoryCounts,
    counts: Mapping[str, int],
    nulls: int,
    method: Method,
    options: DriftOptions,
) -> _Row:
    labels, r, c = align_categories(ref, counts)
    n, m = int(r.sum()), int(c.sum())
    row = _Row(
        name,
        "categorical",
        method=method,
        reference_count=n,
        current_count=m,
        reference_null_share=_share(ref.nulls, ref.nulls + n),
        current_null_share=_share(nulls, nulls + m),
    )
    if n == 0:
        row.method, row.note = None, "no values in the reference"
        return row
    if m < options.min_rows:
        row.method, row.note = None, f"too few current values ({m} < {options.min_rows})"
        return row
    p, q = r / n, c / m
    chi2, dof = two_sample_chi_square(r, c)
    row.chi2, row.dof = chi2, dof
    row.effect = 0.5 * float(np.abs(p - q).sum())
    row.jensenshannon = _jensen_shannon(p, q)
    row.psi = _psi(p, q)
    row.statistic = {"chisquare": chi2, "jensenshannon": row.jensenshannon, "psi": row.psi}[method]
    row.chart = _categorical_chart(labels, p, q)
    return row


def align_categories(
    ref: CategoryCounts, counts: Mapping[str, int]
) -> tuple[list[str], FloatArray, FloatArray]:
    """Reference and current counts on the same categories. Current values the reference
    did not count go to its ``other`` bucket when it has one, else to a ``(new)`` bucket."""
    index = {name: i for i, name in enumerate(ref.categories)}
    labels = list(ref.categories)
    r = ref.counts.astype(np.float64)
    c = np.zeros(len(labels))
    unseen = 0
    for value, count in counts.items():
        i = index.get(value)
        if i is None:
            unseen += count
        else:
            c[i] += count
    if ref.other or unseen:
        labels.append("(other)" if ref.other else "(new)")
        r = np.r_[r, float(ref.other)]
        c = np.r_[c, float(unseen)]
    return labels, r, c


def two_sample_chi_square(r: FloatArray, c: FloatArray) -> tuple[float, int]:
    """Pearson's chi-square of the 2 x k table ``[r, c]`` and its degrees of freedom, after
    pooling the categories whose expected count is under 5 in either row."""
    total = r + c
    keep = total > 0
    r, c, total = r[keep], c[keep], total[keep]
    n, m = r.sum(), c.sum()
    smaller = min(n, m) / (n + m)
    rare = total * smaller < MIN_EXPECTED
    if rare.any():
        pooled_r, pooled_c = r[rare].sum(), c[rare].sum()
        r, c, total = r[~rare], c[~rare], total[~rare]
        if (pooled_r + pooled_c) * smaller >= MIN_EXPECTED or r.size == 0:
            r, c = np.r_[r, pooled_r], np.r_[c, pooled_c]
        else:  # still too rare: fold into the smallest common category
            i = int(np.argmin(total))
            r[i] += pooled_r
            c[i] += pooled_c
        total = r + c
    if r.size < 2:
        return 0.0, 0
    expected_r = total * n / (n + m)
    expected_c = total * m / (n + m)
    chi2 = float(
        ((r - expected_r) ** 2 / expected_r).sum() + ((c - expected_c) ** 2 / expected_c).sum()
    )
    return chi2, int(r.size - 1)


def _jensen_shannon(p: FloatArray, q: FloatArray) -> float:
    mix = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log2(p / mix), 0.0).sum()
        kl_q = np.where(q > 0, q * np.log2(q / mix), 0.0).sum()
    return float(math.sqrt(max(0.0, (kl_p + kl_q) / 2)))


def _categorical_chart(labels: list[str], p: FloatArray, q: FloatArray) -> dict[str, Any]:
    order = np.argsort(-np.maximum(p, q), kind="stable")
    shown = order[:CHART_CATEGORIES]
    rest = order[CHART_CATEGORIES:]
    names = [labels[i] for i in shown]
    ref = p[shown].tolist()
    cur = q[shown].tolist()
    if rest.size:
        names.append(f"({rest.size} more)")
        ref.append(float(p[rest].sum()))
        cur.append(float(q[rest].sum()))
    return {"kind": "categorical", "labels": names, "reference": ref, "current": cur}


# -- shared --


def _psi(ref: FloatArray, cur: FloatArray) -> float:
    a = np.clip(ref, PSI_EPSILON, None)
    b = np.clip(cur, PSI_EPSILON, None)
    return float(((b - a) * np.log(b / a)).sum())


def _share(part: int, whole: int) -> float:
    return part / whole if whole else math.nan


def benjamini_hochberg(p_values: Iterable[float]) -> FloatArray:
    """Benjamini-Hochberg adjusted p-values (q-values), in the order given."""
    p = np.asarray(list(p_values), np.float64)
    if p.size == 0:
        return p
    order = np.argsort(p)
    ranked = p[order] * p.size / np.arange(1, p.size + 1)
    adjusted = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty_like(p)
    out[order] = np.clip(adjusted, 0.0, 1.0)
    return out


def _p_values(rows: list[_Row]) -> None:
    from scipy import stats  # type: ignore[import-untyped]

    ks = [r for r in rows if r.method is not None and r.kind == "numeric"]
    if ks:
        d = np.asarray([r.ks for r in ks])
        n = np.asarray([float(r.reference_count) for r in ks])
        m = np.asarray([float(r.current_count) for r in ks])
        effective = np.round(n * m / (n + m))
        p = np.clip(stats.kstwo.sf(d, effective), 0.0, 1.0)
        for row, value in zip(ks, p, strict=True):
            row.p_value = float(value)
    chi = [r for r in rows if r.method is not None and r.kind == "categorical"]
    if chi:
        statistic = np.asarray([r.chi2 for r in chi])
        dof = np.asarray([r.dof for r in chi])
        p = np.where(dof > 0, stats.chi2.sf(statistic, np.maximum(dof, 1)), 1.0)
        for row, value in zip(chi, p, strict=True):
            row.p_value = float(value)


def _verdicts(rows: list[_Row], options: DriftOptions) -> None:
    tested = [r for r in rows if r.method in TESTS]
    for row, q in zip(tested, benjamini_hochberg(r.p_value for r in tested), strict=True):
        row.q_value = float(q)
    for row in rows:
        if row.method is None:
            continue
        row.threshold = options.threshold(row.method)
        if row.method in TESTS:
            floor = (
                options.numeric_effect_floor
                if row.kind == "numeric"
                else options.categorical_effect_floor
            )
            row.effect_floor = floor
            row.drift = bool(row.q_value < options.alpha and row.effect >= floor)
        else:
            row.drift = bool(row.statistic >= row.threshold)


def _report(
    rows: list[_Row],
    reference: ReferenceProfile,
    current: Any,
    options: DriftOptions,
    title: str,
) -> DriftReport:
    import pandas as pd

    fields = [
        "column",
        "kind",
        "method",
        "statistic",
        "p_value",
        "q_value",
        "effect",
        "effect_floor",
        "threshold",
        "drift",
        "reference_count",
        "current_count",
        "reference_null_share",
        "current_null_share",
        "wasserstein",
        "psi",
        "jensenshannon",
        "note",
    ]
    frame = pd.DataFrame(
        {f: [getattr(r, f) for r in rows] for f in fields},
        columns=fields,
    )
    frame["drift"] = frame["drift"].astype(bool)
    judged = [r for r in rows if r.method is not None]
    share = sum(r.drift for r in judged) / len(judged) if judged else 0.0
    charts = {r.column: r.chart for r in rows if r.chart}
    return DriftReport(
        columns=frame,
        drift=bool(judged) and share >= options.drift_share,
        drift_share=float(share),
        options=options,
        reference_rows=reference.rows,
        current_rows=num_rows(current),
        charts=charts,
        title=title,
    )


def with_options(options: DriftOptions | None, **changes: Any) -> DriftOptions:
    """``options`` (or the defaults) with the given, non-None fields changed."""
    base = options or DriftOptions()
    given = {k: v for k, v in changes.items() if v is not None}
    return replace(base, **given) if given else base


def drift_report(
    reference: ReferenceProfile | pd.DataFrame | pa.Table | Mapping[str, Any] | str | Path,
    current: pd.DataFrame | pa.Table,
    *,
    columns: Sequence[str] | None = None,
    categorical: Iterable[str] = (),
    methods: Mapping[str, Method] | None = None,
    options: DriftOptions | None = None,
    title: str = "Data drift",
    **thresholds: Any,
) -> DriftReport:
    """Compare ``current`` with ``reference``: per-column verdicts and the dataset's.

    Args:
        reference: a :class:`ReferenceProfile`, a DataFrame or Arrow table (profiled here), a
            profile's JSON form (a mapping), or the path of a saved profile.
        current: the data to judge (a DataFrame or an Arrow table).
        columns: compare only these (default: every column of the reference).
        categorical: numeric columns to treat as categories (when profiling a DataFrame).
        methods: a method per column (``ks``, ``wasserstein``, ``psi``, ``chisquare``,
            ``jensenshannon``).
        options: thresholds; or give any :class:`DriftOptions` field as a keyword
            (``alpha=0.01``, ``numeric_effect_floor=0.2``, ...).

    Example:
        >>> report = drift_report(train_df, last_hour_df)
        >>> report.drift, report.drifted
        (False, [])
        >>> report.save_html("drift.html")  # doctest: +SKIP
    """
    unknown = sorted(set(thresholds) - set(DriftOptions.__dataclass_fields__) - {"methods"})
    if unknown:
        raise InvalidInput(
            f"drift_report() got an unknown option {unknown[0]!r}."
            f"{did_you_mean(unknown[0], list(DriftOptions.__dataclass_fields__))}"
        )
    options = with_options(options, methods=dict(methods) if methods else None, **thresholds)
    profile = as_reference(reference, columns=columns, categorical=categorical)
    return compare(profile, current, columns=columns, options=options, title=title)


def as_reference(
    reference: Any,
    *,
    columns: Sequence[str] | None = None,
    categorical: Iterable[str] = (),
) -> ReferenceProfile:
    """A :class:`ReferenceProfile` from any of the forms :func:`drift_report` takes."""
    import pandas as pd
    import pyarrow as pa

    if isinstance(reference, ReferenceProfile):
        return reference
    if isinstance(reference, pd.DataFrame | pa.Table):
        return ReferenceProfile.from_frame(
            reference, columns=columns, categorical=categorical, source="data"
        )
    if isinstance(reference, Mapping):
        return ReferenceProfile.from_dict(reference)
    if isinstance(reference, str | Path):
        return ReferenceProfile.load(reference)
    raise InvalidInput(
        f"A drift reference is a ReferenceProfile, a DataFrame, an Arrow table, a dataset "
        f"version, a profile's JSON or its path, not {type(reference).__name__}."
    )


def endpoint_drift(
    store: EvaluationStore,
    project: str,
    endpoint: str,
    reference: ReferenceProfile | pd.DataFrame | pa.Table | Mapping[str, Any] | str | Path,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    model: str | None = None,
    version: int | None = None,
    route: str | None = "primary",
    **options: Any,
) -> DriftReport:
    """Drift of one window of an endpoint's logged inputs against ``reference`` (the model
    version's training reference profile): the inputs of successful predictions with
    ``start <= ts < end``, compared column by column (see :func:`drift_report`).

    Example:
        >>> endpoint_drift(store, "demo", "churn-api", profile, start=monday, end=tuesday)
    """
    current = store.inputs(
        project, endpoint, start=start, end=end, model=model, version=version, route=route
    )
    profile = as_reference(reference)
    title = f"Drift of {endpoint} ({project})" + (f", version {version}" if version else "")
    if not any(c in current.columns for c in profile.columns) and len(current):
        raise InvalidInput(
            f"None of the reference's columns ({list(profile.columns)[:10]}) were logged as "
            f"inputs of {endpoint!r} in that window (it logged {list(current.columns)[:10]})."
        )
    # Reference columns the endpoint did not log are listed as "not in the current data".
    return drift_report(profile, current, title=title, **options)
