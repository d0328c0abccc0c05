"""End to end with the scripted provider: run folder, recomputable numbers, errors, cache, isolation."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

from evalkit.cli import main
from tests.conftest import ITEMS, SUITE, write_jsonl

# q5 makes the candidate's model fail: one errored sample that must be counted, not dropped.
FAILING = SUITE.replace('answers: {"card"', 'fail_on: ["lost in the post"]\n      answers: {"card"')


def _run(folder: Path, text: str, *extra: str) -> tuple[int, Path]:
    (folder / "suite.yaml").write_text(textwrap.dedent(text), encoding="utf-8")
    write_jsonl(folder / "items.jsonl", ITEMS)
    code = main(["run", str(folder / "suite.yaml"), "--out", str(folder / "reports"),
                 "--cache-dir", str(folder / "cache"), *extra])  # fmt: skip
    return code, (folder / "reports" / "tiny" / "latest").resolve()


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[int, Path]:
    return _run(tmp_path_factory.mktemp("run"), FAILING)


def _samples(run_dir: Path) -> pd.DataFrame:
    return pd.read_json(run_dir / "samples.jsonl", lines=True)


def _metric(results: dict, dataset: str, name: str) -> dict:
    return next(m for m in results["metrics"] if m["dataset"] == dataset and m["metric"] == name)


def test_run_writes_the_run_folder(run) -> None:
    code, run_dir = run
    assert code == 0
    for name in ("results.json", "samples.jsonl", "index.html", "run.json", "journal.jsonl"):
        assert (run_dir / name).is_file(), name
    assert json.loads((run_dir / "run.json").read_text())["state"] == "complete"
    results = json.loads((run_dir / "results.json").read_text())
    assert results["schema_version"] == 2
    assert results["versions"]["inspect_ai"] and results["versions"]["evalkit"]
    assert set(results["arms"]) == {"baseline", "candidate"}
    assert (
        results["arms"]["candidate"]["example_messages"][0]["content"] == "Q: where is my new card"
    )


def test_inspect_logs_are_written_on_request_and_read_back_by_inspect(run) -> None:
    from inspect_ai.log import read_eval_log

    assert main(["logs", str(run[1])]) == 0
    logs = {p.stem: p for p in (run[1] / "logs").glob("*.eval")}
    assert set(logs) == {"baseline__task__heldout", "candidate__task__heldout"}
    log = read_eval_log(str(logs["candidate__task__heldout"]))
    by_id = {s.id: s for s in log.samples}
    assert set(by_id) == {i["id"] for i in ITEMS}
    assert by_id["q5"].error is not None and "ScriptedFailure" in by_id["q5"].error.message
    rows = _samples(run[1]).query("arm == 'candidate'").set_index("id")
    assert by_id["q1"].output.completion == rows.loc["q1", "output"]
    assert by_id["q1"].input[-1].text == "Q: where is my new card"


def test_every_item_has_a_row_per_arm(run) -> None:
    samples = _samples(run[1])
    assert len(samples) == 2 * len(ITEMS)
    assert samples.groupby("arm")["id"].apply(sorted).to_dict() == {
        arm: sorted(i["id"] for i in ITEMS) for arm in ("baseline", "candidate")
    }


def test_errors_are_counted_and_scored_wrong(run) -> None:
    results = json.loads((run[1] / "results.json").read_text())
    assert results["datasets"]["heldout"]["errors"] == {"baseline": 0, "candidate": 1}
    row = _samples(run[1]).query("arm == 'candidate' and id == 'q5'").iloc[0]
    assert "ScriptedFailure" in row["error"] and not row["correct"]
    assert _metric(results, "heldout", "error_rate")["candidate"] == pytest.approx(1 / 6)


def test_numbers_are_recomputable_from_samples(run) -> None:
    results = json.loads((run[1] / "results.json").read_text())
    samples = _samples(run[1])
    labels = results["suite"]["labels"]
    for arm in ("baseline", "candidate"):
        rows = samples[samples["arm"] == arm].sort_values("id")
        preds = [
            "(none)" if pd.notna(err) or pd.isna(lab) else lab
            for lab, err in zip(rows["label"], rows["error"], strict=True)
        ]
        assert _metric(results, "heldout", "accuracy")[arm] == pytest.approx(rows["correct"].mean())
        assert _metric(results, "heldout", "macro_f1")[arm] == pytest.approx(
            f1_score(rows["target"], preds, labels=labels, average="macro", zero_division=np.nan)
        )
        assert _metric(results, "heldout", "format_adherence")[arm] == pytest.approx(
            rows["format_ok"].fillna(False).astype(bool).mean()
        )
        ok = rows[rows["error"].isna()]
        assert results["economics"][arm]["mean_input_tokens"] == pytest.approx(
            ok["input_tokens"].mean()
        )
        # a mean token count reads to one decimal everywhere, as in the report (not "83.000")
        mean_in = f"{ok['input_tokens'].mean():.1f}"
        assert f"| {mean_in} |" in (run[1] / "summary.md").read_text(encoding="utf-8")
    # baseline: q1 right, q2/q4/q6 exchange right, q3/q5 "not sure" → 4/6; candidate 5/6 with q5 errored
    assert _metric(results, "heldout", "accuracy")["baseline"] == pytest.approx(4 / 6)
    assert _metric(results, "heldout", "accuracy")["candidate"] == pytest.approx(5 / 6)
    paired = results["datasets"]["heldout"]["paired"]
    assert (paired["baseline_only_correct"], paired["candidate_only_correct"]) == (0, 1)


def test_second_run_is_served_from_cache_and_scoped_by_identity(tmp_path) -> None:
    code, first = _run(tmp_path, SUITE, "--run-id", "one")
    assert code == 0 and not _samples(first)["cached"].any()
    _, again = _run(tmp_path, SUITE, "--run-id", "two")
    assert _samples(again)["cached"].all()
    # a changed candidate prompt invalidates only the candidate arm
    _, changed = _run(
        tmp_path, SUITE.replace("Q: {{ input }}", "Query: {{ input }}"), "--run-id", "three"
    )
    s = _samples(changed)
    assert s.query("arm == 'baseline'")["cached"].all()
    assert not s.query("arm == 'candidate'")["cached"].any()
    # same model name and prompt but other model args (as with another adapter): no shared answers
    _, other = _run(
        tmp_path,
        SUITE.replace('fallback: "I am not sure."', 'fallback: "Unsure."'),
        "--run-id",
        "four",
    )
    assert not _samples(other).query("arm == 'baseline'")["cached"].any()


def test_ambient_inspect_settings_do_not_change_a_run(tmp_path, monkeypatch) -> None:
    elsewhere = tmp_path / "elsewhere"
    monkeypatch.setenv("INSPECT_LOG_DIR", str(elsewhere))
    monkeypatch.setenv("INSPECT_EVAL_MODEL_ARGS", "fallback=hijacked")
    (tmp_path / ".env").write_text(f"INSPECT_LOG_DIR={elsewhere}\nINSPECT_EVAL_LIMIT=1\n")
    monkeypatch.chdir(tmp_path)
    code, run_dir = _run(tmp_path, SUITE, "--no-cache")
    assert code == 0
    assert not elsewhere.exists()
    samples = _samples(run_dir)
    assert len(samples) == 2 * len(ITEMS)
    assert "hijacked" not in " ".join(samples["output"])
    import os

    assert os.environ["INSPECT_LOG_DIR"] == str(elsewhere)  # restored after the run


def test_unknown_provider_is_a_bad_input(make_suite, tmp_path, capsys) -> None:
    suite = make_suite(SUITE.replace("evalkit-test/tuned", "nosuchprovider/x"))
    code = main(
        ["run", str(suite), "--out", str(tmp_path / "r"), "--cache-dir", str(tmp_path / "c")]
    )
    err = capsys.readouterr().err
    assert code == 2 and "nosuchprovider/x" in err


def test_secrets_in_a_suite_are_refused(make_suite, capsys) -> None:
    text = SUITE.replace(
        'fallback: "I am not sure."', 'fallback: "I am not sure."\n      auth_token: sk-secret-1'
    )
    code = main(["validate", str(make_suite(text))])
    err = capsys.readouterr().err
    assert code == 2 and "model_args.auth_token looks like a secret" in err
    assert "sk-secret-1" not in err


def test_redaction_keeps_gate_paths_and_blanks_secret_values() -> None:
    from evalkit.credentials import redact

    config = {"arms": {"b": {"model_args": {"api_key": "sk-1", "batch": 8}}},
              "gates": [{"heldout.rubric.authenticity.overall": {"candidate": ">= 3"}}]}  # fmt: skip
    out = redact(config)
    assert out["arms"]["b"]["model_args"] == {"api_key": "<redacted>", "batch": 8}
    assert out["gates"] == config["gates"]


def test_targets_outside_the_label_set_are_normalised_like_answers(make_suite, tmp_path) -> None:
    """allow_unknown_labels: a verbatim answer to a target in other case or spelling is right."""
    items = [
        {
            "id": "a",
            "input": "where is my new card",
            "target": "Card_Arrival",
        },  # a label, other case
        {"id": "b", "input": "what is the weather", "target": "Out_Of_Scope"},  # not a label
    ]
    text = SUITE.replace(
        "heldout: {path: items.jsonl, id: id}",
        "heldout: {path: items.jsonl, id: id, allow_unknown_labels: true}",
    ).replace(
        """answers: {"card": '{"intent": "card_arrival"}'""",
        """answers: {"weather": '{"intent": "Out_Of_Scope"}', "card": '{"intent": "Card_Arrival"}'""",
    )
    suite = make_suite(text, items=items)
    code = main(
        ["run", str(suite), "--out", str(tmp_path / "r"), "--cache-dir", str(tmp_path / "c")]
    )
    run_dir = tmp_path / "r" / "tiny" / "latest"
    samples = _samples(run_dir).query("arm == 'candidate'").set_index("id")
    assert code == 0
    assert samples.loc["a", "target"] == "card_arrival"  # the label the target names
    assert (
        samples.loc["a", "output"] == '{"intent": "Card_Arrival"}' and samples.loc["a", "correct"]
    )
    assert (
        samples.loc["b", "output"] == '{"intent": "Out_Of_Scope"}' and samples.loc["b", "correct"]
    )


def test_the_modules_warmed_during_the_requests_exist() -> None:
    """A module named here that does not import would be warmed by a thread that dies quietly."""
    import importlib

    from evalkit.pipeline import WARM_IMPORTS

    for name in WARM_IMPORTS:
        assert importlib.import_module(name)


def test_samples_lines_are_plain_json_whatever_the_row_holds(tmp_path: Path) -> None:
    """NaN is null and numpy scalars are numbers in samples.jsonl, as json_ready makes them,
    whether or not a row needed it."""
    import numpy as np
    import pandas as pd

    from evalkit.jsonutil import json_ready
    from evalkit.report.files import write_samples

    rows = [
        {"id": "a", "latency_s": float("nan"), "scores": {"x": np.float64(0.25)}, "t": (1, 2)},
        {"id": "b", "latency_s": 0.5, "scores": {"x": np.int64(3)}, "t": (3,)},
        {"id": "c", "latency_s": 1.0, "scores": {}, "t": ("é",)},
    ]
    frame = pd.DataFrame(rows)
    frame["attempts"] = pd.array([1, None, 2], dtype="Int64")  # a missing count is null too
    write_samples(tmp_path / "s.jsonl", frame)
    lines = (tmp_path / "s.jsonl").read_text(encoding="utf-8").splitlines()
    expected = [json_ready(r) for r in frame.to_dict(orient="records")]
    assert [json.loads(line) for line in lines] == expected
    assert "NaN" not in lines[0] and json.loads(lines[0])["latency_s"] is None
    assert [json.loads(line)["attempts"] for line in lines] == [1, None, 2]


def test_each_distinct_answer_is_read_once_and_each_row_scored_as_its_own(
    make_suite: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A label task's answers repeat: the table reads each distinct one once (it read every
    row's), and rows that share an answer share no dict a later stage could change."""
    from evalkit.analysis import table as table_module
    from evalkit.run.journal import Record
    from evalkit.run.plan import plan_suite
    from evalkit.suite.load import load_suite

    loaded = load_suite(make_suite())
    plan = plan_suite(loaded, None)
    read: list[str] = []
    extract = table_module.extract_label

    def counted(output: str, *args: object) -> object:
        read.append(output)
        return extract(output, *args)

    monkeypatch.setattr(table_module, "extract_label", counted)
    answers = ['{"intent": "card_arrival"}', '{"intent": "exchange_rate"}', "no idea"]
    answered = {"error": None, "input_tokens": 1, "output_tokens": 1, "latency_s": 0.1,
                "attempts": 1, "cached": False}  # fmt: skip
    records = {
        (tp.name, s.id): Record(task=tp.name, item=s.id, key="k", output=answers[i % 3], **answered)
        for tp in plan.tasks
        for i, s in enumerate(tp.samples)
    }
    table = table_module.build_table(plan, records, loaded)
    assert len(table) == 12 and sorted(read) == sorted(answers)
    assert len({id(checks) for checks in table["checks"]}) == len(table)
    by_answer = {answers[0]: "card_arrival", answers[1]: "exchange_rate", answers[2]: None}
    labels = [lab if isinstance(lab, str) else None for lab in table["label"]]  # NaN: none
    assert labels == [by_answer[o] for o in table["output"]]
    expected = zip(table["output"], table["target"], strict=True)
    assert table["correct"].tolist() == [by_answer[o] == t for o, t in expected]
    assert table["format_ok"].tolist() == [o != answers[2] for o in table["output"]]


def test_a_run_reads_its_journal_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The journal is read for what an earlier attempt answered, not read back after the
    requests: each record is kept as it is made (reading 4,000 back cost about 0.05 s)."""
    from evalkit.run import execute

    reads = []
    latest = execute.latest_records

    def counted(paths: object) -> object:
        reads.append(1)
        return latest(paths)

    monkeypatch.setattr(execute, "latest_records", counted)
    code, run_dir = _run(tmp_path, FAILING)
    assert code == 0 and len(reads) == 1
    rows = _samples(run_dir)
    assert len(rows) == 12 and rows["error"].notna().sum() == 1  # q5's failure is kept too


def test_the_requests_do_not_wait_for_pandas(
    make_suite: Callable[..., Path], tmp_path: Path
) -> None:
    """Before the first request only what sending needs is imported: pandas and the analysis
    load while the requests are in flight (here turned off, so the check is exact). A fresh
    process, since this one has long imported both."""
    suite = make_suite()
    probe = """
import sys
from pathlib import Path
import evalkit.pipeline as pipeline
from evalkit.run.engine import Engine
assert "pandas" not in sys.modules, "importing the pipeline imports pandas"
seen = []
send = Engine.run
async def run(self, requests):
    seen.append("pandas" in sys.modules)
    await send(self, requests)
Engine.run = run
pipeline._warm_imports = lambda: None
pipeline.run_suite(sys.argv[1], pipeline.RunOptions(out_dir=Path(sys.argv[2]), no_cache=True))
print(seen)
"""
    done = subprocess.run(
        [sys.executable, "-c", probe, str(suite), str(tmp_path / "out")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[False]"
