"""The HTML drift report: one self-contained page (inline CSS and SVG, no script, no fetch)."""

from __future__ import annotations

import math
from html import escape
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loopline.monitoring._drift import DriftReport

__all__ = ["render"]

_WIDTH, _HEIGHT, _PAD = 360, 150, 24
_REF, _CUR = "#7a8699", "#d9480f"

_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:24px;color:#1f2430}
h1{font-size:20px;margin:0 0 4px} .sub{color:#5c6370;margin-bottom:16px}
.verdict{display:inline-block;padding:2px 10px;border-radius:12px;font-weight:600}
.drift{background:#ffe3e3;color:#c92a2a} .ok{background:#e6fcf5;color:#087f5b}
.muted{background:#f1f3f5;color:#5c6370}
table{border-collapse:collapse;margin:12px 0 24px;font-size:13px}
th,td{padding:4px 10px;border-bottom:1px solid #e9ecef;text-align:right}
th:first-child,td:first-child,td.l{text-align:left}
.cards{display:flex;flex-wrap:wrap;gap:16px}
.card{border:1px solid #e9ecef;border-radius:8px;padding:10px 12px;width:380px}
.card h3{font-size:14px;margin:0 0 2px} .card .m{color:#5c6370;font-size:12px}
.legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 10px}
"""


def render(report: DriftReport) -> str:
    """The report as an HTML page."""
    frame = report.columns
    judged = int(frame["method"].notna().sum())
    verdict = _badge("dataset drift" if report.drift else "no dataset drift", report.drift)
    options = report.options
    head = (
        f"<h1>{escape(report.title)}</h1>"
        f'<div class="sub">{verdict} {len(report.drifted)} of {judged} columns drifted '
        f"({report.drift_share:.0%}; the dataset drifts at {options.drift_share:.0%}). "
        f"Reference {report.reference_rows:,} rows, current {report.current_rows:,} rows. "
        f"Tests at a false discovery rate of {options.alpha:g} (Benjamini-Hochberg), "
        f"effect floors {options.numeric_effect_floor:g} SD (numeric) and "
        f"{options.categorical_effect_floor:g} (categorical share moved).</div>"
    )
    legend = (
        f'<div class="legend"><span style="background:{_REF}"></span>reference'
        f'<span style="background:{_CUR}"></span>current</div>'
    )
    rows = "".join(_table_row(r) for r in frame.itertuples(index=False))
    table = (
        "<table><thead><tr><th>column</th><th>kind</th><th>method</th><th>statistic</th>"
        "<th>p</th><th>q</th><th>effect</th><th>verdict</th><th>note</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )
    order = frame.sort_values(["drift", "effect"], ascending=[False, False], na_position="last")
    cards = "".join(
        _card(r, report.charts.get(str(r.column), {}))
        for r in order.itertuples(index=False)
        if r.column in report.charts
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(report.title)}</title><style>{_STYLE}</style></head><body>"
        f'{head}{table}{legend}<div class="cards">{cards}</div></body></html>'
    )


def _badge(text: str, drift: bool | None) -> str:
    kind = "muted" if drift is None else ("drift" if drift else "ok")
    return f'<span class="verdict {kind}">{escape(text)}</span>'


def _number(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    value = float(value)
    if value == 0:
        return "0"
    if value != 0 and (abs(value) < 10 ** (-digits) or abs(value) >= 1e6):
        return f"{value:.2e}"
    return f"{value:.{digits}f}"


def _table_row(r: Any) -> str:
    judged = isinstance(r.method, str)
    if not judged:
        verdict = _badge("not judged", None)
    else:
        verdict = _badge("drift" if r.drift else "ok", bool(r.drift))
    return (
        f"<tr><td>{escape(str(r.column))}</td><td class=l>{escape(str(r.kind))}</td>"
        f"<td class=l>{escape(r.method if judged else '')}</td><td>{_number(r.statistic)}</td>"
        f"<td>{_number(r.p_value)}</td><td>{_number(r.q_value)}</td>"
        f"<td>{_number(r.effect)}</td><td>{verdict}</td>"
        f"<td class=l>{escape(str(r.note or ''))}</td>"
        "</tr>"
    )


def _card(r: Any, chart: dict[str, Any]) -> str:
    svg = _histogram(chart) if chart.get("kind") == "numeric" else _bars(chart)
    verdict = _badge("drift" if r.drift else "ok", bool(r.drift))
    detail = (
        f"{escape(str(r.method))} {_number(r.statistic)}"
        + (f", q {_number(r.q_value)}" if not math.isnan(r.q_value) else "")
        + f", effect {_number(r.effect)}"
    )
    return (
        f'<div class="card"><h3>{escape(str(r.column))} {verdict}</h3>'
        f'<div class="m">{detail}</div>{svg}</div>'
    )


def _histogram(chart: dict[str, Any]) -> str:
    edges = chart["edges"]
    ref, cur = chart["reference"], chart["current"]
    top = max([*ref, *cur, 1e-12])
    bins = len(ref)
    width = (_WIDTH - 2 * _PAD) / bins
    parts = []
    for i in range(bins):
        x = _PAD + i * width
        for value, color, offset in ((ref[i], _REF, 0.0), (cur[i], _CUR, width / 2)):
            h = (_HEIGHT - 2 * _PAD) * value / top
            parts.append(
                f'<rect x="{x + offset:.1f}" y="{_HEIGHT - _PAD - h:.1f}" '
                f'width="{max(width / 2 - 0.5, 0.5):.1f}" height="{h:.1f}" fill="{color}">'
                f"<title>{_number(edges[i])} to {_number(edges[i + 1])}: reference "
                f"{ref[i]:.3f}, current {cur[i]:.3f}</title></rect>"
            )
    axis = (
        f'<line x1="{_PAD}" y1="{_HEIGHT - _PAD}" x2="{_WIDTH - _PAD}" y2="{_HEIGHT - _PAD}" '
        'stroke="#adb5bd"/>'
        f'<text x="{_PAD}" y="{_HEIGHT - 6}" font-size="10">{_number(edges[0])}</text>'
        f'<text x="{_WIDTH - _PAD}" y="{_HEIGHT - 6}" font-size="10" text-anchor="end">'
        f"{_number(edges[-1])}</text>"
    )
    return _svg("".join(parts) + axis)


def _bars(chart: dict[str, Any]) -> str:
    labels, ref, cur = chart["labels"], chart["reference"], chart["current"]
    top = max([*ref, *cur, 1e-12])
    row = 16
    height = row * len(labels) + 8
    label_width = 110
    scale = (_WIDTH - label_width - 96) / top
    parts = []
    for i, label in enumerate(labels):
        y = 4 + i * row
        short = label if len(label) <= 16 else label[:15] + "…"
        parts.append(
            f'<text x="{label_width - 4}" y="{y + 11}" font-size="11" text-anchor="end">'
            f"{escape(short)}<title>{escape(label)}</title></text>"
            f'<rect x="{label_width}" y="{y + 1}" width="{ref[i] * scale:.1f}" height="6" '
            f'fill="{_REF}"/>'
            f'<rect x="{label_width}" y="{y + 7}" width="{cur[i] * scale:.1f}" height="6" '
            f'fill="{_CUR}"/>'
            f'<text x="{label_width + max(ref[i], cur[i]) * scale + 4:.1f}" y="{y + 11}" '
            f'font-size="10" fill="#5c6370">{ref[i]:.1%} → {cur[i]:.1%}</text>'
        )
    return _svg("".join(parts), height)


def _svg(body: str, height: int = _HEIGHT) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{height}" '
        f'viewBox="0 0 {_WIDTH} {height}" role="img">{body}</svg>'
    )
