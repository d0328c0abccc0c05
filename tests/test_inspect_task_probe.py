"""An inspect-ai Task as a forgetting probe: both arms run tests/fixtures/tiny_task.py through
inspect's own eval loop (its solver, its `match()` scorer), paired by sample id, scored into
samples.jsonl like any probe, with the forgetting verdict; and the located errors."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from evalkit.cli import main
from evalkit.errors import InputError
from evalkit.inputfiles import SuiteFolder
from evalkit.scoring.inspect_task import inspect_probe
from tests.conftest import ITEMS, SUITE, write_jsonl

TASK_FILE = Path(__file__).parent / "fixtures" / "tiny_task.py"
QUESTIONS = [(f"tiny question {k}: what is {k} plus {k}?", str(2 * k)) for k in range(10)]
N = 8


def _answers(right: set[int]) -> str:
    """Scripted model_args: the right sum for the questions in `right`, a wrong one elsewhere."""
    return json.dumps(
        {"answers": {q: f"The answer is {t if k in right else int(t) + 1}"
                     for k, (q, t) in enumerate(QUESTIONS)}}
    )  # fmt: skip


def _suite(tmp: Path, baseline: str, candidate: str, probe: str) -> Path:
    (tmp / "tasks").mkdir(exist_ok=True)
    (tmp / "tasks" / "tiny_task.py").write_text(TASK_FILE.read_text("utf-8"), encoding="utf-8")
    write_jsonl(tmp / "items.jsonl", ITEMS)
    arms = SUITE.split("arms:")[1].split("datasets:")[0]
    text = SUITE.replace(arms, f"\n  baseline:\n{baseline}\n  candidate:\n{candidate}\n")
    text += f"probes:\n  - {probe}\nprobe_margin: {{margin: 0.10, confidence: 0.95}}\n"
    suite = tmp / "suite.yaml"
    suite.write_text(text, encoding="utf-8")
    return suite


def _arm(model: str, args: str) -> str:
    return f"    model: {model}\n    model_args: {args}\n    prompt: {{text: 'Q: {{{{ input }}}}'}}"


def _run(suite: Path, out: Path, *extra: str) -> int:
    return main(["run", str(suite), "--out", str(out), "--cache-dir", str(out / "cache"),
                 "--run-id", "r", *extra])  # fmt: skip


PROBE = f'{{inspect_task: "tasks/tiny_task.py@tiny_qa", n: {N}, seed: 3}}'
CANDIDATE_RIGHT = {0, 2, 4}  # the candidate forgot most sums; the baseline knows every one


@pytest.fixture(scope="module")
def forgot(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("inspect_probe")
    suite = _suite(
        tmp,
        _arm("evalkit-test/base", _answers(set(range(10)))),
        _arm("evalkit-test/tuned", _answers(CANDIDATE_RIGHT)),
        PROBE,
    )
    # exit 0: no gate is set; the forgetting verdict is in results.json
    assert _run(suite, tmp / "out") == 0
    return tmp / "out" / "tiny" / "r"


def _probe_rows(run: Path) -> pd.DataFrame:
    rows = pd.read_json(run / "samples.jsonl", lines=True, dtype={"id": str})
    return rows[rows["section"] == "probe"]


def test_both_arms_answer_the_same_seeded_samples_scored_by_the_tasks_scorer(forgot: Path):
    rows = _probe_rows(forgot)
    assert set(rows["dataset"]) == {"tiny_qa"}
    ids = {arm: list(r["id"]) for arm, r in rows.groupby("arm")}
    assert ids["baseline"] == ids["candidate"] and len(ids["baseline"]) == N
    assert len(set(ids["baseline"])) == N and set(ids["baseline"]) <= {f"s{k}" for k in range(10)}
    for row in rows.itertuples():
        k = int(row.id[1:])
        right = row.arm == "baseline" or k in CANDIDATE_RIGHT
        assert row.error is None or pd.isna(row.error)
        assert row.output == f"The answer is {2 * k if right else 2 * k + 1}"
        assert row.correct == right, row
        assert row.scores == {"score": 1.0 if right else 0.0}
        assert row.input == QUESTIONS[k][0] and row.target == QUESTIONS[k][1]
    # inspect's own logs are kept in the run folder, one per arm
    assert len(list((forgot / "inspect" / "baseline").glob("*.eval"))) == 1
    assert len(list((forgot / "inspect" / "candidate").glob("*.eval"))) == 1


def test_the_forgetting_verdict_reads_the_tasks_rows(forgot: Path):
    results = json.loads((forgot / "results.json").read_text())
    rows = _probe_rows(forgot)
    kept = int(rows[(rows["arm"] == "candidate")]["correct"].sum())
    (verdict,) = [p for p in results["probes"] if p["metric"] == "accuracy"]
    assert verdict["probe"] == "tiny_qa" and verdict["method"] == "inspect"
    assert verdict["n"] == N and verdict["chance"] == 0.0
    assert verdict["baseline"] == 1.0 and verdict["candidate"] == pytest.approx(kept / N)
    assert kept < N / 2  # the seeded draw keeps some forgotten sums
    assert verdict["informative"] is True and verdict["non_inferior"] is False
    metrics = {(m["dataset"], m["metric"]): m for m in results["metrics"]}
    assert metrics[("tiny_qa", "score")]["candidate"] == pytest.approx(kept / N)


def test_a_gate_on_the_tasks_accuracy_fails_the_forgetful_candidate(forgot: Path, tmp_path):
    # the same suite with a non-inferiority gate on the task's accuracy: exit 1
    suite = forgot.parent.parent.parent / "suite.yaml"
    gate = "gates:\n  - probes.tiny_qa.accuracy: {non_inferior: {margin: 0.1}}\n"
    text = suite.read_text() + gate
    gated = tmp_path / "suite.yaml"
    gated.write_text(text)
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "tiny_task.py").write_text(TASK_FILE.read_text())
    write_jsonl(tmp_path / "items.jsonl", ITEMS)
    assert _run(gated, tmp_path / "out", "--gate") == 1
    results = json.loads((tmp_path / "out" / "tiny" / "r" / "results.json").read_text())
    (check,) = [g for g in results["gates"]["results"] if "probes.tiny_qa.accuracy" in g["rule"]]
    # the value is the one-sided lower bound of candidate − baseline, below the diff itself
    kept = int(_probe_rows(forgot).query("arm == 'candidate'")["correct"].sum())
    assert check["passed"] is False and check["value"] < kept / N - 1 < -0.1


def test_equal_arms_are_non_inferior(tmp_path):
    answers = _answers(set(range(10)))
    suite = _suite(
        tmp_path, _arm("evalkit-test/base", answers), _arm("evalkit-test/tuned", answers), PROBE
    )
    assert _run(suite, tmp_path / "out") == 0
    results = json.loads((tmp_path / "out" / "tiny" / "r" / "results.json").read_text())
    (verdict,) = results["probes"]
    assert verdict["non_inferior"] is True and verdict["informative"] is True


def test_samples_without_ids_take_inspects_numbering(tmp_path):
    (tmp_path / "tiny_task.py").write_text(TASK_FILE.read_text())
    (tmp_path / "suite.yaml").write_text("")
    pack, spec = inspect_probe(
        "tiny_task.py@tiny_unnumbered",
        SuiteFolder(tmp_path / "suite.yaml"),
        n=None,
        seed=0,
        chance=0.5,
        where="probes.0.inspect_task",
    )
    assert [it.id for it in pack.items] == ["1", "2", "3"]
    assert pack.name == "tiny_unnumbered" and pack.verdicts[0].chance == 0.5
    assert spec == f"{tmp_path / 'tiny_task.py'}@tiny_unnumbered"


@pytest.mark.parametrize(
    ("probe", "message"),
    [
        ("{inspect_task: inspect_evals/arc_easy, n: 5}",
         "no inspect-ai task named 'inspect_evals/arc_easy'; is the package that provides it "
         "installed (e.g. pip install inspect-evals)?"),
        ('{inspect_task: "tasks/tiny_task.py@no_such_task"}', "cannot load inspect-ai task"),
        ('{inspect_task: "tasks/missing.py@tiny_qa"}', "missing.py"),
        ('{inspect_task: "tasks/tiny_task.py@tiny_qa", n: 11}',
         "asked for 11 samples but the task has 10"),
    ],
)  # fmt: skip
def test_a_missing_task_is_a_located_error(tmp_path, capsys, probe: str, message: str):
    suite = _suite(tmp_path, _arm("evalkit-test/b", "{}"), _arm("evalkit-test/c", "{}"), probe)
    assert main(["validate", str(suite)]) == 2
    err = capsys.readouterr().err
    assert message in err
    where = "probes.0.n" if "n: 11" in probe else "probes.0.inspect_task"
    assert where in err and str(suite) in err


@pytest.mark.parametrize(
    ("probe", "message"),
    [
        ('{inspect_task: "t.py@x", pack: gsm8k}', "exactly one of 'pack' or 'inspect_task'"),
        ('{inspect_task: "t.py@x", method: loglik}', "drop 'method'"),
        ("{pack: gsm8k, chance: 0.5}", "drop 'chance'"),
    ],
)
def test_the_schema_refuses_mixed_probe_keys(tmp_path, capsys, probe: str, message: str):
    suite = _suite(tmp_path, _arm("evalkit-test/b", "{}"), _arm("evalkit-test/c", "{}"), probe)
    assert main(["validate", str(suite)]) == 2
    err = capsys.readouterr().err
    assert message in err and "probes.0" in err


def test_load_error_names_the_suite_file(tmp_path):
    with pytest.raises(InputError) as e:
        inspect_probe(
            "nope/nothing",
            SuiteFolder(tmp_path / "suite.yaml"),
            n=None,
            seed=0,
            chance=None,
            where="probes.2.inspect_task",
        )
    assert e.value.where == "probes.2.inspect_task"
    assert e.value.path == str(tmp_path / "suite.yaml")


def test_a_resumed_run_reruns_only_the_samples_it_lacks(tmp_path):
    answers = _answers(set(range(10)))
    suite = _suite(
        tmp_path, _arm("evalkit-test/base", answers), _arm("evalkit-test/tuned", answers), PROBE
    )
    assert _run(suite, tmp_path / "out") == 0
    run_dir = tmp_path / "out" / "tiny" / "r"
    lines = (run_dir / "journal.jsonl").read_text().splitlines()
    probe_lines = [i for i, line in enumerate(lines) if "tiny_qa" in json.loads(line)["task"]]
    gone = {(json.loads(lines[i])["task"], json.loads(lines[i])["item"]) for i in probe_lines[:3]}
    kept = [line for i, line in enumerate(lines) if i not in probe_lines[:3]]
    (run_dir / "journal.jsonl").write_text("\n".join(kept) + "\n")
    manifest = json.loads((run_dir / "run.json").read_text())
    (run_dir / "run.json").write_text(json.dumps({**manifest, "state": "interrupted"}))
    before = len(list((run_dir / "inspect").rglob("*.eval")))
    assert main(["run", str(suite), "--out", str(tmp_path / "out"), "--resume", str(run_dir),
                 "--no-cache"]) == 0  # fmt: skip
    sent = (run_dir / "journal.jsonl").read_text().splitlines()[len(kept) :]
    assert {(json.loads(x)["task"], json.loads(x)["item"]) for x in sent} == gone
    assert len(list((run_dir / "inspect").rglob("*.eval"))) > before
    rows = _probe_rows(run_dir)
    assert len(rows) == 2 * N and rows["correct"].all()
