"""The lm-eval 0.4 reference (tests/reference/lmeval/) is internally consistent and matches the
packs it was produced from; the loglik packs' items are well-formed PACKFORMAT v2 rows.

The reference's log-likelihoods come from lm-eval itself (run_lmeval.py there); these tests
recompute lm-eval's acc / acc_norm rule from them and check that the contexts and
continuations lm-eval scored are the packs' items rendered by evalkit's own template code.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from evalkit.prompts import render_text

REFERENCE = Path(__file__).parent / "reference" / "lmeval"
PACKS = Path(__file__).resolve().parent.parent / "evalkit" / "probes" / "packs"
# the packs in the reference, and how many leading items of each (run_lmeval.py's TASKS)
REFERENCE_PACKS = {"hellaswag": 100, "mmlu-global-facts": 50}
# the packs whose pack.yaml has a loglik form
LOGLIK_PACKS = ("hellaswag", "mmlu-global-facts")


def _rows() -> list[dict]:
    lines = (REFERENCE / "smollm2_loglik.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def _manifest(pack: str) -> dict:
    return yaml.safe_load((PACKS / pack / "pack.yaml").read_text(encoding="utf-8"))


def _items(pack: str) -> list[dict]:
    lines = (PACKS / pack / "items.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def _first_max(values: list[float]) -> int:
    # numpy.argmax, which lm-eval uses: the first index on ties
    return max(range(len(values)), key=lambda i: (values[i], -i))


def lm_eval_acc(logliks: list[float], choices: list[str], target: int) -> tuple[float, float]:
    """lm-eval 0.4's multiple_choice acc and acc_norm (ll / len(choice), delimiter excluded)."""
    normed = [ll / float(len(c)) for ll, c in zip(logliks, choices, strict=True)]
    return float(_first_max(logliks) == target), float(_first_max(normed) == target)


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return _rows()


def test_reference_covers_the_leading_items_of_each_pack_in_order(rows: list[dict]) -> None:
    assert [r["pack"] for r in rows] == [p for p, n in REFERENCE_PACKS.items() for _ in range(n)]
    for pack, n in REFERENCE_PACKS.items():
        ids = [r["id"] for r in rows if r["pack"] == pack]
        assert ids == [item["id"] for item in _items(pack)[:n]]


def test_acc_and_acc_norm_follow_from_the_logliks(rows: list[dict]) -> None:
    flips = 0  # items where length normalisation changes the choice: the rule is exercised
    for row in rows:
        assert len(row["logliks"]) == len(row["continuations"]) >= 2
        assert all(isinstance(ll, float) and ll < 0 for ll in row["logliks"])
        choices = [c.removeprefix(" ") for c in row["continuations"]]
        acc, acc_norm = lm_eval_acc(row["logliks"], choices, row["target"])
        assert (row["acc"], row["acc_norm"]) == (acc, acc_norm), row["id"]
        flips += _first_max(row["logliks"]) != _first_max(
            [ll / len(c) for ll, c in zip(row["logliks"], choices, strict=True)]
        )
    assert flips > 0


def test_acc_norm_divides_by_characters_not_bytes() -> None:
    # "café" is 4 characters and 5 bytes: -8/4 = -2.0 beats -6.3/3 = -2.1 per character,
    # but per byte -8/5 = -1.6 would lose to -1.5 (the byte rule is lm-eval's acc_bytes).
    assert lm_eval_acc([-8.0, -6.3], ["café", "tea"], 0) == (0.0, 1.0)


def test_summary_aggregates_are_the_means_of_the_rows(rows: list[dict]) -> None:
    summary = json.loads((REFERENCE / "summary.json").read_text(encoding="utf-8"))
    assert summary["versions"]["lm_eval"] == "0.4.13"
    assert "dtype=float32" in " ".join(summary["command"])
    for result in summary["lm_eval_results"].values():
        pack_rows = [r for r in rows if r["pack"] == result["pack"]]
        assert len(pack_rows) == result["items"] == REFERENCE_PACKS[result["pack"]]
        for metric in ("acc", "acc_norm"):
            mean = sum(r[metric] for r in pack_rows) / len(pack_rows)
            assert result[metric] == pytest.approx(mean, abs=1e-12)
    assert set(summary["checks"].values()) == {"10042/10042", "50/50"}


@pytest.mark.parametrize("pack", LOGLIK_PACKS)
def test_contexts_are_evalkits_rendering_of_the_pack(pack: str, rows: list[dict]) -> None:
    form = _manifest(pack)["loglik"]
    items = {item["id"]: item for item in _items(pack)}
    pack_rows = [r for r in rows if r["pack"] == pack]
    assert pack_rows
    for row in pack_rows:
        item = items[row["id"]]
        assert row["context"] == render_text(form["prompt"], input=item["input"])
        choices = form.get("choices") or item["choices"]
        assert row["continuations"] == [form["target_delimiter"] + c for c in choices]
        target = (
            item["target"] if isinstance(item["target"], int) else choices.index(item["target"])
        )
        assert row["target"] == target


def test_mmlu_reference_rows_score_the_letters_of_the_pack_items(rows: list[dict]) -> None:
    items = {item["id"]: item for item in _items("mmlu-global-facts")}
    for row in (r for r in rows if r["pack"] == "mmlu-global-facts"):
        item = items[row["id"]]
        assert row["continuations"] == [" A", " B", " C", " D"]
        assert "ABCD"[row["target"]] == item["target"]
        assert row["context"].endswith("\n" + item["input"] + "\nAnswer:")


def test_hellaswag_pack_is_a_v2_loglik_pack() -> None:
    manifest = _manifest("hellaswag")
    assert manifest["kind"] == "multiple_choice" and manifest["method"] == "loglik"
    assert manifest["loglik"] == {"prompt": "{{ input }}", "target_delimiter": " "}
    assert manifest["verdicts"] == [
        {"metric": "accuracy_norm", "higher_is_better": True, "chance": 0.25}
    ]
    assert "prompt" not in manifest and "max_tokens" not in manifest
    for name in ("items.jsonl", "SOURCE.md", "LICENSE"):
        assert (PACKS / "hellaswag" / name).is_file()


def test_hellaswag_items_are_well_formed() -> None:
    items = _items("hellaswag")
    assert len(items) == 10042
    assert [item["id"] for item in items] == [f"hellaswag-{i:05d}" for i in range(10042)]
    for item in items:
        assert set(item) == {"id", "input", "choices", "target"}
        assert isinstance(item["input"], str) and item["input"] == item["input"].strip() != ""
        assert len(item["choices"]) == 4
        assert all(isinstance(c, str) and c.strip() for c in item["choices"])
        assert type(item["target"]) is int and 0 <= item["target"] < 4
    # the gold labels are spread over all four positions, as in the source
    assert {item["target"] for item in items} == {0, 1, 2, 3}


@pytest.mark.parametrize("pack", ["mmlu-elementary-math", "mmlu-geography", "mmlu-global-facts"])
def test_mmlu_items_hold_lm_evals_question_and_option_lines(pack: str) -> None:
    for item in _items(pack):
        lines = item["input"].split("\n")
        assert item["input"] == item["input"].lstrip() and lines[0].strip()
        assert [line[:3] for line in lines[-4:]] == ["A. ", "B. ", "C. ", "D. "]
        assert item["target"] in {"A", "B", "C", "D"}
