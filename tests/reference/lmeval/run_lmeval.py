"""Run lm-evaluation-harness 0.4 (`hf`, float32, CPU) on evalkit's reference items and time it.

The items are the first 100 of the hellaswag pack and the first 50 of mmlu-global-facts, read
by the local tasks in tasks/ straight from the packs' items.jsonl. Prints one JSON object
(the command, wall seconds, lm-eval's own timings); with --write it also rewrites
smollm2_loglik.jsonl and summary.json beside this file from lm-eval's logged samples.

    /work/venvs/lmeval/bin/python tests/reference/lmeval/run_lmeval.py --write
    python tests/reference/lmeval/run_lmeval.py --python /work/venvs/lmeval/bin/python

--python is the interpreter that has lm-eval (default: this one). --write needs lm-eval
importable here too: it checks the contexts against lm-eval's own hellaswag preprocessing
and MMLU template, rendered by lm-eval's code on the source data in --data.
"""

from __future__ import annotations

import argparse
import bz2
import csv
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
DEFAULT_MODEL = Path.home() / ".cache" / "evalkit" / "models" / "smollm2-135m-instruct"
# lm-eval task name -> (evalkit pack, how many leading items)
TASKS = {
    "evalkit_hellaswag": ("hellaswag", 100),
    "evalkit_mmlu_global_facts": ("mmlu-global-facts", 50),
}
OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
# lm-eval's log line prefix, e.g. "2026-12-06:14:40:01 INFO" (whole seconds)
LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d:\d\d:\d\d:\d\d) ")


def lm_eval_command(python: str, model: Path, output: Path) -> list[str]:
    """The lm_eval invocation, run from the repository root."""
    samples = {task: list(range(n)) for task, (_, n) in TASKS.items()}
    return [
        python,
        "-m",
        "lm_eval",
        "run",
        "--model",
        "hf",
        "--model_args",
        f"pretrained={model},dtype=float32",
        "--tasks",
        ",".join(TASKS),
        "--include_path",
        str((HERE / "tasks").relative_to(REPO)),
        "--samples",
        json.dumps(samples, separators=(",", ":")),
        "--device",
        "cpu",
        "--batch_size",
        "8",
        "--log_samples",
        "--output_path",
        str(output),
    ]


def _log_span(log: str, start: str, end: str) -> float | None:
    """Seconds between lm-eval's first log lines containing start and end (whole seconds)."""
    stamps = {}
    for line in log.splitlines():
        match = LOG_TIME.match(line)
        for marker in (start, end):
            if match and marker in line and marker not in stamps:
                stamps[marker] = datetime.strptime(match.group(1), "%Y-%m-%d:%H:%M:%S")
    if len(stamps) < 2:
        return None
    return (stamps[end] - stamps[start]).total_seconds()


def run(python: str, model: Path, output: Path) -> dict[str, object]:
    """Run lm-eval once; the wall time is the whole process, model load included."""
    command = lm_eval_command(python, model, output)
    env = {**os.environ, **OFFLINE, "HF_DATASETS_CACHE": str(output / "hf-datasets")}
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    log = proc.stdout + proc.stderr
    (output / "lm_eval.log").write_text(log, encoding="utf-8")
    if proc.returncode != 0:
        sys.exit(f"lm_eval exited {proc.returncode}; its log is {output / 'lm_eval.log'}")
    results_file = next(output.rglob("results_*.json"))
    results = json.loads(results_file.read_text(encoding="utf-8"))
    return {
        "command": command,
        "cwd": "<repository root>",
        "items": sum(n for _, n in TASKS.values()),
        "wall_seconds": round(wall, 2),
        "lm_eval_total_evaluation_time_seconds": round(
            float(results["total_evaluation_time_seconds"]), 2
        ),
        # lm-eval reports no model-load time of its own; its log's timestamps split the run
        "model_and_data_setup_seconds_from_log": _log_span(
            log, "Initializing hf model", "Running loglikelihood requests"
        ),
        "loglik_requests_seconds_from_log": _log_span(
            log, "Running loglikelihood requests", "Saving results aggregated"
        ),
        "results": results,
    }


def _samples(output: Path, task: str) -> list[dict]:
    path = next(output.rglob(f"samples_{task}_*.jsonl"))
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return sorted(rows, key=lambda row: row["doc_id"])


def _pack_items(pack: str) -> list[dict]:
    path = REPO / "evalkit" / "probes" / "packs" / pack / "items.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def reference_rows(output: Path) -> list[dict]:
    """One compact row per item from lm-eval's logged samples, in pack order."""
    rows = []
    for task, (pack, n) in TASKS.items():
        items = _pack_items(pack)[:n]
        samples = _samples(output, task)
        if [s["doc_id"] for s in samples] != list(range(n)):
            sys.exit(f"{task}: lm-eval logged docs {[s['doc_id'] for s in samples]}")
        for item, sample in zip(items, samples, strict=True):
            if sample["doc"]["id"] != item["id"]:
                sys.exit(f"{task}: doc {sample['doc_id']} is {sample['doc']['id']}")
            args = [sample["arguments"][f"gen_args_{i}"] for i in range(len(sample["arguments"]))]
            contexts = {a["arg_0"] for a in args}
            if len(contexts) != 1:
                sys.exit(f"{task} {item['id']}: several contexts")
            # lm-eval's gold: an index, or a choice's own text (MMLU's letters); the task's
            # target_delimiter is " "
            choices = [a["arg_1"].removeprefix(" ") for a in args]
            target = sample["target"]
            gold = int(target) if target.isdigit() else choices.index(target)
            rows.append(
                {
                    "pack": pack,
                    "id": item["id"],
                    "context": contexts.pop(),
                    "continuations": [a["arg_1"] for a in args],
                    "target": gold,
                    # lm-eval logs each (loglik, is_greedy) as strings of Python floats
                    "logliks": [float(resp[0]) for resp in sample["filtered_resps"]],
                    "acc": sample["acc"],
                    "acc_norm": sample["acc_norm"],
                }
            )
    return rows


