"""The report's pictures as plain geometry: trend charts, per-class F1 bars, confusion heat maps.

Each function returns numbers and the text to show; the templates draw them as inline SVG
(autoescaped, so a label or a run id is always text). No script and no network: the page
stays one self-contained file. Every SVG has a viewBox and scales to the page's width.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from evalkit.history.schema import Trend, TrendPoint
from evalkit.names import ARMS
from evalkit.results import ClassScore, Confusion

CHAR_W = 6.2  # width of one character of the charts' 11-unit font, roughly
LABEL_MAX = 30  # characters of a label shown; the rest is in the tooltip


def short_label(text: str, limit: int = LABEL_MAX) -> str:
    """A label cut to `limit` characters, with an ellipsis when cut.

    >>> short_label("card_payment_wrong_exchange_rate", 12)
    'card_paymen…'
    """
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _label_width(labels: Sequence[str], cap: float) -> float:
    longest = max((len(short_label(t)) for t in labels), default=4)
    return min(cap, 8 + CHAR_W * longest)


def interval_bar(
    low: float | None, high: float | None, point: float | None, scale: float
) -> dict[str, float] | None:
    """x positions (0–120, zero at 60) of an interval around zero and its point estimate,
    `scale` being the largest distance from zero in the table the bar is drawn in.

    >>> interval_bar(-0.1, 0.3, 0.1, 0.3)
    {'lo': 41.67, 'hi': 115.0, 'diff': 78.33}
    """
    if low is None or high is None or point is None:
        return None

    def x(v: float) -> float:
        return round(60 + 55 * float(v) / scale, 2)

    return {"lo": x(low), "hi": x(high), "diff": x(point)}


# ---- trend charts --------------------------------------------------------------------------


@dataclass(frozen=True)
class Mark:
    """One run's point of one arm: position, interval, and what the tooltip says."""

    x: float
    y: float | None
    y_low: float | None
    y_high: float | None
    same_arm: bool  # the arm had this run's identity then: drawn filled
    current: bool
    title: str


@dataclass(frozen=True)
class Series:
    arm: str
    marks: list[Mark]
    path: str  # the polyline through the marks that have a value


@dataclass(frozen=True)
class TrendChart:
    title: str
    width: float
    height: float
    plot: dict[str, float]  # left, right, top, bottom
    ticks: list[dict[str, Any]]  # y ticks: {"y", "text"}
    x_labels: list[dict[str, Any]]  # {"x", "text", "anchor"}
    series: list[Series]
    drift: bool  # a drift finding is about this metric
    higher_is_better: bool


def _nice_range(values: Sequence[float]) -> tuple[float, float]:
    """A y range covering `values`, on tenths where the values are shares.

    >>> _nice_range([0.62, 0.81])
    (0.6, 0.9)
    >>> _nice_range([1.0, 1.0])
    (0.9, 1.0)
    """
    lo, hi = min(values), max(values)
    if lo >= 0.0 and hi <= 1.0:
        lo, hi = math.floor(lo * 10 + 1e-9) / 10, math.ceil(hi * 10 - 1e-9) / 10
        if hi - lo < 0.1:
            lo, hi = (hi - 0.1, hi) if hi >= 0.1 else (lo, lo + 0.1)
        return round(max(lo, 0.0), 10), round(min(hi, 1.0), 10)
    pad = (hi - lo) * 0.1 or abs(hi) * 0.1 or 1.0
    return lo - pad, hi + pad


def _point_title(arm: str, p: TrendPoint) -> str:
    value = "no value" if p.value is None else f"{p.value:.3f}"
    ci = (
        f" [{p.ci_low:.3f}, {p.ci_high:.3f}]"
        if p.ci_low is not None and p.ci_high is not None
        else ""
    )
    now = " (this run)" if p.current else ""
    return f"{arm} · run {p.run_id}{now} · {p.created_at[:10]} · {value}{ci}"


def trend_chart(trend: Trend, drift: bool = False) -> TrendChart:
    """One watched metric over the runs, both arms, each point with its interval."""
    width, height = 340.0, 150.0
    left, right, top, bottom = 44.0, width - 10, 10.0, height - 30
    runs: list[tuple[str, str]] = []  # (created_at, run_id), in order of first appearance
    for arm in ARMS:
        for p in trend.points.get(arm, []):  # type: ignore[call-overload]
            if (p.created_at, p.run_id) not in runs:
                runs.append((p.created_at, p.run_id))
    runs.sort()
    index = {run: i for i, run in enumerate(runs)}
    values = [
        v
        for arm in ARMS
        for p in trend.points.get(arm, [])  # type: ignore[call-overload]
        for v in (p.value, p.ci_low, p.ci_high)
        if v is not None
    ]
    lo, hi = _nice_range(values or [0.0, 1.0])

    def x_of(i: int, arm: str) -> float:
        first, last = left + 12, right - 8  # clear of the axis labels
        step = (last - first) / max(len(runs) - 1, 1)
        base = first + i * step if len(runs) > 1 else (first + last) / 2
        return round(base + (-3 if arm == "baseline" else 3), 2)  # the arms side by side

    def y_of(v: float | None) -> float | None:
        return None if v is None else round(bottom - (v - lo) / (hi - lo) * (bottom - top), 2)

    series = []
    for arm in ARMS:
        points = trend.points.get(arm, [])  # type: ignore[call-overload]
        current = next((p for p in points if p.current), None)
        marks = [
            Mark(
                x=x_of(index[(p.created_at, p.run_id)], arm),
                y=y_of(p.value),
                y_low=y_of(p.ci_low),
                y_high=y_of(p.ci_high),
                same_arm=current is not None and p.arm_identity == current.arm_identity,
                current=p.current,
                title=_point_title(arm, p),
            )
            for p in points
        ]
        path = " ".join(f"{m.x},{m.y}" for m in marks if m.y is not None)
        series.append(Series(arm=arm, marks=marks, path=path))
    ticks = [{"y": y_of(v), "text": f"{v:.2f}"} for v in (lo, (lo + hi) / 2, hi)]
    # the first and the last run's date; with the time when they fall on one day
    stamp = 16 if runs and runs[0][0][:10] == runs[-1][0][:10] else 10
    x_labels = []
    if runs:
        x_labels.append(
            {"x": left, "text": runs[0][0][:stamp].replace("T", " "), "anchor": "start"}
        )
        if len(runs) > 1:
            x_labels.append(
                {"x": right, "text": runs[-1][0][:stamp].replace("T", " "), "anchor": "end"}
            )
    name = f"probes.{trend.dataset}" if trend.section == "probe" else trend.dataset
    return TrendChart(
        title=f"{name} · {trend.metric}",
        width=width,
        height=height,
        plot={"left": left, "right": right, "top": top, "bottom": bottom},
        ticks=ticks,
        x_labels=x_labels,
        series=series,
        drift=drift,
        higher_is_better=trend.higher_is_better,
    )


