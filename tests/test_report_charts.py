"""The report's pictures as geometry: heat maps that fit the page for 20+ labels, per-class F1
bars, trend charts; each number checked against one computed here."""

from __future__ import annotations

import re

import pytest

from evalkit.history.schema import Trend, TrendPoint
from evalkit.report.charts import f1_bars, heat_map, short_label, trend_chart
from evalkit.results import ClassScore, Confusion

PAGE = 1400  # the report's max-width in CSS pixels


def confusion(n_labels: int) -> Confusion:
    """A mostly diagonal matrix: label i answered right 4 times, as label i+1 once."""
    labels = [f"intent_{i:02d}_{'x' * (i % 40)}" for i in range(n_labels)]
    columns = [*labels, "(other)", "(no label)"]
    matrix = []
    for i in range(n_labels):
        row = [0] * len(columns)
        row[i] = 4
        row[(i + 1) % n_labels] = 1
        matrix.append(row)
    return Confusion(rows=labels, columns=columns, matrix=matrix)


@pytest.mark.parametrize("n_labels", [20, 77, 150])
def test_a_large_confusion_matrix_fits_the_page(n_labels: int) -> None:
    hm = heat_map(confusion(n_labels))
    assert hm.cell == 14 and not hm.numbers  # small cells: counts go to the tooltips
    if n_labels <= 77:  # banking77: drawn at most one unit per CSS pixel across the page
        assert hm.width <= PAGE
    # only the cells that hold something are drawn: two per row here
    assert len(hm.cells) == 2 * n_labels
    right = next(c for c in hm.cells if c.n == 4)
    assert right.share == pytest.approx(4 / 5)
    assert right.title.endswith(": 4 (80% of the row)")
    # every row and column is labelled; long labels are cut, with the whole one kept
    assert len(hm.rows) == n_labels and len(hm.columns) == n_labels + 2
    assert all(
        len(r["text"]) <= 30 and r["full"].startswith(r["text"].rstrip("…")) for r in hm.rows
    )


def test_a_small_confusion_matrix_prints_its_counts() -> None:
    hm = heat_map(confusion(2))
    assert hm.cell == 28 and hm.numbers
    assert [c.n for c in hm.cells] == [4, 1, 1, 4]


def test_f1_bars_put_the_largest_gain_first() -> None:
    def score(f1: float) -> ClassScore:
        return ClassScore(label="x", precision=f1, recall=f1, f1=f1, support=5)

    rows = [
        {"label": "lost", "baseline": score(0.9), "candidate": score(0.5)},
        {"label": "gained", "baseline": score(0.2), "candidate": score(1.0)},
        {"label": "only-baseline", "baseline": score(0.4), "candidate": None},
        {"label": "same", "baseline": score(0.6), "candidate": score(0.6)},
    ]
    chart = f1_bars(rows)
    assert [r.full for r in chart.rows] == ["gained", "same", "lost", "only-baseline"]
    gained = chart.rows[0]
    assert gained.bars == {"baseline": pytest.approx(0.2 * chart.bar_w), "candidate": chart.bar_w}
    assert gained.diff == pytest.approx(0.8)
    assert chart.rows[-1].bars["candidate"] is None and chart.rows[-1].diff is None
    assert chart.height == pytest.approx(18 + 4 * chart.row_h + 6)


def point(run: str, day: int, value: float, key: str = "a", current: bool = False) -> TrendPoint:
    return TrendPoint(
        run_id=run,
        created_at=f"2026-01-{day:02d}T10:00:00.000+00:00",
        value=value,
        ci_low=value - 0.1,
        ci_high=value + 0.1,
        arm_identity=key,
        data_sha256="d",
        current=current,
    )


def test_a_trend_chart_maps_values_and_marks_the_other_arms() -> None:
    trend = Trend(
        dataset="heldout",
        section="task",
        metric="macro_f1",
        higher_is_better=True,
        points={
            "baseline": [point("r1", 1, 0.5), point("r2", 2, 0.5, current=True)],
            "candidate": [point("r1", 1, 0.6, key="old"), point("r2", 2, 0.8, current=True)],
        },
    )
    chart = trend_chart(trend)
    # values and intervals span 0.4 .. 0.9: the axis runs over tenths from 0.4 to 0.9
    assert [t["text"] for t in chart.ticks] == ["0.40", "0.65", "0.90"]
    bottom, top = chart.plot["bottom"], chart.plot["top"]
    baseline, candidate = chart.series
    first = baseline.marks[0]
    assert first.y == pytest.approx(bottom - (0.5 - 0.4) / 0.5 * (bottom - top), abs=0.01)
    assert first.y_low == pytest.approx(bottom, abs=0.01)  # 0.4, the bottom of the axis
    # the candidate's r1 point was another arm (another key): drawn hollow
    assert [m.same_arm for m in candidate.marks] == [False, True]
    assert [m.current for m in candidate.marks] == [False, True]
    assert [x["text"] for x in chart.x_labels] == ["2026-01-01", "2026-01-02"]
    # runs of one day are told apart by their time
    same_day = trend.model_copy(
        update={
            "points": {
                "baseline": [
                    point("r1", 1, 0.5),
                    point("r2", 1, 0.6).model_copy(
                        update={"created_at": "2026-01-01T17:30:00.000+00:00"}
                    ),
                ]
            }
        }
    )
    assert [x["text"] for x in trend_chart(same_day).x_labels] == [
        "2026-01-01 10:00",
        "2026-01-01 17:30",
    ]
    assert "run r2 (this run)" in candidate.marks[1].title
    assert re.fullmatch(r"[\d., ]+", candidate.path)


def test_short_labels() -> None:
    assert short_label("a" * 30) == "a" * 30
    assert short_label("a" * 31) == "a" * 29 + "…"