def check_against_lm_eval_code(rows: list[dict], data: Path) -> dict[str, str]:
    """Contexts and choices equal lm-eval's own task code applied to the source data."""
    import yaml
    from lm_eval.tasks.hellaswag.utils import preprocess
    from lm_eval.utils import apply_template

    checks = {}
    # hellaswag: the pack's input/choices are lm-eval's preprocess of the text form (all items)
    with bz2.open(data / "hellaswag" / "hellaswag_val_full.txt.bz2", "rt", encoding="utf-8") as f:
        raw = f.read().split("\n")
    items = _pack_items("hellaswag")
    same = sum(
        item["input"] == preprocess(raw[6 * i])
        and item["choices"] == [preprocess(e) for e in raw[6 * i + 2 : 6 * i + 6]]
        and item["target"] == int(raw[6 * i + 1])
        for i, item in enumerate(items)
    )
    checks["hellaswag_items_equal_lm_eval_preprocess"] = f"{same}/{len(items)}"
    # mmlu: the logged contexts equal lm-eval's mmlu_global_facts template on the CSV rows
    mmlu = Path(sys.modules["lm_eval"].__file__).parent / "tasks" / "mmlu" / "default"
    template = yaml.safe_load((mmlu / "_default_template_yaml").read_text(encoding="utf-8"))
    task = yaml.safe_load((mmlu / "mmlu_global_facts.yaml").read_text(encoding="utf-8"))
    with (data / "mmlu" / "global_facts_test.csv").open(encoding="utf-8", newline="") as f:
        csv_rows = list(csv.reader(f))
    mmlu_rows = [r for r in rows if r["pack"] == "mmlu-global-facts"]
    same = 0
    for row in mmlu_rows:
        question, *options, answer = csv_rows[int(row["id"].rsplit("-", 1)[1])]
        doc = {"question": question, "choices": options}
        context = task["description"] + apply_template(template["doc_to_text"], doc)
        continuations = [" " + c for c in template["doc_to_choice"]]
        same += (
            row["context"] == context
            and row["continuations"] == continuations
            and template["doc_to_choice"][row["target"]] == answer
        )
    checks["mmlu_contexts_equal_lm_eval_template"] = f"{same}/{len(mmlu_rows)}"
    return checks


def _versions(python: str) -> dict[str, str]:
    code = (
        "import json, importlib.metadata as m, torch, transformers;"
        "print(json.dumps({'lm_eval': m.version('lm_eval'), 'torch': torch.__version__,"
        "'transformers': transformers.__version__, 'python': __import__('sys').version.split()[0]}))"
    )
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def write_reference(timing: dict, output: Path, python: str, data: Path) -> None:
    rows = reference_rows(output)
    checks = check_against_lm_eval_code(rows, data)
    with (HERE / "smollm2_loglik.jsonl").open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    results = timing["results"]["results"]
    summary = {
        "lm_eval_results": {
            task: {
                "pack": pack,
                "items": n,
                "acc": results[task]["acc,none"],
                "acc_stderr": results[task]["acc_stderr,none"],
                "acc_norm": results[task]["acc_norm,none"],
                "acc_norm_stderr": results[task]["acc_norm_stderr,none"],
            }
            for task, (pack, n) in TASKS.items()
        },
        "versions": _versions(python),
        "model": "SmolLM2-135M-Instruct (local/smollm2-135m-instruct), float32, CPU",
        # as run from the repository root, with the interpreter and output folder named
        "command": ["python", *timing["command"][1:-1], "OUTPUT"],
        "requests": sum(len(r["continuations"]) for r in rows),
        "timing": {
            "wall_seconds": timing["wall_seconds"],
            "lm_eval_total_evaluation_time_seconds": timing[
                "lm_eval_total_evaluation_time_seconds"
            ],
            "model_and_data_setup_seconds_from_log": timing[
                "model_and_data_setup_seconds_from_log"
            ],
            "loglik_requests_seconds_from_log": timing["loglik_requests_seconds_from_log"],
            "machine": f"{os.cpu_count()} CPU cores (shared)",
        },
        "checks": checks,
    }
    (HERE / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=sys.executable, help="interpreter with lm-eval")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--data", type=Path, default=Path("/work/shared/data"))
    parser.add_argument("--write", action="store_true", help="rewrite the reference files")
    parser.add_argument("--keep", type=Path, help="an empty folder to keep lm-eval's output in")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lmeval-ref-") as tmp:
        output = args.keep or Path(tmp)
        output.mkdir(parents=True, exist_ok=True)
        timing = run(args.python, args.model, output)
        if args.write:
            write_reference(timing, output, args.python, args.data)
    report = {k: v for k, v in timing.items() if k != "results"}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
