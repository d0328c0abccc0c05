"""What the report's History and Release sections show, from the typed results: trend charts
with the drift findings, and the roll-back decision with the evidence for it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from evalkit.history.schema import History, ReleaseChange, ReleaseDecision
from evalkit.report.charts import TrendChart, interval_bar, trend_chart

DIRECTION = {"better": "good", "worse": "bad"}  # other findings are drawn neutral
TONE = {"promote": "better", "hold": "inconclusive", "roll back": "worse"}  # verdict colours


@dataclass(frozen=True)
class ChangeView:
    """A release change as the table shows it: the row, its interval bar and colour."""

    row: ReleaseChange
    bar: dict[str, float] | None
    direction: str

    def __getattr__(self, name: str) -> Any:
        return getattr(self.row, name)


def history_view(history: History | None) -> dict[str, Any] | None:
    """Charts (a drifted metric's chart marked) and the findings, by kind."""
    if history is None:
        return None
    drifted = {(f.dataset, f.section, f.metric) for f in history.drift}
    charts: list[TrendChart] = [
        trend_chart(t, drift=(t.dataset, t.section, t.metric) in drifted) for t in history.trends
    ]
    return {
        "past_runs": history.past_runs,
        "charts": charts,
        "model_changed": [f for f in history.drift if f.kind == "model_changed"],
        "data_drifted": [f for f in history.drift if f.kind == "data_drifted"],
    }


def release_view(release: ReleaseDecision | None) -> dict[str, Any] | None:
    """The decision, its tone, and every change with an interval bar on one scale."""
    if release is None:
        return None
    spans = [
        abs(v)
        for c in release.changes
        for v in (c.ci_low, c.ci_high, c.change)
        if v is not None and c.how != "none"
    ]
    scale = max([*spans, 1e-9])
    changes = [
        ChangeView(
            row=c,
            bar=interval_bar(c.ci_low, c.ci_high, c.change, scale),
            direction=DIRECTION.get(c.finding, "neutral"),
        )
        for c in release.changes
    ]
    return {
        "r": release,
        "tone": TONE.get(release.recommendation or "", "unknown"),
        "changes": changes,
    }
