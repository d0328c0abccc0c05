"""Two finished runs side by side: every dataset × metric, each arm's value in both, the change."""

from __future__ import annotations

from typing import Any

from evalkit.names import ARMS


def _key(m: dict[str, Any]) -> tuple[str, str, str]:
    return m["dataset"], m["section"], m["metric"]


def _change(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else b - a


def compare_runs(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per dataset × metric in either run (A's order first); None where a run lacks it.

    `same_items` says whether the dataset file hashed the same in both runs (None when a run
    does not record it, as for probes): changes on different items are not like for like.
    """
    rows_a = {_key(m): m for m in a.get("metrics", [])}
    rows_b = {_key(m): m for m in b.get("metrics", [])}
    hashes_a, hashes_b = a.get("dataset_hashes", {}), b.get("dataset_hashes", {})
    out = []
    for key in [*rows_a, *(k for k in rows_b if k not in rows_a)]:
        ma, mb = rows_a.get(key, {}), rows_b.get(key, {})
        dataset, section, metric = key
        ha, hb = hashes_a.get(dataset), hashes_b.get(dataset)
        row: dict[str, Any] = {
            "dataset": dataset,
            "section": section,
            "metric": metric,
            "higher_is_better": (ma or mb).get("higher_is_better", True),
            "same_items": None if ha is None or hb is None else ha == hb,
        }
        for arm in ARMS:
            va, vb = ma.get(arm), mb.get(arm)
            row[arm] = {"a": va, "b": vb, "change": _change(va, vb)}
        out.append(row)
    return out
