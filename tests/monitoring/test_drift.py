"""Drift statistics: right against scipy on raw data, no false alarms, real shifts caught."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import stats  # type: ignore[import-untyped]
from scipy.spatial.distance import jensenshannon  # type: ignore[import-untyped]

from loopline.errors import InvalidInput
from loopline.monitoring import DriftOptions, DriftReport, ReferenceProfile, drift_report
from loopline.monitoring._drift import benjamini_hochberg, two_sample_chi_square
from loopline.monitoring._reference import NumericSketch

LETTERS = np.array(list("abcdefgh"))


def _rows(report: DriftReport) -> dict[str, dict[str, Any]]:
    """The report's rows by column name, as plain values."""
    records = report.columns.to_dict(orient="records")
    return {str(r["column"]): {str(k): v for k, v in r.items()} for r in records}


def _row(report: DriftReport, column: str) -> dict[str, Any]:
    return _rows(report)[column]


def _categories(rng: np.random.Generator, n: int, shares: list[float]) -> np.ndarray:
    return LETTERS[rng.choice(len(shares), size=n, p=shares)]


# -- the statistics, against scipy on the raw data --


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("sizes", [(50, 40), (800, 300), (1000, 5000)])
def test_ks_matches_scipy_when_the_reference_is_exact(seed: int, sizes: tuple[int, int]) -> None:
    rng = np.random.default_rng(seed)
    ref = rng.normal(size=sizes[0])
    cur = rng.normal(0.1 * seed, 1, size=sizes[1])
    report = drift_report(pd.DataFrame({"x": ref}), pd.DataFrame({"x": cur}))
    row = _row(report, "x")
    expected = stats.ks_2samp(ref, cur, method="asymp")
    assert row["statistic"] == pytest.approx(expected.statistic, abs=1e-12)
    assert row["p_value"] == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-300)
    wasserstein = stats.wasserstein_distance(ref, cur) / ref.std()
    assert row["wasserstein"] == pytest.approx(wasserstein, rel=1e-9)


@pytest.mark.parametrize("seed", range(3))
def test_ks_matches_scipy_on_discrete_values_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    ref = rng.poisson(3, size=4000).astype(float)
    cur = rng.poisson(3.3, size=700).astype(float)
    row = _row(drift_report(pd.DataFrame({"x": ref}), pd.DataFrame({"x": cur})), "x")
    expected = stats.ks_2samp(ref, cur, method="asymp")
    assert row["statistic"] == pytest.approx(expected.statistic, abs=1e-12)
    assert row["p_value"] == pytest.approx(expected.pvalue, rel=1e-9)
    assert row["wasserstein"] == pytest.approx(
        stats.wasserstein_distance(ref, cur) / ref.std(), rel=1e-9
    )


@pytest.mark.parametrize("seed", range(3))
def test_a_sketched_reference_stays_within_its_documented_error(seed: int) -> None:
    rng = np.random.default_rng(seed)
    ref = np.r_[rng.lognormal(size=30_000), np.zeros(5_000)]  # skewed, with an atom at 0
    cur = np.r_[rng.lognormal(0.05, 1, size=8_000), np.zeros(1_500)]
    profile = ReferenceProfile.from_frame(pd.DataFrame({"x": ref}), bins=1000)
    sketch = profile.columns["x"]
    assert isinstance(sketch, NumericSketch)
    assert not sketch.exact
    row = _row(drift_report(profile, pd.DataFrame({"x": cur})), "x")
    expected = stats.ks_2samp(ref, cur, method="asymp").statistic
    assert abs(row["statistic"] - expected) <= 1 / 1000 + 1e-9
    wasserstein = stats.wasserstein_distance(ref, cur) / ref.std()
    assert row["wasserstein"] == pytest.approx(wasserstein, rel=0.02)


