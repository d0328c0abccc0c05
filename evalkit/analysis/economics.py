"""Tokens, latency and cost per arm: the long best prompt is paid on every request."""

from __future__ import annotations

import numpy as np
import pandas as pd

from evalkit.names import TASK
from evalkit.results import ArmEconomics
from evalkit.suite.schema import Price, Suite

# Public list prices in USD per million tokens (input, output), for a first answer only:
# prices change, so a suite's `prices:` or an arm's `price:` overrides these.
LIST_PRICES: dict[str, tuple[float, float]] = {
    "openai/gpt-4o-mini": (0.15, 0.60),
    "openai/gpt-4o": (2.50, 10.00),
    "openai/ft:gpt-4o-mini": (0.30, 1.20),
    "anthropic/claude-sonnet-4-5": (3.00, 15.00),
    "anthropic/claude-haiku-4-5": (1.00, 5.00),
}
# Providers that run on your own hardware: no per-token price (compute is not modelled).
FREE_PROVIDERS = ("local/", "evalkit-test/", "hf/", "ollama/", "llama-cpp-python/")


def price_for(model: str, explicit: Price | None, suite_prices: dict[str, Price]) -> Price | None:
    """The arm's own price, else the suite's table, else the list price; None when unknown."""
    if explicit is not None:
        return explicit
    if model in suite_prices:
        return suite_prices[model]
    if model.startswith(FREE_PROVIDERS):
        return Price(input_per_mtok=0.0, output_per_mtok=0.0)
    # fine-tuned ids (openai/ft:gpt-4o-mini:org::id) are priced by their base's ft rate
    for prefix, (inp, out) in sorted(LIST_PRICES.items(), key=lambda kv: -len(kv[0])):
        if model == prefix or model.startswith(prefix + ":") or model.startswith(prefix + "-"):
            return Price(input_per_mtok=inp, output_per_mtok=out)
    return None


def _mean(series: pd.Series) -> float | None:
    values = series.dropna()
    return float(values.mean()) if len(values) else None


def economics(rows: pd.DataFrame, model: str, price: Price | None) -> ArmEconomics:
    """Per-request figures for one arm's rows (errored rows count as requests, not as tokens)."""
    ok = rows[rows["error"].isna()]
    latency = ok["latency_s"].dropna().to_numpy(dtype=float)
    mean_in, mean_out = _mean(ok["input_tokens"]), _mean(ok["output_tokens"])
    cost = None
    if price is not None and mean_in is not None and mean_out is not None:
        cost = (mean_in * price.input_per_mtok + mean_out * price.output_per_mtok) / 1e6 * 1000
    return ArmEconomics(
        model=model,
        requests=len(rows),
        errors=int(rows["error"].notna().sum()),
        cached=int(rows["cached"].sum()),
        mean_input_tokens=mean_in,
        mean_output_tokens=mean_out,
        total_input_tokens=int(ok["input_tokens"].fillna(0).sum()),
        total_output_tokens=int(ok["output_tokens"].fillna(0).sum()),
        latency_p50_s=float(np.percentile(latency, 50)) if latency.size else None,
        latency_p95_s=float(np.percentile(latency, 95)) if latency.size else None,
        price=price,
        cost_per_1k_requests=cost,
    )


def arm_economics(table: pd.DataFrame, suite: Suite) -> dict[str, ArmEconomics]:
    """Economics per arm over the task datasets (probes use a shared neutral prompt)."""
    out = {}
    for arm_name, arm in suite.arms.items():
        rows = table[(table["arm"] == arm_name) & (table["section"] == TASK)]
        out[arm_name] = economics(rows, arm.model, price_for(arm.model, arm.price, suite.prices))
    return out
