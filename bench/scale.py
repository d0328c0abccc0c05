"""Scale-out figures of docs/scale.md: `--executor ray` against the local executor, and the merge.

  throughput  2 arms × N items against the loopback endpoint (its own process, fixed latency):
              `evalkit run --workers 1` (local executor) and `--executor ray --shards 1|2` (a
              local Ray instance with one CPU per shard, started and stopped by the run)
  merge       a scripted suite of 2 arms × M items run as 2, 4, 8, 16 Ray shards; then
              `evalkit merge` of those shard folders, timed alone

    python bench/scale.py                       # both, medians of 3
    python bench/scale.py --only merge --repeats 1

Every figure is the wall time of a separate `evalkit` process (start-up and Ray's own start
included), cache off, median of --repeats runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from api_throughput import ANSWERS, write_suite

from evalkit.testing.endpoint import running_endpoint

SCRIPTED = """
name: bench
task: {type: classification, labels: [card_arrival, exchange_rate], output: {format: json, field: intent}}
arms:
  baseline: {model: evalkit-test/base, model_args: {answers: {"where": '{"intent": "card_arrival"}'}, fallback: '{"intent": "exchange_rate"}'}, prompt: {text: "{{ input }}"}}
  candidate: {model: evalkit-test/tuned, model_args: {answers: {"exchange": '{"intent": "exchange_rate"}'}, fallback: '{"intent": "card_arrival"}'}, prompt: {text: "Q: {{ input }}"}}
datasets:
  heldout: {path: items.jsonl}
run: {max_connections: 64, cache: false}
stats: {bootstrap: 1000}
"""


def evalkit(*args: str) -> float:
    """Wall seconds of one `evalkit` command; fails loudly."""
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "evalkit.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "STUB_API_KEY": "bench-key"},
    )
    wall = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        raise SystemExit(f"evalkit {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return wall


def throughput(args: argparse.Namespace, tmp: Path) -> None:
    n = 2 * args.items
    print(f"\n## throughput: 2 arms × {args.items} items, {args.latency * 1000:.0f} ms endpoint, "
          f"max_connections {args.connections} per process")  # fmt: skip
    print(
        "| executor | workers | wall s | requests/s | requests/s per worker |\n|---|---:|---:|---:|---:|"
    )
    with running_endpoint("--latency", str(args.latency), answers=args.answers) as ep:
        suite = write_suite(tmp / "api", ep.url, args.items, connections=args.connections)
        out = tmp / "out"
        variants = [("local (--workers 1)", 1, ["--workers", "1"]),
                    ("ray --shards 1", 1, ["--executor", "ray", "--shards", "1", "--workers", "1"]),
                    ("ray --shards 2", 2, ["--executor", "ray", "--shards", "2", "--workers", "1"])]  # fmt: skip
        for label, workers, extra in variants:
            walls = [
                evalkit(
                    "run",
                    str(suite),
                    "--out",
                    str(out),
                    "--no-cache",
                    "--display",
                    "none",
                    "--run-id",
                    f"r{time.monotonic_ns()}",
                    *extra,
                )
                for _ in range(args.repeats)
            ]
            wall = statistics.median(walls)
            print(
                f"| {label} | {workers} | {wall:.2f} | {n / wall:.0f} | {n / wall / workers:.0f} |"
            )


def merge(args: argparse.Namespace, tmp: Path) -> None:
    folder = tmp / "scripted"
    folder.mkdir(parents=True, exist_ok=True)
    rows = [{"input": f"what exchange rate applies {i}" if i % 3 else f"where is my card {i}",
             "target": "exchange_rate" if i % 3 else "card_arrival"} for i in range(args.merge_items)]  # fmt: skip
    (folder / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "suite.yaml").write_text(SCRIPTED)
    out = tmp / "merge-out"
    print(f"\n## merge: 2 arms × {args.merge_items} items (scripted model)")
    print("| shards | ray run wall s (1 run) | `evalkit merge` wall s |\n|---|---:|---:|")
    for count in args.shards:
        run_id = f"s{count}"
        ray_wall = evalkit("run", str(folder / "suite.yaml"), "--out", str(out), "--no-cache",
                           "--executor", "ray", "--shards", str(count), "--run-id", run_id)  # fmt: skip
        shards = [str(out / "bench" / f"{run_id}.shard{i}of{count}") for i in range(1, count + 1)]
        walls = [
            evalkit("merge", *shards, "--out", str(out), "--run-id", f"{run_id}-m{k}")
            for k in range(args.repeats)
        ]
        print(f"| {count} | {ray_wall:.1f} | {statistics.median(walls):.2f} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="+", choices=["throughput", "merge"])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--items", type=int, default=1000, help="items per arm (throughput)")
    p.add_argument("--latency", type=float, default=0.05)
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--merge-items", type=int, default=5000, help="items per arm (merge)")
    p.add_argument("--shards", type=int, nargs="+", default=[2, 4, 8, 16])
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        answers = Path(tmp) / "answers.json"
        answers.write_text(json.dumps(ANSWERS))
        args.answers = answers
        for name, fn in (("throughput", throughput), ("merge", merge)):
            if not args.only or name in args.only:
                fn(args, Path(tmp))


if __name__ == "__main__":
    main()
