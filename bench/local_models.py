"""Local-model throughput: evalkit (engine + `local/` provider) against plain batched `model.generate`.

    python bench/local_models.py [--quick] [--items 16] [--repeats 3]

For each arm of the banking77 demo (base model + few-shot prompt, adapter + short prompt)
and each batch size, the same held-out items go once through evalkit's engine and `local/`
provider (every request submitted at once, as a run does) and once through a hand-written
loop of left-padded `model.generate` calls on the same loaded model. Prints seconds per
sample, generated tokens per second, the evalkit/plain throughput ratio (median of the
repeats, both measured in this run) and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import torch

from evalkit.models import fetch, local
from evalkit.models.clients import GenConfig, make_client
from evalkit.prompts import CompiledPrompt, Example
from evalkit.run.engine import Engine, Policy, Request
from evalkit.run.journal import Record
from evalkit.run.plan import ModelSpec

SUITE = Path(__file__).resolve().parent.parent / "suites" / "banking77"
MODEL = "smollm2-135m-instruct"
MAX_TOKENS = 24


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def arms() -> dict[str, tuple[CompiledPrompt, str | None]]:
    labels = tuple((SUITE / "data" / "labels.txt").read_text().split())
    fewshot_rows = read_jsonl(SUITE / "data" / "fewshot.jsonl")
    # the baseline's chosen setting: the first few-shot example of each label, in file order
    first: dict[str, Example] = {}
    for r in fewshot_rows:
        first.setdefault(r["target"], Example(r["input"], r["target"]))
    one_per_label = tuple(first.values())
    baseline = CompiledPrompt(
        user=(SUITE / "prompts" / "baseline_fewshot.jinja").read_text(),
        system=(SUITE / "prompts" / "baseline_fewshot_system.jinja").read_text(),
        labels=labels,
        examples=one_per_label,
    )
    candidate = CompiledPrompt(
        user=(SUITE / "prompts" / "candidate_short.jinja").read_text(), labels=labels
    )
    return {
        "baseline (base + few-shot)": (baseline, None),
        "candidate (adapter + short)": (candidate, str(SUITE / "adapter")),
    }


def via_engine(
    prompts: list[list[dict[str, str]]], adapter: str | None, batch_size: int
) -> tuple[float, int]:
    """Wall seconds and generated tokens for all prompts through evalkit's engine and provider."""
    args = {"batch_size": batch_size, **({"adapter": adapter} if adapter else {})}
    spec = ModelSpec(f"local/{MODEL}", tuple(sorted(args.items())), None, None)
    client = make_client(spec, "auto", batch_size)
    requests = [
        Request("bench", str(i), spec, tuple((m["role"], m["content"]) for m in p),
                GenConfig(max_tokens=MAX_TOKENS))
        for i, p in enumerate(prompts)
    ]  # fmt: skip
    records: list[Record] = []
    engine = Engine(
        {spec.identity: client},
        Policy(max_connections=batch_size, timeout=3600, hedge_after=0),
        records.append,
    )
    started = time.perf_counter()
    asyncio.run(engine.run(requests))
    elapsed = time.perf_counter() - started
    failed = [r.error for r in records if r.error]
    if failed:
        raise SystemExit(f"{len(failed)} requests failed: {failed[0]}")
    return elapsed, sum(r.output_tokens or 0 for r in records)


def via_plain_generate(
    engine: local.Engine, prompts: list[list[dict[str, str]]], batch_size: int
) -> tuple[float, int]:
    """Wall seconds and generated tokens for the same prompts with plain `model.generate`.

    Run on evalkit's torch thread (`local.on_device`), as evalkit's own batches are: OpenMP
    gives every thread that computes its own team of threads, and two teams would compete
    for the cores and slow whichever loop ran second.
    """
    tok, model = engine.tokenizer, engine.model
    texts = [
        tok.apply_chat_template(p, add_generation_prompt=True, tokenize=False) for p in prompts
    ]
    started, generated = time.perf_counter(), 0
    for start in range(0, len(texts), batch_size):
        enc = tok(
            texts[start : start + batch_size],
            return_tensors="pt",
            padding=True,
            add_special_tokens=False,
        )
        with torch.inference_mode():
            out = model.generate(
                **enc, max_new_tokens=MAX_TOKENS, do_sample=False, pad_token_id=tok.pad_token_id
            )
        new = out[:, enc["input_ids"].shape[1] :]
        generated += int((new != tok.pad_token_id).sum())
    return time.perf_counter() - started, generated


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 items, batch 1 and 8, 1 repeat")
    parser.add_argument("--items", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-sizes", default="1,4,8,16")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.items, args.repeats, args.batch_sizes = 8, 1, "1,8"
    sizes = [int(s) for s in args.batch_sizes.split(",")]
    items = read_jsonl(SUITE / "data" / "heldout.jsonl")[: args.items]
    model_dir = str(fetch.ensure_model(MODEL))

    print(
        f"# {datetime.now(UTC):%Y-%m-%d %H:%M} UTC · {platform.processor() or platform.machine()}"
        f" · {torch.get_num_threads()} torch threads · {len(items)} heldout items · "
        f"max {MAX_TOKENS} new tokens · median of {args.repeats} · "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(
        "| arm | batch | prompt tokens (mean) | evalkit s/sample | evalkit tok/s "
        "| plain s/sample | plain tok/s | evalkit ÷ plain throughput |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for arm, (prompt, adapter) in arms().items():
        prompts = [prompt.render(item["input"]) for item in items]
        engine = local.load_engine(model_dir, adapter, "float32")
        mean_in = statistics.mean(
            len(engine.tokenizer.apply_chat_template(p, add_generation_prompt=True)["input_ids"])
            for p in prompts
        )
        via_engine(prompts[:2], adapter, 2)  # warm-up: first-call allocations
        for size in sizes:
            ours, plain = [], []
            for repeat in range(args.repeats):
                # alternate which goes first, so load that drifts over time favours neither
                if repeat % 2:
                    plain.append(local.on_device(via_plain_generate, engine, prompts, size))
                    ours.append(via_engine(prompts, adapter, size))
                else:
                    ours.append(via_engine(prompts, adapter, size))
                    plain.append(local.on_device(via_plain_generate, engine, prompts, size))
            t_ours = statistics.median(t for t, _ in ours)
            t_plain = statistics.median(t for t, _ in plain)
            n_ours, n_plain = ours[0][1], plain[0][1]
            print(
                f"| {arm} | {size} | {mean_in:.0f} | {t_ours / len(items):.3f} | "
                f"{n_ours / t_ours:.1f} | {t_plain / len(items):.3f} | {n_plain / t_plain:.1f} | "
                f"{t_plain / t_ours:.2f} |",
                flush=True,
            )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS: {peak:.0f} MiB (both arms' models loaded)")
    print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
