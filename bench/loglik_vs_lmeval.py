"""Log-likelihood scoring speed: evalkit's `local/` provider against lm-eval 0.4's `hf` backend.

Both score the same 150 items (tests/reference/lmeval/: 100 HellaSwag, 50 MMLU; 600 choices)
with the same model in float32 on the CPU, each in a fresh process, model load included,
alternating so both see the same machine. Prints each run's wall and CPU seconds, the
medians, and the ratio of items per second (evalkit / lm-eval; at least 1 is the target).

    python bench/loglik_vs_lmeval.py --lmeval-python /work/venvs/lmeval/bin/python --repeat 3

lm-eval is not one of evalkit's dependencies: give an interpreter that has lm-eval 0.4.13
(tests/reference/lmeval/README.md says how that venv was made).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ITEMS = 150

EVALKIT = """
import asyncio, json, sys
from pathlib import Path
sys.path.insert(0, {root!r})
from tests.test_lmeval_agreement import _reference, _score_all
scored = _score_all(_reference())
print(json.dumps({{"items": len(scored)}}))
"""


def _timed(command: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child) of one command run to completion."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, cwd=ROOT)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lmeval-python", required=True, help="an interpreter with lm-eval")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    evalkit = [sys.executable, "-c", EVALKIT.format(root=str(ROOT))]
    lmeval = [sys.executable, str(ROOT / "tests/reference/lmeval/run_lmeval.py"),
              "--python", args.lmeval_python]  # fmt: skip
    runs: dict[str, list[tuple[float, float]]] = {"evalkit": [], "lm-eval": []}
    for i in range(args.repeat):
        for name, command in (("evalkit", evalkit), ("lm-eval", lmeval)):
            wall, cpu = _timed(command)
            runs[name].append((wall, cpu))
            print(f"run {i + 1} {name:8s} wall {wall:6.1f} s  cpu {cpu:6.1f} s", flush=True)
    medians = {name: statistics.median(w for w, _ in r) for name, r in runs.items()}
    result = {
        "items": ITEMS,
        "median_wall_s": medians,
        "items_per_s": {name: ITEMS / s for name, s in medians.items()},
        "ratio_evalkit_over_lmeval": medians["lm-eval"] / medians["evalkit"],
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