@pytest.mark.parametrize("seed", range(5))
def test_chi_square_is_the_two_sample_contingency_test(seed: int) -> None:
    rng = np.random.default_rng(seed)
    shares = [0.4, 0.3, 0.2, 0.1]
    ref = _categories(rng, 300, shares)
    cur = _categories(rng, 200, [0.35, 0.3, 0.25, 0.1])
    row = _row(drift_report(pd.DataFrame({"c": ref}), pd.DataFrame({"c": cur})), "c")
    table = np.array(
        [
            pd.Series(ref).value_counts().sort_index().to_numpy(),
            pd.Series(cur).value_counts().sort_index().to_numpy(),
        ]
    )
    chi2, p, _, _ = stats.chi2_contingency(table, correction=False)
    assert row["statistic"] == pytest.approx(chi2, rel=1e-9)
    assert row["p_value"] == pytest.approx(p, rel=1e-9)
    assert row["effect"] == pytest.approx(0.5 * np.abs(table[0] / 300 - table[1] / 200).sum())
    assert row["jensenshannon"] == pytest.approx(
        float(jensenshannon(table[0] / 300, table[1] / 200, base=2))
    )


def test_rare_categories_are_pooled_before_the_chi_square() -> None:
    ref = np.array([500.0, 400.0, 3.0, 2.0])
    cur = np.array([50.0, 40.0, 1.0, 0.0])
    chi2, dof = two_sample_chi_square(ref, cur)
    # The two rare categories (5 and 1 rows in all) are too rare even pooled, so they join
    # the smallest common category: a 2 x 2 table.
    assert dof == 1
    expected = stats.chi2_contingency(np.array([[500, 405], [50, 41]]), correction=False).statistic
    assert chi2 == pytest.approx(expected)


def test_benjamini_hochberg_matches_scipy() -> None:
    p = np.random.default_rng(0).uniform(size=40) ** 3
    assert benjamini_hochberg(p) == pytest.approx(stats.false_discovery_control(p))


# -- no false alarms on unchanged columns --


def test_unchanged_columns_at_small_sizes_are_rarely_flagged() -> None:
    """Over 200 windows of 100 rows against references of 200 rows, with 6 unchanged columns
    each, at most about alpha (5 %) of the reports may flag anything."""
    alarms = 0
    for seed in range(200):
        rng = np.random.default_rng(seed)

        def frame(n: int, rng: np.random.Generator = rng) -> pd.DataFrame:
            return pd.DataFrame(
                {
                    "x": rng.normal(size=n),
                    "y": rng.exponential(size=n),
                    "z": rng.integers(0, 4, size=n),
                    "c": _categories(rng, n, [0.5, 0.3, 0.15, 0.05]),
                    "d": _categories(rng, n, [0.9, 0.1]),
                    "e": _categories(rng, n, [0.2] * 5),
                }
            )

        report = drift_report(frame(200), frame(100))
        alarms += bool(report.drifted)
    assert alarms <= 16  # 10 expected at 5 %; a binomial(200, 0.05) exceeds 16 under 3 %


def test_a_small_reference_does_not_make_unchanged_categories_drift() -> None:
    """What a one-sample chi-square gets wrong: with 60 reference rows taken as exact shares,
    1,000 current rows of the same distribution are flagged far more often than alpha."""
    ours = naive = 0
    for seed in range(200):
        rng = np.random.default_rng(seed)
        shares = [0.4, 0.3, 0.2, 0.1]
        ref, cur = _categories(rng, 60, shares), _categories(rng, 1000, shares)
        report = drift_report(pd.DataFrame({"c": ref}), pd.DataFrame({"c": cur}))
        ours += bool(report.drifted)
        r = pd.Series(ref).value_counts().reindex(list("abcd"), fill_value=0).to_numpy()
        c = pd.Series(cur).value_counts().reindex(list("abcd"), fill_value=0).to_numpy()
        expected = np.clip(r / r.sum(), 1e-4, None) * c.sum()
        naive += bool(stats.chisquare(c, expected * c.sum() / expected.sum()).pvalue < 0.05)
    assert ours <= 16
    assert naive > 3 * ours + 20  # the one-sample test's false alarms, for contrast


