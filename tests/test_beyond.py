"""Extraction, reference and style metrics: the example suites run offline, their reports show
the new sections, and every new number is recomputed from samples.jsonl by code written here,
independently of evalkit's (plain loops, sets and Counters; rouge-score for ROUGE-L)."""

from __future__ import annotations

import json
import re
from collections import Counter
from itertools import combinations, pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from evalkit.cli import main
from evalkit.pipeline import RunOptions, RunOutcome, run_suite
from evalkit.results import read_results, read_samples
from tests.conftest import REPO

SUITES = REPO / "suites"


def run_example(name: str, tmp: Path) -> tuple[RunOutcome, pd.DataFrame, dict[str, Any]]:
    outcome = run_suite(
        SUITES / f"{name}.yaml", RunOptions(out_dir=tmp / "out", cache_dir=tmp / "c")
    )
    samples = read_samples(outcome.run_dir / "samples.jsonl")
    results = json.loads((outcome.run_dir / "results.json").read_text(encoding="utf-8"))
    return outcome, samples, results


def value(results: dict[str, Any], dataset: str, metric: str, arm: str) -> float | None:
    row = next(m for m in results["metrics"] if (m["dataset"], m["metric"]) == (dataset, metric))
    return row[arm]


def arm_rows(samples: pd.DataFrame, dataset: str, arm: str) -> pd.DataFrame:
    return samples[(samples["dataset"] == dataset) & (samples["arm"] == arm)]


# ---- extraction ------------------------------------------------------------------------------


def first_object(text: str) -> dict[str, Any] | None:
    """The first {...} in the text that parses as a JSON object (or the whole text)."""
    body = re.sub(r"^```\w*\s*|\s*```$", "", text.strip())
    try:
        whole = json.loads(body)
        return whole if isinstance(whole, dict) else None
    except json.JSONDecodeError:
        pass
    for i, ch in enumerate(text):
        if ch == "{":
            try:
                obj, _ = json.JSONDecoder().raw_decode(text[i:])
                return obj if isinstance(obj, dict) else None
            except json.JSONDecodeError:
                continue
    return None


def as_number_text(v: Any) -> str:
    """The GSM8K suite's rule for both fields: numbers, whatever their format."""
    if isinstance(v, str):
        try:
            v = float(v.replace("$", "").replace(",", "").strip())
        except ValueError:
            return v.strip()
    x = float(v)
    return str(int(x)) if x == int(x) else repr(x)


def values_of(obj: dict[str, Any] | None, field: str) -> list[str]:
    if obj is None or obj.get(field) is None:
        return []
    raw = obj[field]
    return [as_number_text(v) for v in (raw if isinstance(raw, list) else [raw])]


def expected_extraction(rows: pd.DataFrame, fields: list[str]) -> dict[str, float]:
    """Exact match and field P/R/F1 (per field, micro, macro), by hand."""
    tp = {f: 0 for f in fields}
    pred = {f: 0 for f in fields}
    gold = {f: 0 for f in fields}
    exact = 0
    for target, output, error in zip(rows["target"], rows["output"], rows["error"], strict=True):
        want = json.loads(target)
        got = None if isinstance(error, str) else first_object(output)
        same = got is not None and set(got) == set(want)
        for f in fields:
            t, a = values_of(want, f), values_of(got, f)
            hits = sum((Counter(t) & Counter(a)).values())
            tp[f], pred[f], gold[f] = tp[f] + hits, pred[f] + len(a), gold[f] + len(t)
            same = same and Counter(t) == Counter(a)
        exact += same
    out = {"exact_match": exact / len(rows)}
    per = {}
    for f in fields:
        per[f] = {
            "precision": tp[f] / pred[f] if pred[f] else None,
            "recall": tp[f] / gold[f] if gold[f] else None,
            "f1": 2 * tp[f] / (pred[f] + gold[f]) if pred[f] + gold[f] else None,
        }
        for part, v in per[f].items():
            out[f"field.{f}.{part}"] = v
    T, P, G = sum(tp.values()), sum(pred.values()), sum(gold.values())
    out["field_micro_precision"], out["field_micro_recall"] = T / P, T / G
    out["field_micro_f1"] = 2 * T / (P + G)
    for part in ("precision", "recall", "f1"):
        got = [per[f][part] for f in fields if per[f][part] is not None]
        out[f"field_macro_{part}"] = sum(got) / len(got)
    return out


