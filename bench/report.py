"""HTML report cost at scale: analyse + render time, file size and page-load time in Chromium.

    python bench/report.py [--items 20000 100000] [--repeats 3]

For each size, a generated classification suite (evalkit-test models, banking77's 77 intents
by default; --labels N for the first N) is loaded
with the real loader, and a synthetic per-sample table of that many items per arm is built
directly (no model runs): about 8% of each arm's answers wrong, 2% unparsable, 0.5% failed
requests. Then the real `analyse` and `render_report` are timed (median of the repeats), the
page is written, and headless Chromium opens it: the page writes `performance.now()` into
`#render-ms` once the sample browser has drawn its first page, and `--dump-dom` reads it back
(plainly, and with a search and a filter applied on load through the URL hash). Chromium's
wall time includes starting the browser.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import re
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

from evalkit.analysis.analyse import analyse
from evalkit.analysis.table import COLUMNS
from evalkit.report.html import render_report
from evalkit.results import ArmInfo, Results, RunInfo, SuiteInfo, Versions
from evalkit.suite.load import LoadedSuite, load_suite

CHROMIUM = "/usr/bin/chromium"
# banking77's 77 intents: real suites have many labels, and the per-class work grows with them
INTENTS = (Path(__file__).parent / "banking77_intents.txt").read_text(encoding="utf-8").split()
WORDS = [
    "card",
    "transfer",
    "exchange",
    "rate",
    "refund",
    "pending",
    "fee",
    "account",
    "limit",
    "top",
    "up",
    "cash",
    "atm",
]
SUITE = """
name: bench-report
task:
  type: classification
  labels: {labels}
  output: {{format: json, field: intent}}
arms:
  baseline: {{model: evalkit-test/base, prompt: {{text: "Labels: {{{{ labels | join(', ') }}}}\\nQuery: {{{{ input }}}}"}}}}
  candidate: {{model: evalkit-test/ft, prompt: {{text: "Q: {{{{ input }}}}"}}}}
datasets:
  heldout: {{path: items.jsonl, id: id}}
"""


def make_suite(folder: Path, n: int, rng: random.Random, labels: list[str]) -> LoadedSuite:
    """A suite file and its held-out data, loaded by the real loader."""
    items = [
        {
            "id": f"item-{i}",
            "input": " ".join(rng.choices(WORDS, k=rng.randint(6, 18))) + "?",
            "target": rng.choice(labels),
        }
        for i in range(n)
    ]
    (folder / "items.jsonl").write_text("".join(json.dumps(it) + "\n" for it in items))
    (folder / "suite.yaml").write_text(SUITE.format(labels=json.dumps(labels)))
    return load_suite(folder / "suite.yaml")


def make_table(loaded: LoadedSuite, rng: random.Random) -> pd.DataFrame:
    """One scored row per item and arm, shaped like build_table's output."""
    rows: list[dict[str, Any]] = []
    for arm, prompt_tokens in (("baseline", 420), ("candidate", 24)):
        for it in loaded.datasets["heldout"]:
            roll = rng.random()
            error = "TimeoutError (after retries)" if roll < 0.005 else None
            if error:
                output, label, parsed = "", None, False
            elif roll < 0.025:
                output, label, parsed = "Sorry, I cannot tell which intent this is.", None, False
            else:
                label = it.target if roll > 0.105 else rng.choice(loaded.labels)
                output, parsed = json.dumps({"intent": label}), True
            ok = parsed and error is None
            rows.append(
                {
                    "arm": arm, "dataset": "heldout", "section": "task", "kind": "in_domain",
                    "id": it.id, "input": it.input, "target": it.target, "output": output,
                    "error": error, "label": label, "parsed": parsed,
                    "correct": label == it.target, "checks": {"json": ok, "label_in_set": ok},
                    "format_ok": ok, "custom": {}, "input_tokens": None if error else prompt_tokens + 12,
                    "output_tokens": None if error else 8,
                    "latency_s": None if error else rng.uniform(0.2, 1.5), "cached": False,
                    "judge": None,
                }
            )  # fmt: skip
    return pd.DataFrame(rows, columns=COLUMNS)


