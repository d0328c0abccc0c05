"""Redaction of a results-sized dict at two sizes: the time ratio should match the size ratio.

    python bench/redaction.py                 # 20,000 and 100,000 samples
    python bench/redaction.py --small 5000 --large 50000

Each sample is a dict of strings like a samples.jsonl row (input, output, error text with a
planted key); three environment secrets are redacted as well, as in a real run.
"""

from __future__ import annotations

import argparse
import time

from evalkit.credentials import REDACTED, redact

SECRETS = ["sk-bench-secret-000000000001", "hf_benchsecret0000000002", "bench-secret-value-3"]


def results(n: int) -> dict:
    rows = [
        {"id": f"q{i}", "input": f"where is my card number {i}, " * 8,
         "output": '{"intent": "card_arrival"} ' * 4,
         "error": f"401: bad key {SECRETS[i % 3]}" if i % 50 == 0 else None,
         "label": "card_arrival", "correct": True, "latency_s": 0.2}
        for i in range(n)
    ]  # fmt: skip
    return {"suite": {"name": "bench"}, "samples": rows}


def timed(n: int) -> float:
    data = results(n)
    started = time.perf_counter()
    out = redact(data, SECRETS)
    elapsed = time.perf_counter() - started
    assert out["samples"][0]["error"] == f"401: bad key {REDACTED}"  # it really redacted
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=20_000)
    parser.add_argument("--large", type=int, default=100_000)
    args = parser.parse_args()
    small, large = timed(args.small), timed(args.large)
    print(f"redact {args.small:,} samples: {small:.2f} s; {args.large:,} samples: {large:.2f} s")
    print(f"time ratio {large / small:.2f} for a size ratio of {args.large / args.small:.2f}")


if __name__ == "__main__":
    main()