@pytest.mark.parametrize("seed", range(2))
def test_huge_unchanged_windows_and_trivial_shifts_are_not_flagged(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 1_000_000

    def frame(mean: float, shares: list[float]) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "same": rng.normal(size=n),
                "tiny": rng.normal(mean, 1, size=n),
                "cat_same": _categories(rng, n, [0.5, 0.3, 0.2]),
                "cat_tiny": _categories(rng, n, shares),
            }
        )

    reference = frame(0.0, [0.5, 0.3, 0.2])
    current = frame(0.03, [0.47, 0.33, 0.2])  # 0.03 SD, 3 points: significant, trivial
    report = drift_report(reference, current)
    assert report.drifted == []
    rows = _rows(report)
    assert rows["tiny"]["q_value"] < 1e-6
    assert rows["cat_tiny"]["q_value"] < 1e-6


# -- real shifts are caught --


@pytest.mark.parametrize("seed", range(10))
def test_a_fifth_of_a_standard_deviation_and_ten_points_are_caught(seed: int) -> None:
    """Among 30 unchanged columns (so the correction for many tests is in play)."""
    rng = np.random.default_rng(seed)

    def frame(n: int, drifted: bool) -> pd.DataFrame:
        columns = {f"n{i}": rng.normal(size=n) for i in range(20)}
        columns |= {f"c{i}": _categories(rng, n, [0.4, 0.3, 0.2, 0.1]) for i in range(10)}
        columns["shifted"] = rng.normal(0.2 if drifted else 0.0, 1, size=n)
        shares = [0.3, 0.4, 0.2, 0.1] if drifted else [0.4, 0.3, 0.2, 0.1]
        columns["moved"] = _categories(rng, n, shares)
        return pd.DataFrame(columns)

    report = drift_report(frame(10_000, False), frame(3_000, True))
    assert report.drifted == ["shifted", "moved"]
    assert report.drift_share == pytest.approx(2 / 32)
    assert report.drift is False


def test_a_change_of_spread_is_caught() -> None:
    rng = np.random.default_rng(7)
    ref = pd.DataFrame({"x": rng.normal(size=3000)})
    cur = pd.DataFrame({"x": rng.normal(0, 1.5, size=800)})
    assert drift_report(ref, cur).drifted == ["x"]


# -- invariants --

# Whole numbers as floats: shifting them is exact, so a shift cannot merge two values.
_values = hnp.arrays(np.float64, st.integers(30, 300), elements=st.integers(-(10**6), 10**6))


@settings(max_examples=60)
@given(ref=_values, cur=_values, shift=st.integers(-1000, 1000))
def test_statistics_stay_in_range_and_ignore_a_common_shift(
    ref: np.ndarray, cur: np.ndarray, shift: float
) -> None:
    a = drift_report(pd.DataFrame({"x": ref}), pd.DataFrame({"x": cur}))
    row = _row(a, "x")
    assert 0 <= row["statistic"] <= 1
    assert 0 <= row["p_value"] <= 1
    assert row["q_value"] >= row["p_value"] - 1e-15
    assert row["wasserstein"] >= 0
    assert row["psi"] >= 0
    if ref.std() > 0:
        b = drift_report(pd.DataFrame({"x": ref + shift}), pd.DataFrame({"x": cur + shift}))
        assert _row(b, "x")["statistic"] == pytest.approx(row["statistic"], abs=1e-9)


@settings(max_examples=40)
@given(ref=_values)
def test_data_compared_with_itself_never_drifts(ref: np.ndarray) -> None:
    frame = pd.DataFrame({"x": ref, "c": np.where(ref > np.median(ref), "hi", "lo")})
    report = drift_report(frame, frame)
    assert report.drifted == []
    rows = _rows(report)
    assert rows["x"]["statistic"] == pytest.approx(0.0, abs=1e-12)
    assert rows["x"]["wasserstein"] == pytest.approx(0.0, abs=1e-9)
    assert rows["c"]["statistic"] == pytest.approx(0.0, abs=1e-9)


@settings(max_examples=30)
@given(
    p=hnp.arrays(np.float64, st.integers(1, 60), elements=st.floats(0, 1)),
)
def test_benjamini_hochberg_invariants(p: np.ndarray) -> None:
    q = benjamini_hochberg(p)
    assert np.all(q >= p - 1e-15)
    assert np.all(q <= 1)
    order = np.argsort(p, kind="stable")
    assert np.all(np.diff(q[order]) >= -1e-15)