def metadata(loaded: LoadedSuite, n: int) -> RunInfo:
    """The header run_metadata would write (it needs a plan, which this bench skips)."""
    suite = loaded.suite
    return RunInfo(
        run_id=f"bench-{n}",
        created_at="2026-01-01T00:00:00+00:00",
        duration_s=0.0,
        versions=Versions(evalkit="bench", inspect_ai="-", python=platform.python_version()),
        suite=SuiteInfo(name=suite.name, path=str(loaded.path), sha256=loaded.sha256,
                        task_type=suite.task.type, labels=list(loaded.labels)),
        arms={
            arm: ArmInfo(model=suite.arms[arm].model, identity="-", adapter_sha256=None,
                         prompt_sha256=loaded.prompts[arm].sha256, fewshot_examples=0,
                         example_messages=[])
            for arm in ("baseline", "candidate")
        },
        dataset_hashes={},
        stats=suite.stats,
    )  # fmt: skip


def timed(fn: Any, repeats: int) -> tuple[Any, float]:
    """(the last result, the median wall time in seconds)."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return result, statistics.median(times)


def page_load_ms(page: Path, profile: Path, fragment: str = "") -> tuple[float, float]:
    """(ms until the sample browser drew its first page, per the page; Chromium's wall time)."""
    args = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={profile}", "--dump-dom", page.as_uri() + fragment,
    ]  # fmt: skip
    start = time.perf_counter()
    dom = subprocess.run(args, capture_output=True, text=True, timeout=120, check=True).stdout
    wall = time.perf_counter() - start
    m = re.search(r'id="render-ms"[^>]*>([\d.]+)<', dom)
    if not m or '<div id="js-errors"></div>' not in dom:
        raise RuntimeError(f"{page}: the page did not finish rendering cleanly")
    return float(m.group(1)), wall * 1000


def bench(n: int, repeats: int, folder: Path, labels: list[str]) -> dict[str, float]:
    rng = random.Random(n)
    loaded = make_suite(folder, n, rng, labels)
    table = make_table(loaded, rng)
    analysed, analyse_s = timed(lambda: analyse(table, loaded), repeats)
    results = Results(**dict(metadata(loaded, n)), **dict(analysed))
    html, render_s = timed(lambda: render_report(results, table), repeats)
    page = folder / "index.html"
    page.write_text(html, encoding="utf-8")
    # without Chromium (not installed on every machine) the page timings are NaN
    browser = Path(CHROMIUM).exists()
    loads = [page_load_ms(page, folder / f"profile-{k}") for k in range(repeats) if browser]
    # the slowest first view: a search on load builds the search text of every row
    searches = [
        page_load_ms(page, folder / f"profile-{k}", "#q=refund&filter=wrong")[0]
        for k in range(repeats)
        if browser
    ]
    nan = float("nan")
    return {
        "items": n,
        "analyse_s": analyse_s,
        "render_s": render_s,
        "ms_per_item": (analyse_s + render_s) * 1000 / n,
        "html_mb": page.stat().st_size / 1e6,
        "page_ready_ms": statistics.median(x[0] for x in loads) if loads else nan,
        "chromium_wall_ms": statistics.median(x[1] for x in loads) if loads else nan,
        "search_ready_ms": statistics.median(searches) if searches else nan,
    }


def chromium_baseline_ms(repeats: int) -> float:
    """Chromium's wall time for an empty page: its own start and exit, to read the rest against."""
    with tempfile.TemporaryDirectory() as tmp:
        blank = Path(tmp) / "blank.html"
        blank.write_text(
            '<div id="js-errors"></div><span id="render-ms">0</span>', encoding="utf-8"
        )
        return statistics.median(
            page_load_ms(blank, Path(tmp) / f"profile-{k}")[1] for k in range(repeats)
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--labels", type=int, default=len(INTENTS),
                        help=f"how many of banking77's {len(INTENTS)} intents the task declares")  # fmt: skip
    args = parser.parse_args()
    if Path(CHROMIUM).exists():
        print(
            f"Chromium start + exit on an empty page: {chromium_baseline_ms(args.repeats):.0f} ms"
        )
    else:
        print(f"{CHROMIUM} not found: no page timings")
    print(
        f"{'items':>8} {'analyse s':>10} {'render s':>9} {'ms/item':>8} {'HTML MB':>8}"
        f" {'page ready ms':>14} {'w/ search ms':>13} {'chromium ms':>12}"
    )
    for n in args.items:
        with tempfile.TemporaryDirectory() as tmp:
            r = bench(n, args.repeats, Path(tmp), INTENTS[: args.labels])
        print(
            f"{r['items']:>8} {r['analyse_s']:>10.2f} {r['render_s']:>9.2f} {r['ms_per_item']:>8.3f}"
            f" {r['html_mb']:>8.1f} {r['page_ready_ms']:>14.0f} {r['search_ready_ms']:>13.0f}"
            f" {r['chromium_wall_ms']:>12.0f}"
        )


if __name__ == "__main__":
    main()
