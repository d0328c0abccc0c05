"""The 80–85 % reading: should this task be fine-tuned at all?

The rule of thumb: if prompting gets you to 80–85 % of the target, don't fine-tune. Read on
held-out items, the share of the target the base model reaches with its (chosen) prompt,
beside the share the fine-tune reaches, each with an interval, and the cost per 1,000
requests of each arm with the volume at which the fine-tune's cheaper requests pay for its
training.

The target is the suite's `decision.target` for the primary metric, or else the candidate's
own held-out score. Intervals are percentile bootstrap intervals over the held-out items,
from the same paired resamples as every other interval: with a fixed target, a score's
interval divided by the target; with the candidate as the target, the interval of the
ratio baseline ÷ candidate computed on each resample (resamples where the candidate scores 0
are left out).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from evalkit.analysis.metrics import paired_rows, readable, statistics_for
from evalkit.analysis.selection import task_context
from evalkit.analysis.stats import percentile_interval, ratio, resample
from evalkit.results import Analysis, ArmValues, DecisionReading, Share
from evalkit.suite.load import LoadedSuite
from evalkit.suite.schema import Decision

RULE_LOW, RULE_HIGH = 0.80, 0.85  # "if prompting gets you to 80–85 % of the target"


def _pct(x: float | None) -> str:
    return "?" if x is None else f"{x:.0%}"


def _draws(table: pd.DataFrame, loaded: LoadedSuite, metric: str) -> dict[str, np.ndarray] | None:
    """Both arms' held-out scores on the same bootstrap resamples; None for a metric that is
    not in the registry (a rubric's score)."""
    b, c = paired_rows(table, "heldout")
    suite = loaded.suite
    paired = statistics_for(b, c, task_context(loaded)).get(metric)
    if paired is None:
        return None
    s = suite.stats
    stats = {"baseline": paired.baseline, "candidate": paired.candidate}
    return resample(stats, len(b), resamples=s.bootstrap, seed=s.seed)


def _share(
    score: float | None, target: float | None, draws: np.ndarray | None, confidence: float
) -> Share:
    if score is None or not target:
        return Share(score=score, share=None, ci_low=None, ci_high=None)
    low, high = (None, None) if draws is None else percentile_interval(draws, confidence)
    return Share(score=score, share=score / target, ci_low=low, ci_high=high)


def _reading(share: Share) -> str:
    """prompting_enough, fine_tune, unclear or unknown, from the baseline share's interval."""
    if share.share is None:
        return "unknown"
    low = share.share if share.ci_low is None else share.ci_low
    high = share.share if share.ci_high is None else share.ci_high
    if low >= RULE_LOW:
        return "prompting_enough"
    if high < RULE_LOW:
        return "fine_tune"
    return "unclear"


def _sentence(
    reading: str, metric: str, decision: Decision, b: Share, c: Share, selected: bool
) -> str:
    name = f"held-out {readable(metric)}"
    prompt = "its best prompt" if selected else "its one prompt (no prompt selection)"
    if reading == "unknown":
        return f"No share of the target can be read: the run has no {name} for both arms."
    interval = "" if b.ci_low is None else f" (interval {_pct(b.ci_low)} to {_pct(b.ci_high)})"
    if decision.target is not None:
        c_interval = "" if c.ci_low is None else f" ({_pct(c.ci_low)} to {_pct(c.ci_high)})"
        said = (
            f"With {prompt}, the base model reaches {_pct(b.share)} of the target {name} of "
            f"{decision.target:g}{interval}; the fine-tune reaches {_pct(c.share)}{c_interval}."
        )
    else:
        said = (
            f"With no target in the suite, the fine-tune's {name} ({c.score:.3f}) is the "
            f"target: the base model with {prompt} reaches {_pct(b.share)} of it{interval}."
        )
    rule = (
        f'the rule "if prompting gets you to {RULE_LOW * 100:.0f}–{RULE_HIGH * 100:.0f}% of '
        "the target, don't fine-tune\""
    )
    low = b.share if b.ci_low is None else b.ci_low
    high = b.share if b.ci_high is None else b.ci_high
    line = f"{RULE_LOW:.0%}"
    meaning = {
        "prompting_enough": f"Even the low end ({_pct(low)}) reaches {line}: by {rule}, "
        "prompting is enough here, unless the fine-tune's cheaper requests pay for its "
        "training at your volume.",
        "fine_tune": f"Even the high end ({_pct(high)}) stays below {line}: by {rule}, "
        "prompting falls short and fine-tuning is worth it, if the fine-tune closes the gap "
        "(the verdict says whether this one beats the baseline).",
        "unclear": f"The interval straddles {line}, so these items cannot tell whether "
        f"prompting is enough by {rule}; more held-out items would narrow it.",
    }
    return f"{said} {meaning[reading]}"


def _break_even(
    cost_b: float | None, cost_c: float | None, decision: Decision
) -> tuple[float | None, str]:
    """(requests after which the fine-tune has paid for its training, the cost in words)."""
    if cost_b is None or cost_c is None:
        return None, (
            "Running costs cannot be compared: a model has no known price (add it under `prices:`)."
        )
    said = (
        f"Per 1,000 requests the base model with its prompt costs ${cost_b:.4f} and the "
        f"fine-tune ${cost_c:.4f}."
    )
    training = decision.training_cost
    if training is None:
        return None, (
            f"{said} Give `decision.training_cost: {{usd: ...}}` to see the volume at which "
            "the fine-tune pays for its training."
        )
    if cost_b == cost_c == 0:
        return None, (
            f"{said} Neither costs anything per request here (local or scripted models: "
            f"compute is not modelled), so running costs never pay back the ${training.usd:,.2f} "
            "training cost."
        )
    if cost_c >= cost_b:
        return None, (
            f"{said} The fine-tune is not cheaper per request, so its ${training.usd:,.2f} "
            "training cost is never paid back by running costs."
        )
    volume = training.usd / ((cost_b - cost_c) / 1000)
    return volume, (
        f"{said} Its ${training.usd:,.2f} training cost is paid back by cheaper requests after "
        f"{volume:,.0f} requests."
    )


def decision_reading(
    analysis: Analysis, table: pd.DataFrame, loaded: LoadedSuite, metric: str
) -> DecisionReading:
    """The fine-tune-or-not reading of a run: shares of the target, intervals, costs."""
    suite = loaded.suite
    decision = suite.decision or Decision()
    held = analysis.metric("heldout", metric)
    b_score = held.baseline if held else None
    c_score = held.candidate if held else None
    draws = _draws(table, loaded, metric)
    s = suite.stats
    confidence = s.confidence
    if decision.target is not None:
        target = decision.target
        b = _share(
            b_score, target, None if draws is None else draws["baseline"] / target, confidence
        )
        c = _share(
            c_score, target, None if draws is None else draws["candidate"] / target, confidence
        )
        method = (
            f"percentile bootstrap over the held-out items ({s.bootstrap} resamples, seed "
            f"{s.seed}): each score's interval divided by the fixed target"
        )
    else:
        target = c_score
        shares = None if draws is None else ratio(draws["baseline"], draws["candidate"])
        b = _share(b_score, target, shares, confidence)
        c = Share(score=c_score, share=1.0 if c_score else None, ci_low=None, ci_high=None)
        method = (
            f"paired percentile bootstrap of the ratio baseline ÷ candidate over the held-out "
            f"items ({s.bootstrap} resamples, seed {s.seed}; both arms on the same resampled "
            "items, resamples where the candidate scores 0 left out)"
        )
    if draws is None:
        method = f"no interval: {metric} is not resampled here (a judge's rubric score)"
    reading = _reading(b)
    econ = analysis.economics
    costs = ArmValues(
        baseline=econ["baseline"].cost_per_1k_requests if "baseline" in econ else None,
        candidate=econ["candidate"].cost_per_1k_requests if "candidate" in econ else None,
    )
    volume, cost_sentence = _break_even(costs.baseline, costs.candidate, decision)
    return DecisionReading(
        metric=metric,
        target=target,
        target_source="suite" if decision.target is not None else "candidate",
        baseline=b,
        candidate=c,
        confidence=confidence,
        interval_method=method,
        outcome=reading,  # type: ignore[arg-type]
        sentence=_sentence(reading, metric, decision, b, c, "baseline" in loaded.prompt_options),
        cost_per_1k_requests=costs,
        training_cost_usd=decision.training_cost.usd if decision.training_cost else None,
        break_even_requests=volume,
        cost_sentence=cost_sentence,
    )