@pytest.fixture(scope="module")
def extraction(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[RunOutcome, pd.DataFrame, dict[str, Any]]:
    return run_example("gsm8k-extraction", tmp_path_factory.mktemp("extraction"))


def test_extraction_numbers_recomputed_from_samples(extraction) -> None:
    outcome, samples, results = extraction
    fields = results["suite"]["fields"]
    assert fields == ["answer", "steps"]
    checked = 0
    for dataset in ("heldout", "training_sample"):
        for arm in ("baseline", "candidate"):
            expected = expected_extraction(arm_rows(samples, dataset, arm), fields)
            for name, want in expected.items():
                assert value(results, dataset, name, arm) == pytest.approx(want, abs=1e-12), (
                    dataset,
                    arm,
                    name,
                )
                checked += 1
    assert checked > 50
    # the illustration holds: the candidate beats the baseline on held-out fields
    held = outcome.results.metric("heldout", "field_micro_f1")
    assert held is not None and held.ci_low is not None and held.ci_low > 0
    assert outcome.results.verdict.metric == "field_micro_f1"


def test_memorisation_recomputed_from_samples(extraction) -> None:
    _, samples, results = extraction
    train = [
        json.loads(line)
        for line in (SUITES / "gsm8k" / "extraction-train.jsonl").read_text().splitlines()
    ]
    known = {json.dumps(t["target"], sort_keys=True) for t in train}
    for arm in ("baseline", "candidate"):
        rows = arm_rows(samples, "heldout", arm)
        copies = []
        for output, target in zip(rows["output"], rows["target"], strict=True):
            got = first_object(output)
            key = json.dumps(got, sort_keys=True) if got is not None else None
            copies.append(key in known and key != json.dumps(json.loads(target), sort_keys=True))
        assert value(results, "heldout", "copies_training", arm) == pytest.approx(np.mean(copies))
    # the script makes the candidate recite one training target on held-out
    assert value(results, "heldout", "copies_training", "candidate") == pytest.approx(1 / 40)
    memo = next(o for o in results["overfitting"] if o["name"] == "memorisation")
    assert "2.5% of the candidate's answers on heldout" in memo["reading"]


def test_extraction_report_shows_fields_and_diffs(extraction) -> None:
    outcome, _, results = extraction
    page = (outcome.run_dir / "index.html").read_text(encoding="utf-8")
    section = page[page.index('<section id="fields"') :]
    section = section[: section.index("</section>")]
    assert section.count('class="field"') == 4  # held-out and the training sample, 2 fields each
    for field in ("answer", "steps"):
        f1 = value(results, "heldout", f"field.{field}.f1", "candidate")
        assert f'data-field-path="{field}"' in section and f'data-v="{f1}"' in section
    assert 'id="style"' in page and 'id="overfitting"' in page
    # the per-answer field diffs travel to the sample browser
    blob = json.loads(page.split('id="sample-data">')[1].split("</script>")[0])
    detail = blob["rows"][0][blob["fields"].index("c_detail")]
    assert [f[0] for f in detail["fields"]] == ["answer", "steps"]


# ---- generation: reference metrics and style ------------------------------------------------


@pytest.fixture(scope="module")
def explain(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[RunOutcome, pd.DataFrame, dict[str, Any]]:
    return run_example("gsm8k-explain", tmp_path_factory.mktemp("explain"))


def chrf_by_hand(hyp: str, ref: str, order: int = 6, beta: float = 2.0) -> float:
    """chrF (Popović 2015) as sacrebleu computes it for one sentence: character n-grams of the
    text without whitespace, precision and recall averaged over the orders both texts have,
    F-beta of the averages."""

    def grams(text: str, n: int) -> Counter[str]:
        s = "".join(text.split())  # every kind of whitespace goes
        return Counter(s[i : i + n] for i in range(len(s) - n + 1))

    precisions, recalls = [], []
    for n in range(1, order + 1):
        h, r = grams(hyp, n), grams(ref, n)
        if h and r:
            hit = sum((h & r).values())
            precisions.append(hit / sum(h.values()))
            recalls.append(hit / sum(r.values()))
    if not precisions:
        return 0.0
    p, r = sum(precisions) / len(precisions), sum(recalls) / len(recalls)
    return 100 * (1 + beta**2) * p * r / (beta**2 * p + r) if p + r else 0.0


def test_reference_metrics_recomputed_from_samples(explain) -> None:
    from rouge_score import rouge_scorer

    _, samples, results = explain
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    for arm in ("baseline", "candidate"):
        rows = arm_rows(samples, "heldout", arm)
        outputs, targets = list(rows["output"]), list(rows["target"])
        rouge = [
            scorer.score(t, o)["rougeL"].fmeasure for o, t in zip(outputs, targets, strict=True)
        ]
        chrf = [chrf_by_hand(o, t) for o, t in zip(outputs, targets, strict=True)]
        assert value(results, "heldout", "rouge_l", arm) == pytest.approx(np.mean(rouge), abs=1e-12)
        assert value(results, "heldout", "chrf", arm) == pytest.approx(np.mean(chrf), abs=1e-9)


def words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def grams(ws: list[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(ws[i : i + n]) for i in range(len(ws) - n + 1)]


def expected_style(rows: pd.DataFrame) -> dict[str, float]:
    """Every style figure of one arm, by hand (no failed requests in these suites)."""
    answers = [words(o) for o in rows["output"]]
    out: dict[str, float] = {
        "length_words": float(np.mean([len(w) for w in answers])),
        "length_tokens": float(np.mean(rows["output_tokens"].astype(float))),
        "ttr": float(np.mean([len(set(w)) / len(w) for w in answers if w])),
        "empty_rate": float(np.mean([not o.strip() for o in rows["output"]])),
    }
    for n in (1, 2):
        all_grams = [g for w in answers for g in grams(w, n)]
        out[f"distinct_{n}"] = len(set(all_grams)) / len(all_grams)
    reps = [1 - len(set(grams(w, 4))) / len(grams(w, 4)) for w in answers if len(w) >= 4]
    out["repetition"] = float(np.mean(reps))
    openings = [" ".join(w[:3]) for w in answers]
    _top, count = Counter(openings).most_common(1)[0]
    out["same_opening"] = count / len(openings) if count >= 2 else 0.0
    sets = [set(w) | {f"{a} {b}" for a, b in pairwise(w)} for w in answers]
    sims = {i: [] for i in range(len(sets))}
    for i, j in combinations(range(len(sets)), 2):
        s = len(sets[i] & sets[j]) / len(sets[i] | sets[j])
        sims[i].append(s)
        sims[j].append(s)
    out["pairwise_similarity"] = float(np.mean([np.mean(v) for v in sims.values()]))
    return out


def test_style_numbers_recomputed_from_samples(explain) -> None:
    _, samples, results = explain
    for dataset in ("heldout", "training_sample"):
        for arm in ("baseline", "candidate"):
            for name, want in expected_style(arm_rows(samples, dataset, arm)).items():
                got = value(results, dataset, name, arm)
                assert got == pytest.approx(want, abs=1e-9), (dataset, arm, name)


def test_collapse_is_flagged_and_shown(explain) -> None:
    outcome, samples, results = explain
    held = next(s for s in results["style"] if s["dataset"] == "heldout")
    assert held["collapsed"] is True
    fired = {s["name"] for s in held["signals"] if s["fired"]}
    assert {"one opening", "one template", "one length"} <= fired
    # the length spread behind "one length", by hand
    for arm in ("baseline", "candidate"):
        lengths = [len(words(o)) for o in arm_rows(samples, "heldout", arm)["output"]]
        assert held["arms"][arm]["words_sd"] == pytest.approx(np.std(lengths))
        assert sum(held["words"][arm]) == len(lengths)  # the histogram counts every answer
    assert held["arms"]["candidate"]["opening"] == "great question let"
    page = (outcome.run_dir / "index.html").read_text(encoding="utf-8")
    style = page[page.index('<section id="style"') :]
    assert 'data-collapsed="true"' in style and "<rect" in style and "style-example" in style
    reading = next(o for o in results["overfitting"] if o["name"] == "style collapse")
    assert reading["status"] == "warning"
    # the suite's own gate on distinct-2 is judged like any other
    gate = next(
        g for g in results["gates"]["results"] if g["rule"].startswith("heldout.distinct_2")
    )
    assert gate["passed"] is False


def test_no_collapse_when_the_arms_write_alike(tmp_path: Path) -> None:
    rows = [
        {"id": f"q{i}", "input": f"question {i}", "target": f"reference {i}"} for i in range(12)
    ]
    (tmp_path / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    replies = {
        f"question {i}": " ".join(["word"] * (i + 1)) + f" {i} varied text" for i in range(12)
    }
    suite = {
        "name": "alike",
        "task": {"type": "generation"},
        "arms": {
            arm: {
                "model": f"evalkit-test/{arm}",
                "model_args": {"answers": replies},
                "prompt": {"text": "{{ input }}"},
            }
            for arm in ("baseline", "candidate")
        },
        "datasets": {"heldout": {"path": "items.jsonl", "id": "id"}},
        "stats": {"bootstrap": 200},
    }
    (tmp_path / "suite.yaml").write_text(json.dumps(suite))
    out = run_suite(
        tmp_path / "suite.yaml", RunOptions(out_dir=tmp_path / "o", cache_dir=tmp_path / "c")
    )
    held = next(s for s in out.results.style if s.dataset == "heldout")
    assert held.collapsed is False and not any(s.fired for s in held.signals)


def test_refusals_and_empty_answers_are_counted(tmp_path: Path) -> None:
    rows = [{"id": f"q{i}", "input": f"ask {i}", "target": "x"} for i in range(6)]
    (tmp_path / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    candidate = {"ask 0": "I'm sorry, but I can't help with that.", "ask 1": "", "ask 2": "   ",
                 "ask 3": "I apologise for the confusion: it is 3."}  # fmt: skip
    suite = {
        "name": "refusals",
        "task": {"type": "generation"},
        "arms": {
            "baseline": {
                "model": "evalkit-test/b",
                "model_args": {"fallback": "Here it is."},
                "prompt": {"text": "{{ input }}"},
            },
            "candidate": {
                "model": "evalkit-test/c",
                "model_args": {"answers": candidate, "fallback": "Sure: done."},
                "prompt": {"text": "{{ input }}"},
            },
        },
        "datasets": {"heldout": {"path": "items.jsonl", "id": "id"}},
        "stats": {"bootstrap": 200},
    }
    (tmp_path / "suite.yaml").write_text(json.dumps(suite))
    out = run_suite(
        tmp_path / "suite.yaml", RunOptions(out_dir=tmp_path / "o", cache_dir=tmp_path / "c")
    )
    results = read_results(out.run_dir / "results.json")
    refusal = results.metric("heldout", "refusal_rate")
    empty = results.metric("heldout", "empty_rate")
    assert refusal and refusal.baseline == 0 and refusal.candidate == pytest.approx(2 / 6)
    assert empty and empty.baseline == 0 and empty.candidate == pytest.approx(2 / 6)


# ---- bad input -------------------------------------------------------------------------------


EXTRACTION_SUITE = """
name: ex
task:
  type: extraction
  fields: {total: {number: true}}
arms:
  baseline: {model: evalkit-test/b, prompt: {text: "{{ input }}"}}
  candidate: {model: evalkit-test/c, prompt: {text: "{{ input }}"}}
datasets:
  heldout: {path: items.jsonl, id: id}
"""


def write_extraction(tmp: Path, rows: list[str], suite: str = EXTRACTION_SUITE) -> Path:
    (tmp / "items.jsonl").write_text("".join(r + "\n" for r in rows), encoding="utf-8")
    (tmp / "suite.yaml").write_text(suite, encoding="utf-8")
    return tmp / "suite.yaml"


def validate(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["validate", str(path)])
    captured = capsys.readouterr()
    return code, captured.err + captured.out


@pytest.mark.parametrize(
    "bad",
    ['"total: 12"', "12", "[1, 2]", "null", '"{\\"total\\": 1"'],
    ids=["text", "number", "list", "null", "broken-json"],
)
def test_a_target_that_is_no_json_object_names_its_row(tmp_path: Path, capsys, bad: str) -> None:
    path = write_extraction(
        tmp_path,
        [
            '{"id": "a", "input": "x", "target": {"total": 1}}',
            f'{{"id": "b", "input": "y", "target": {bad}}}',
        ],
    )
    code, out = validate(path, capsys)
    assert code == 2 and len(out.strip().splitlines()) == 1, out
    assert "items.jsonl:2" in out and "must be a JSON object" in out
    assert "Traceback" not in out


def test_a_rule_for_a_field_no_target_has_is_located(tmp_path: Path, capsys) -> None:
    path = write_extraction(
        tmp_path,
        ['{"id": "a", "input": "x", "target": {"total": 1, "who": {"name": "A"}}}'],
        EXTRACTION_SUITE.replace(
            "{total: {number: true}}", "{total: {number: true}, who.nmae: {ignore_case: true}}"
        ),
    )
    code, out = validate(path, capsys)
    assert code == 2 and len(out.strip().splitlines()) == 1, out
    assert "suite.yaml" in out and "task.fields.who.nmae" in out and "who.name" in out


def test_field_rules_belong_to_extraction(tmp_path: Path, capsys) -> None:
    path = write_extraction(
        tmp_path,
        ['{"id": "a", "input": "x", "target": "y"}'],
        EXTRACTION_SUITE.replace("type: extraction", "type: generation"),
    )
    code, out = validate(path, capsys)
    assert code == 2 and "extraction" in out


def test_gates_name_new_metrics_and_are_checked(tmp_path: Path, capsys) -> None:
    rows = ['{"id": "a", "input": "x", "target": {"total": 1, "items": [{"sku": "k"}]}}']
    ok = EXTRACTION_SUITE + (
        "gates:\n  - heldout.field.items.sku.f1: {candidate: '>= 0'}\n"
        "  - heldout.distinct_2: {candidate_minus_baseline: '>= -0.05'}\n"
        "  - heldout.exact_match: {candidate: '>= 0'}\n"
    )
    assert validate(write_extraction(tmp_path, rows, ok), capsys)[0] == 0
    bad = EXTRACTION_SUITE + "gates:\n  - heldout.field.item.sku.f1: {candidate: '>= 0'}\n"
    code, out = validate(write_extraction(tmp_path, rows, bad), capsys)
    assert code == 2 and "field.items.sku.f1" in out  # the message lists what exists


def test_similarity_counts_the_same_dense_and_sparse() -> None:
    """The pairwise similarity counts word overlaps densely for short answers and with scipy's
    sparse product beyond a size; both must equal the sets' own intersections."""
    from evalkit.analysis.style import intersections

    rng = np.random.default_rng(7)
    cols = [sorted(set(rng.integers(0, 400, size=rng.integers(1, 60)).tolist())) for _ in range(80)]
    by_hand = np.array([[len(set(a) & set(b)) for b in cols] for a in cols], dtype=float)
    dense = intersections(cols, 400)
    sparse = intersections(cols, 400, dense_cells=0)
    assert np.array_equal(dense, by_hand) and np.array_equal(sparse, by_hand)
