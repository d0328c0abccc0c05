"""The prompt-selection leaderboard: each arm's listed prompts scored on the selection split.

The prompts answered the same items, so they are compared the way the arms are: every
interval comes from the same bootstrap resamples of those items, and each prompt's difference
to the chosen one has a paired interval. The best score wins; a tie (within 1e-9) goes to the
cheaper prompt: the lower cost per 1,000 requests where the prompts' costs differ, else the
fewer input tokens per request, else the first listed.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pandas as pd

from evalkit.analysis.economics import economics, price_for
from evalkit.analysis.metrics import MetricContext, metric_statistic
from evalkit.analysis.stats import TOLERANCE, Statistic, percentile_interval, resample
from evalkit.data.readers import items_sha256
from evalkit.errors import InputError
from evalkit.names import TASK, TRAINING_SAMPLE
from evalkit.results import ArmSelection, Message, PromptScore, PromptSelection
from evalkit.suite.load import LoadedSuite, PromptOption

DECIDERS = ("score", "cost", "input_tokens", "order")


def task_context(loaded: LoadedSuite) -> MetricContext:
    """The metric context of the suite's task datasets, for statistics outside them."""
    suite = loaded.suite
    scorers = tuple(s.info for s in loaded.scorers)
    return MetricContext(suite.task.type, loaded.labels, TASK, scorers, fields=loaded.fields)


def _value(x: float) -> float | None:
    return None if math.isnan(x) else x


def _first_difference(a: tuple[float, ...], b: tuple[float, ...]) -> int | None:
    """The index of the first component where two ranking keys differ (unknown = unknown)."""
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        if math.isinf(x) and math.isinf(y):
            continue
        if abs(x - y) > TOLERANCE:
            return i
    return None


def _compare(a: tuple[float, ...], b: tuple[float, ...]) -> int:
    i = _first_difference(a, b)
    return 0 if i is None else (-1 if a[i] < b[i] else 1)


def rank(keys: dict[str, tuple[float, ...]]) -> tuple[list[str], str]:
    """Names best first by their keys (lower is better, component by component, within
    1e-9), and which component decided between the first two.

    >>> rank({"a": (-0.5, 1.0, 40.0, 0), "b": (-0.5, 1.0, 30.0, 1), "c": (-0.2, 0.0, 9.0, 2)})
    (['b', 'a', 'c'], 'input_tokens')
    """
    ranked = sorted(keys, key=functools.cmp_to_key(lambda x, y: _compare(keys[x], keys[y])))
    if len(ranked) < 2:
        return ranked, DECIDERS[0]
    i = _first_difference(keys[ranked[0]], keys[ranked[1]])
    return ranked, DECIDERS[-1 if i is None else i]


def _aligned(table: pd.DataFrame, arm: str, name: str, ids: list[str]) -> pd.DataFrame:
    """One prompt's rows, in the split's item order (every prompt in the same order)."""
    rows = table[(table["arm"] == arm) & (table["dataset"] == name)]
    return rows.set_index("id").loc[ids]


def _arm_selection(
    table: pd.DataFrame,
    loaded: LoadedSuite,
    arm: str,
    options: tuple[PromptOption, ...],
    metric: str,
    ctx: MetricContext,
) -> ArmSelection:
    suite = loaded.suite
    spec = suite.arms[arm]
    ids = [it.id for it in loaded.selection_items]
    rows = {o.name: _aligned(table, arm, o.name, ids) for o in options}
    stats: dict[str, Statistic] = {}
    higher_is_better = True
    for name, r in rows.items():
        found = metric_statistic(metric, r, ctx)
        if found is None:
            raise InputError(
                f"prompt selection chooses by the suite's primary metric, {metric}, which "
                "this suite does not compute (a generation suite needs format checks or a "
                "rubric)",
                path=loaded.path,
                where="selection",
            )
        higher_is_better, stats[name] = found[0].higher_is_better, found[1]
    n, s = len(ids), suite.stats
    draws = resample(stats, n, resamples=s.bootstrap, seed=s.seed)
    ones = np.ones((1, n))
    point = {name: _value(float(stat(ones)[0])) for name, stat in stats.items()}
    price = price_for(spec.model, spec.price, suite.prices)
    econ = {name: economics(r, spec.model, price) for name, r in rows.items()}

    def key(i: int, name: str) -> tuple[float, ...]:
        score, e = point[name], econ[name]
        signed = -math.inf if score is None else (score if higher_is_better else -score)
        cost, tokens = e.cost_per_1k_requests, e.mean_input_tokens
        return (
            -signed,
            math.inf if cost is None else cost,
            math.inf if tokens is None else tokens,
            float(i),
        )

    ranked, decided_by = rank({o.name: key(i, o.name) for i, o in enumerate(options)})
    chosen = ranked[0]
    by_name = {o.name: o for o in options}
    first_input = loaded.selection_items[0].input
    prompts = []
    for name in ranked:
        low, high = percentile_interval(draws[name], s.confidence)
        d_low, d_high = percentile_interval(draws[name] - draws[chosen], s.confidence)
        score, best = point[name], point[chosen]
        prompt = by_name[name].prompt
        prompts.append(
            PromptScore(
                name=name,
                score=score,
                ci_low=low,
                ci_high=high,
                diff=None if score is None or best is None else score - best,
                diff_ci_low=d_low,
                diff_ci_high=d_high,
                errors=int(rows[name]["error"].notna().sum()),
                mean_input_tokens=econ[name].mean_input_tokens,
                cost_per_1k_requests=econ[name].cost_per_1k_requests,
                prompt_sha256=prompt.sha256,
                fewshot_examples=len(prompt.examples),
                example_messages=[Message(**m) for m in prompt.render(first_input)],
                chosen=name == chosen,
            )
        )
    return ArmSelection(chosen=chosen, decided_by=decided_by, prompts=prompts)  # type: ignore[arg-type]


def _description(loaded: LoadedSuite) -> tuple[str, str]:
    """(source, the split in words)."""
    selection = loaded.suite.selection
    assert selection is not None
    if selection.dev is not None:
        return "dev", f"the dev dataset {selection.dev.path}"
    split, training = selection.from_training, loaded.suite.training_data
    assert split is not None and training is not None
    spread = ", labels taken in turn" if loaded.suite.task.type == "classification" else ""
    return "training", (
        f"a seeded split of the training data {training.path} (n={split.n}, seed={split.seed}"
        f"{spread})"
    )


def leaderboard(table: pd.DataFrame, loaded: LoadedSuite, metric: str) -> PromptSelection:
    """Each arm's listed prompts ranked by `metric` on the selection split, from the selection
    pass's per-sample table; the first of each arm is the one it runs."""
    suite = loaded.suite
    ctx = task_context(loaded)
    arms = {
        arm: _arm_selection(table, loaded, arm, options, metric, ctx)
        for arm, options in loaded.prompt_options.items()
    }
    source, description = _description(loaded)
    reported = [
        *loaded.datasets,
        *([TRAINING_SAMPLE] if loaded.training_sample else []),
        *(p.name for p in loaded.probes),
    ]
    return PromptSelection(
        metric=metric,
        source=source,  # type: ignore[arg-type]
        description=description,
        n=len(loaded.selection_items),
        items_sha256=items_sha256(loaded.selection_items),
        disjoint_from=reported,
        confidence=suite.stats.confidence,
        resamples=suite.stats.bootstrap,
        arms=arms,  # type: ignore[arg-type]
    )