@settings(max_examples=30)
@given(ref=_values, cur=_values)
def test_a_saved_profile_gives_the_same_verdicts(ref: np.ndarray, cur: np.ndarray) -> None:
    reference = pd.DataFrame({"x": ref, "c": (ref > 0).astype(str)})
    current = pd.DataFrame({"x": cur, "c": (cur > 0).astype(str)})
    profile = ReferenceProfile.from_frame(reference)
    again = ReferenceProfile.from_dict(json.loads(profile.to_json()))
    a, b = drift_report(profile, current), drift_report(again, current)
    pd.testing.assert_frame_equal(a.columns, b.columns)


# -- behaviour around the edges --


def test_methods_and_thresholds_can_be_chosen() -> None:
    rng = np.random.default_rng(3)
    ref = pd.DataFrame({"x": rng.normal(size=2000), "c": _categories(rng, 2000, [0.5, 0.5])})
    cur = pd.DataFrame({"x": rng.normal(0.3, 1, 1000), "c": _categories(rng, 1000, [0.4, 0.6])})
    report = drift_report(ref, cur, methods={"x": "psi", "c": "jensenshannon"})
    rows = _rows(report)
    assert [r["method"] for r in rows.values()] == ["psi", "jensenshannon"]
    assert rows["x"]["statistic"] == rows["x"]["psi"]
    assert rows["x"]["threshold"] == 0.1
    assert math.isnan(rows["x"]["q_value"])
    strict = drift_report(ref, cur, numeric_method="wasserstein", wasserstein_threshold=0.5)
    assert "x" not in strict.drifted
    assert drift_report(ref, cur, alpha=1e-300).drifted == []
    with pytest.raises(InvalidInput, match="'chisquare'"):
        drift_report(ref, cur, methods={"x": "chisquare"})
    with pytest.raises(InvalidInput, match="Did you mean 'alpha'"):
        drift_report(ref, cur, alpah=0.1)
    with pytest.raises(InvalidInput, match="Did you mean 'ks'"):
        drift_report(ref, cur, methods={"x": "kss"})  # type: ignore[dict-item]
    with pytest.raises(InvalidInput, match="alpha"):
        DriftOptions(alpha=0)
    with pytest.raises(InvalidInput, match="Did you mean 'x'"):
        drift_report(ref, cur, columns=["xx"])


def test_missing_skipped_and_small_columns_are_reported_not_judged() -> None:
    rng = np.random.default_rng(4)
    ref = pd.DataFrame(
        {
            "x": rng.normal(size=500),
            "gone": rng.normal(size=500),
            "when": pd.date_range("2026-01-01", periods=500, freq="h"),
            "sparse": rng.normal(size=500),
        }
    )
    cur = pd.DataFrame({"x": rng.normal(size=200), "sparse": [1.0] * 10 + [None] * 190})
    cur["when"] = pd.Timestamp("2026-02-01")
    rows = _rows(drift_report(ref, cur))
    assert rows["gone"]["note"] == "not in the current data"
    assert "not compared" in rows["when"]["note"]
    assert rows["sparse"]["note"] == "too few current values (10 < 30)"
    assert rows["sparse"]["current_null_share"] == pytest.approx(0.95)
    assert [name for name, r in rows.items() if isinstance(r["method"], str)] == ["x"]


def test_categories_unseen_in_the_reference_count_as_drift() -> None:
    rng = np.random.default_rng(5)
    ref = pd.DataFrame({"c": _categories(rng, 3000, [0.5, 0.5])})
    cur = pd.DataFrame({"c": np.r_[_categories(rng, 900, [0.5, 0.5]), ["brand-new"] * 100]})
    report = drift_report(ref, cur)
    assert report.drifted == ["c"]
    assert "(new)" in report.charts["c"]["labels"]


def test_booleans_and_numeric_codes_as_categories() -> None:
    rng = np.random.default_rng(6)
    ref = pd.DataFrame({"flag": rng.uniform(size=2000) < 0.3, "code": rng.integers(1, 4, 2000)})
    cur = pd.DataFrame({"flag": rng.uniform(size=1000) < 0.5, "code": rng.integers(1, 4, 1000)})
    report = drift_report(ref, cur, categorical=["code"])
    rows = _rows(report)
    assert [r["kind"] for r in rows.values()] == ["categorical", "categorical"]
    assert report.drifted == ["flag"]