# ---- per-class F1 ----------------------------------------------------------------------------


@dataclass(frozen=True)
class F1Row:
    label: str  # shown (cut)
    full: str
    y: float
    bars: dict[str, float | None]  # arm → bar width
    values: dict[str, float | None]
    diff: float | None


@dataclass(frozen=True)
class F1Chart:
    width: float
    height: float
    label_w: float
    bar_w: float
    row_h: float
    rows: list[F1Row]
    ticks: list[dict[str, float]] = field(default_factory=list)


def f1_bars(per_class: Sequence[dict[str, Any]]) -> F1Chart:
    """Both arms' F1 per label as horizontal bars, the labels the candidate gained most first.

    `per_class` is the report's per-class rows: {"label", "baseline": ClassScore | None,
    "candidate": ClassScore | None}.
    """

    def f1(score: ClassScore | None) -> float | None:
        return None if score is None else score.f1

    def diff(row: dict[str, Any]) -> float | None:
        b, c = f1(row.get("baseline")), f1(row.get("candidate"))
        return None if b is None or c is None else c - b

    # most gained first; labels one arm lacks last
    ordered = sorted(per_class, key=lambda r: (diff(r) is None, -(diff(r) or 0.0)))
    label_w = _label_width([r["label"] for r in ordered], 220)
    bar_w, row_h, top = 360.0, 16.0, 18.0
    rows = []
    for i, r in enumerate(ordered):
        values = {arm: f1(r.get(arm)) for arm in ARMS}
        rows.append(
            F1Row(
                label=short_label(r["label"]),
                full=r["label"],
                y=top + i * row_h,
                bars={arm: None if v is None else round(bar_w * v, 2) for arm, v in values.items()},
                values=values,
                diff=diff(r),
            )
        )
    return F1Chart(
        width=label_w + bar_w + 60,
        height=top + len(rows) * row_h + 6,
        label_w=label_w,
        bar_w=bar_w,
        row_h=row_h,
        rows=rows,
        ticks=[{"x": label_w + bar_w * t, "t": t} for t in (0.0, 0.5, 1.0)],
    )


# ---- confusion heat maps ---------------------------------------------------------------------


@dataclass(frozen=True)
class HeatCell:
    x: float
    y: float
    n: int
    share: float
    title: str


@dataclass(frozen=True)
class HeatMap:
    width: float
    height: float
    cell: float
    left: float  # width of the row labels
    top: float  # height of the (rotated) column labels
    rows: list[dict[str, Any]]  # {"y", "text", "full"}
    columns: list[dict[str, Any]]  # {"x", "text", "full"}
    cells: list[HeatCell]  # non-empty cells only: a 77-label matrix is mostly zeros
    numbers: bool  # cells are large enough to print their counts


def heat_map(confusion: Confusion) -> HeatMap:
    """A confusion matrix as a grid whose cell shade is the cell's share of its row (true label).

    Cells shrink with the number of labels (28 units up to 12 columns, 14 beyond), so a
    matrix of 77 labels stays one page wide; counts are printed in large cells and are in every
    cell's tooltip.
    """
    cell = 28.0 if len(confusion.columns) <= 12 else 14.0
    left = _label_width(confusion.rows, 210)
    top = _label_width(confusion.columns, 180)
    cells = []
    for i, (label, row) in enumerate(zip(confusion.rows, confusion.matrix, strict=True)):
        total = sum(row) or 1
        for j, n in enumerate(row):
            if n:
                answer = confusion.columns[j]
                cells.append(
                    HeatCell(
                        x=left + j * cell,
                        y=top + i * cell,
                        n=int(n),
                        share=round(n / total, 3),
                        title=f"true {label} → answered {answer}: {n} ({n / total:.0%} of the row)",
                    )
                )
    return HeatMap(
        width=left + len(confusion.columns) * cell + 4,
        height=top + len(confusion.rows) * cell + 4,
        cell=cell,
        left=left,
        top=top,
        rows=[
            {"y": top + (i + 0.5) * cell, "text": short_label(t), "full": t}
            for i, t in enumerate(confusion.rows)
        ],
        columns=[
            {"x": left + (j + 0.5) * cell, "text": short_label(t), "full": t}
            for j, t in enumerate(confusion.columns)
        ],
        cells=cells,
        numbers=cell >= 20,
    )
