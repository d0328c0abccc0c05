"""Analyse: the per-sample table → every number the report, results.json and the gate use."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import pandas as pd

from evalkit.analysis.contamination import find_contamination
from evalkit.analysis.economics import arm_economics
from evalkit.analysis.metrics import dataset_analysis
from evalkit.analysis.rubric import rubric_analysis
from evalkit.analysis.stats import non_inferior, quantile_key
from evalkit.names import ARMS, TRAINING_SAMPLE
from evalkit.scoring.probes import PROBE_KINDS
from evalkit.suite.load import LoadedSuite

READABLE = {"macro_f1": "macro F1", "format_adherence": "format adherence"}


def primary_metric(loaded: LoadedSuite) -> str:
    """The one metric the verdict sentence is about."""
    if loaded.suite.task.type == "classification":
        return "macro_f1"
    # a generation suite graded by a rubric on held-out is judged by that rubric's overall score
    graded = next((u for u in loaded.rubrics if "heldout" in u.datasets), None)
    return f"rubric.{graded.rubric.name}.overall" if graded else "format_adherence"


def _metric(datasets: dict[str, Any], dataset: str, metric: str) -> dict[str, Any] | None:
    rows = datasets.get(dataset, {}).get("metrics", [])
    return next((m for m in rows if m["metric"] == metric), None)


def probe_verdicts(datasets: dict[str, Any], loaded: LoadedSuite) -> list[dict[str, Any]]:
    """Forgetting verdict per probe: non-inferiority of the candidate's accuracy at the suite's margin."""
    margin = loaded.suite.probe_margin
    out = []
    for probe in loaded.probes:
        acc = _metric(datasets, probe.name, "accuracy")
        unparsed = _metric(datasets, probe.name, "unparsed_rate")
        if acc is None or unparsed is None:
            continue
        lower = acc["quantiles"][quantile_key(1 - margin.confidence)]
        out.append(
            {
                "probe": probe.name,
                "version": probe.version,
                "n": acc["n"],
                "baseline": acc["baseline"],
                "candidate": acc["candidate"],
                "diff": acc["diff"],
                "ci_low": acc["ci_low"],
                "ci_high": acc["ci_high"],
                "lower_bound": lower,
                "margin": margin.margin,
                "confidence": margin.confidence,
                "non_inferior": non_inferior(lower, margin.margin),
                "unparsed_rate": {
                    "baseline": unparsed["baseline"],
                    "candidate": unparsed["candidate"],
                },
                # more than half the answers unparsable where the baseline had few: the fine-tune
                # answers in its task format instead of answering the question
                "chance": PROBE_KINDS.lookup(probe.kind).chance,
                # forgetting needs an ability to forget: a baseline at chance, or one that
                # cannot answer most items, makes "not worse" vacuous
                "informative": unparsed["baseline"] < 0.5
                and acc["baseline"] > PROBE_KINDS.lookup(probe.kind).chance,
                "format_collapse": unparsed["candidate"] >= 0.5
                and unparsed["candidate"] - unparsed["baseline"] >= 0.25,
            }
        )
    return out


def generalisation(datasets: dict[str, Any], loaded: LoadedSuite, metric: str) -> dict[str, Any]:
    """Per arm: in-domain score, each out-of-domain score and the gap; training sample vs held-out."""
    held = _metric(datasets, "heldout", metric)
    if held is None or held["diff"] is None:  # e.g. no item with a judge score for both arms
        return {}
    out: dict[str, Any] = {"metric": metric, "arms": {}}
    for arm in ARMS:
        entry: dict[str, Any] = {"heldout": held[arm], "out_of_domain": {}}
        for name in loaded.suite.datasets:
            if loaded.suite.dataset_kind(name) == "out_of_domain" and (
                m := _metric(datasets, name, metric)
            ):
                entry["out_of_domain"][name] = {"score": m[arm], "gap": held[arm] - m[arm]}
        if tr := _metric(datasets, TRAINING_SAMPLE, metric):
            entry["training_sample"] = {"score": tr[arm], "gap": tr[arm] - held[arm]}
        out["arms"][arm] = entry
    return out


def verdict(datasets: dict[str, Any], probes: list[dict[str, Any]], metric: str) -> dict[str, Any]:
    """One sentence a stakeholder can read, from the primary metric's interval and the probes."""
    m = _metric(datasets, "heldout", metric)
    if m is None or m["diff"] is None:  # e.g. no item with a judge score for both arms
        why = (
            " No held-out item has a judge score for both arms: the judge's replies could not"
            " be used (see the rubric section for its errors)."
            if metric.startswith("rubric.")
            else ""
        )
        return {"outcome": "unknown", "sentence": f"No held-out {metric} was computed.{why}"}
    pct = round(m["confidence"] * 100)
    if m["ci_low"] > 0:
        outcome, phrase = "better", "beats the baseline"
    elif m["ci_high"] < 0:
        outcome, phrase = "worse", "is worse than the baseline"
    else:
        outcome, phrase = "inconclusive", "shows no clear difference from the baseline"
    sentence = (
        f"The candidate {phrase} on held-out {READABLE.get(metric, metric)}: "
        f"{m['candidate']:.3f} vs {m['baseline']:.3f} ({m['diff']:+.3f}, {pct}% CI "
        f"{m['ci_low']:+.3f} to {m['ci_high']:+.3f}, n={m['n']})."
    )
    if probes:
        held = sum(p["non_inferior"] for p in probes)
        sentence += f" It is non-inferior on {held} of {len(probes)} forgetting probes"
        vacuous = sum(not p["informative"] for p in probes)
        sentence += (
            f" ({vacuous} uninformative: the baseline did not beat chance on them)."
            if vacuous
            else "."
        )
    return {"outcome": outcome, "metric": metric, "sentence": sentence}


def contamination(loaded: LoadedSuite) -> list[dict[str, Any]] | None:
    """Evaluation items (held-out and out-of-domain) whose text matches a training item; None without training data."""
    if not loaded.training:
        return None
    settings = loaded.suite.contamination
    evaluated = [it for items in loaded.datasets.values() for it in items]
    matches = find_contamination(evaluated, loaded.training, settings.ngram, settings.threshold)
    return [asdict(m) for m in matches]


def analyse(table: pd.DataFrame, loaded: LoadedSuite) -> dict[str, Any]:
    """Every figure of the run, as plain JSON-ready values."""
    suite = loaded.suite
    classification = suite.task.type == "classification"
    datasets: dict[str, Any] = {}
    keys = table[["dataset", "section", "kind"]].drop_duplicates().itertuples(index=False)
    for dataset, section, kind in keys:
        datasets[dataset] = {
            "section": section,
            "kind": kind,
            **dataset_analysis(
                table, dataset, section=section, kind=kind, classification=classification,
                labels=loaded.labels, stats=suite.stats,
            ),
        }  # fmt: skip
    rubrics, rubric_rows = rubric_analysis(table, loaded)
    for row in rubric_rows:
        datasets[row["dataset"]]["metrics"].append(row)
    metric = primary_metric(loaded)
    probes = probe_verdicts(datasets, loaded)
    return {
        "datasets": datasets,
        "metrics": [m for d in datasets.values() for m in d["metrics"]],
        "probes": probes,
        "rubrics": rubrics,
        "generalisation": generalisation(datasets, loaded, metric),
        "contamination": contamination(loaded),
        "economics": arm_economics(table, suite),
        "errors": {name: d["errors"] for name, d in datasets.items()},
        "verdict": verdict(datasets, probes, metric),
    }