def test_a_dataset_profile_errs_towards_no_drift() -> None:
    """A coarse (20-bin) dataset profile reads a smaller KS statistic than the fine one."""
    import pyarrow as pa

    from loopline.datasets._profile import profile_table

    rng = np.random.default_rng(8)
    ref = pd.DataFrame({"x": rng.normal(size=20_000), "c": _categories(rng, 20_000, [0.6, 0.4])})
    cur = pd.DataFrame(
        {"x": rng.normal(0.25, 1, size=3000), "c": _categories(rng, 3000, [0.5, 0.5])}
    )
    stored = {"schema": 1, "files": {"train.parquet": profile_table(pa.Table.from_pandas(ref))}}
    coarse = _rows(drift_report(stored, cur))
    fine = _rows(drift_report(ref, cur))
    assert coarse["x"]["statistic"] <= fine["x"]["statistic"] + 1e-12
    assert coarse["c"]["statistic"] == pytest.approx(fine["c"]["statistic"])
    assert drift_report(stored, cur).drifted == ["x", "c"]


def test_bad_references_are_refused_clearly(tmp_path: object) -> None:
    cur = pd.DataFrame({"x": [1.0, 2.0]})
    with pytest.raises(InvalidInput, match="Not a reference profile"):
        drift_report({"format": "something"}, cur)
    with pytest.raises(InvalidInput, match="not list"):
        drift_report([1, 2, 3], cur)
    with pytest.raises(InvalidInput, match="No reference profile at"):
        drift_report("/nonexistent/profile.json", cur)
    with pytest.raises(InvalidInput, match="malformed"):
        drift_report({"format": "loopline.reference/1", "columns": {"x": {"kind": "numeric"}}}, cur)
    with pytest.raises(InvalidInput, match="DataFrame or a pyarrow Table"):
        drift_report(pd.DataFrame({"x": [1.0]}), {"x": [1.0]})


def test_columns_read_from_parquet_are_counted_like_any_other(tmp_path: Path) -> None:
    """pandas reads Parquet strings as chunked Arrow arrays: counted as they are."""
    from loopline.monitoring._reference import CategoryCounts

    rng = np.random.default_rng(9)
    frame = pd.DataFrame({"c": _categories(rng, 5000, [0.6, 0.3, 0.1]), "x": rng.normal(size=5000)})
    frame.to_parquet(tmp_path / "f.parquet")
    read = pd.read_parquet(tmp_path / "f.parquet")
    sketch = ReferenceProfile.from_frame(read).columns["c"]
    assert isinstance(sketch, CategoryCounts)
    counts = frame["c"].value_counts()
    assert dict(zip(sketch.categories, sketch.counts.tolist(), strict=True)) == counts.to_dict()
    assert drift_report(read, frame).drifted == []


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_dataset_profile_with_atoms_on_its_edges_does_not_make_drift(seed: int) -> None:
    """Digit-like pixels: mostly 0, a few small integers. A histogram counts the zeros in its
    first bin [0, 0.1), not *at* 0; reading that as "no value is <= 0" flagged 70 % of
    unchanged pixels. The KS now reads only what a histogram counts exactly, and the atoms
    come from the profile's quantiles; a real shift is still caught."""
    import pyarrow as pa

    from loopline.datasets._profile import profile_table

    rng = np.random.default_rng(seed)

    def pixels(rows: int, shift: float = 0.0) -> pd.DataFrame:
        zeros = rng.random((rows, 3)) < np.asarray([0.99, 0.6, 0.2])
        values = np.where(zeros, 0.0, rng.integers(1, 17, (rows, 3)).astype(float))
        return pd.DataFrame(np.clip(values + shift, 0, 16), columns=["p0", "p1", "p2"])

    profile = {"files": {"images.parquet": profile_table(pa.Table.from_pandas(pixels(1_100)))}}
    reference = ReferenceProfile.from_dataset_profile(profile)
    same = drift_report(reference, pixels(150)).columns
    assert same.loc[same["drift"], "column"].tolist() == []
    moved = drift_report(reference, pixels(250, shift=2.0)).columns
    assert set(moved.loc[moved["drift"], "column"]) >= {"p1", "p2"}
