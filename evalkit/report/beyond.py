"""What the report's extraction, style and overfitting sections show, ready for their templates.

Per-field tables come from the `field.<path>.<part>` metric rows, the style section from the
style metric rows and `Results.style` (its histograms drawn as inline SVG here, with the
geometry computed in Python so the template only places rectangles), the overfitting
section from `Results.overfitting`. Everything a model wrote is handed over as text for the
template to escape.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import pandas as pd

from evalkit.analysis.fields import PARTS
from evalkit.analysis.style import NEUTRAL, STYLE_METRICS
from evalkit.jsonutil import json_ready
from evalkit.results import Histogram, MetricResult, Results

FIELD_PREFIX = "field."
MEMORISATION = "copies_training"
# drawn size of one histogram, in SVG units
HIST_WIDTH, HIST_HEIGHT, HIST_AXIS = 320.0, 90.0, 14.0


def own_section(name: str) -> bool:
    """Metrics these sections show, kept out of the main metric tables."""
    return name in STYLE_METRICS or name.startswith(FIELD_PREFIX) or name == MEMORISATION


def _split_field(name: str) -> tuple[str, str]:
    path, _, part = name[len(FIELD_PREFIX) :].rpartition(".")
    return path, part


def _support(table: pd.DataFrame | None, dataset: str) -> dict[str, int]:
    """Target values per field on one dataset (from the baseline's rows; both arms share targets)."""
    if table is None or "fields" not in table:
        return {}
    rows = table[(table["dataset"] == dataset) & (table["arm"] == "baseline")]
    counts: dict[str, int] = {}
    for entry in rows["fields"]:
        for path, f in (entry or {}).items() if isinstance(entry, dict) else ():
            counts[path] = counts.get(path, 0) + len(f.get("target", ()))
    return counts


def field_tables(
    results: Results,
    table: pd.DataFrame | None,
    with_bars: Callable[[list[MetricResult]], list[Any]],
) -> list[dict[str, Any]]:
    """Per extraction dataset: one row per field with both arms' P/R/F1 and the F1 difference."""
    out = []
    for dataset in results.datasets:
        rows = [m for m in results.metrics_of(dataset) if m.metric.startswith(FIELD_PREFIX)]
        if not rows:
            continue
        by_field: dict[str, dict[str, MetricResult]] = {}
        for m in rows:
            path, part = _split_field(m.metric)
            by_field.setdefault(path, {})[part] = m
        support = _support(table, dataset)
        f1_views = with_bars([parts["f1"] for parts in by_field.values()])
        out.append(
            {
                "dataset": dataset,
                "fields": [
                    {"path": path, "support": support.get(path), "parts": parts, "f1": view}
                    for (path, parts), view in zip(by_field.items(), f1_views, strict=True)
                ],
                "parts": PARTS,
            }
        )
    return out


def histogram_svg(h: Histogram) -> dict[str, Any]:
    """Rectangles for both arms' counts per bin, side by side, scaled to the tallest bin.

    >>> svg = histogram_svg(Histogram(edges=[0, 5, 10], baseline=[2, 0], candidate=[1, 1]))
    >>> [(r["arm"], r["height"]) for r in svg["bars"]]
    [('baseline', 90.0), ('candidate', 45.0), ('baseline', 0.0), ('candidate', 45.0)]
    """
    bins = len(h.baseline)
    top = max([*h.baseline, *h.candidate, 1])
    slot = HIST_WIDTH / max(bins, 1)
    bars = []
    for k in range(bins):
        for j, (arm, counts) in enumerate((("baseline", h.baseline), ("candidate", h.candidate))):
            height = round(HIST_HEIGHT * counts[k] / top, 2)
            bars.append(
                {
                    "arm": arm,
                    "x": round(k * slot + j * slot / 2 + 1, 2),
                    "y": round(HIST_HEIGHT - height, 2),
                    "width": round(max(slot / 2 - 2, 1), 2),
                    "height": height,
                    "title": f"{arm}: {counts[k]} answers of {h.edges[k]:g} to {h.edges[k + 1]:g}",
                }
            )
    return {
        "bars": bars,
        "width": HIST_WIDTH,
        "height": HIST_HEIGHT + HIST_AXIS,
        "axis_y": HIST_HEIGHT + HIST_AXIS - 3,
        "low": f"{h.edges[0]:g}",
        "high": f"{h.edges[-1]:g}",
    }


def style_views(
    results: Results, with_bars: Callable[[list[MetricResult]], list[Any]]
) -> list[dict[str, Any]]:
    """Per task dataset: its style metric rows, collapse signals, histograms and examples."""
    out = []
    for s in results.style:
        present = {m.metric: m for m in results.metrics_of(s.dataset) if m.metric in STYLE_METRICS}
        rows = [present[name] for name in STYLE_METRICS if name in present]
        # a length is neither better nor worse longer: its difference is shown uncoloured
        views = [
            replace(v, direction="neutral") if v.metric in NEUTRAL else v for v in with_bars(rows)
        ]
        out.append(
            {
                "style": s,
                "metrics": views,
                "neutral": NEUTRAL,
                "words": histogram_svg(s.words),
                "tokens": histogram_svg(s.tokens) if s.tokens else None,
            }
        )
    return out


def memorisation_rows(results: Results) -> list[MetricResult]:
    return [m for m in results.metrics if m.metric == MEMORISATION and m.candidate is not None]


def row_detail(fields: Any, scores: Any) -> dict[str, Any] | None:
    """One answer's field-level diff and built-in scores, for the sample browser.

    >>> row_detail({"x": {"target": ["1"], "answer": ["2"], "matched": 0}}, {"chrf": 12.5})
    {'fields': [['x', ['1'], ['2'], 0]], 'scores': {'chrf': 12.5}}
    >>> row_detail(None, {}) is None
    True
    """
    diff = (
        [[path, f["target"], f["answer"], f["matched"]] for path, f in fields.items()]
        if isinstance(fields, dict)
        else []
    )
    shown = scores if isinstance(scores, dict) else {}
    return {"fields": diff, "scores": shown} if diff or shown else None


def details(rows: pd.DataFrame) -> Sequence[dict[str, Any] | None]:
    """`row_detail` of every row, in order."""
    fields = rows["fields"] if "fields" in rows else [None] * len(rows)
    scores = rows["scores"] if "scores" in rows else [None] * len(rows)
    return [json_ready(row_detail(f, s)) for f, s in zip(fields, scores, strict=True)]
