"""Contamination: planted exact and near duplicates are found; disjoint data yields nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalkit.analysis.contamination import find_contamination, normalise
from evalkit.data.items import Item

REPO = Path(__file__).resolve().parents[1]


def items(prefix: str, texts: list[str]) -> list[Item]:
    return [Item(id=f"{prefix}{i}", input=text, target="") for i, text in enumerate(texts)]


def _jsonl(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


@pytest.fixture(scope="module")
def gsm8k_questions() -> list[Item]:
    """The 300 real GSM8K questions of the built-in probe pack, numbered by position."""
    rows = _jsonl(REPO / "evalkit" / "probes" / "packs" / "gsm8k" / "items.jsonl")
    return [Item(f"gsm8k-{i}", row["input"], "") for i, row in enumerate(rows)]


@pytest.fixture(scope="module")
def banking_test() -> list[Item]:
    """400 real banking77 queries: the demo's held-out and training sets."""
    data = REPO / "suites" / "banking77" / "data"
    rows = _jsonl(data / "heldout.jsonl") + _jsonl(data / "train.jsonl")
    return [Item(row["id"], row["input"], row["target"]) for row in rows]


def test_normalise() -> None:
    assert normalise("  Top-up,   PLEASE!\n") == "top up please"
    assert normalise("Janet’s ducks") == "janet s ducks"
    assert normalise("???") == ""


def test_planted_exact_and_near_duplicates(gsm8k_questions: list[Item]) -> None:
    train = list(gsm8k_questions[:200])
    exact = gsm8k_questions[10]
    # Same question, different case/punctuation/spacing: an exact match after normalisation.
    restyled = Item(
        "h-restyled", "  " + gsm8k_questions[20].input.upper().replace(".", " ;") + "  ", ""
    )
    # Near duplicate: two words changed in a long (87-word) question.
    words = gsm8k_questions[3].input.split()
    words[3], words[-3] = "seventeen", "purple"
    near = Item("h-near", " ".join(words), "")
    heldout = [Item("h-exact", exact.input, ""), restyled, near, *gsm8k_questions[200:300]]

    found = {m.heldout_id: m for m in find_contamination(heldout, train)}

    assert set(found) == {"h-exact", "h-restyled", "h-near"}
    assert (found["h-exact"].train_id, found["h-exact"].similarity, found["h-exact"].exact) == (
        "gsm8k-10",
        1.0,
        True,
    )
    assert found["h-restyled"].train_id == "gsm8k-20" and found["h-restyled"].exact
    assert found["h-near"].train_id == "gsm8k-3" and not found["h-near"].exact
    # Each changed word breaks at most 3 of the question's ~85 trigrams.
    assert 0.9 < found["h-near"].similarity < 1.0
    assert found["h-near"].heldout_text == near.input
    assert found["h-near"].train_text == gsm8k_questions[3].input


def test_sorted_by_similarity_descending(gsm8k_questions: list[Item]) -> None:
    train = gsm8k_questions[:50]
    base = train[5].input.split()
    heldout = [
        Item("one-change", " ".join(["zzz", *base[1:]]), ""),
        Item("exact", train[7].input, ""),
        Item("two-changes", " ".join(["zzz", *base[1:-1], "qqq"]), ""),
    ]
    matches = find_contamination(heldout, train, threshold=0.5)
    assert [m.heldout_id for m in matches] == ["exact", "one-change", "two-changes"]
    assert matches[0].similarity > matches[1].similarity > matches[2].similarity


def test_question_inside_a_longer_training_example(gsm8k_questions: list[Item]) -> None:
    # Trained on with its worked answer appended: fully contained, so similarity 1, not exact.
    q = gsm8k_questions[3]
    train = [Item("t0", f"Question: {q.input}\nAnswer: Let us think step by step about it.", "")]
    [match] = find_contamination([q], train)
    assert (match.train_id, match.similarity, match.exact) == ("t0", 1.0, False)


def test_threshold_is_respected() -> None:
    train = items("t", ["the quick brown fox jumps over the lazy dog today"])
    # 8 trigrams; changing the last word leaves 6 of the held-out trigrams in training: 0.75.
    heldout = items("h", ["the quick brown fox jumps over the lazy dog tomorrow"])
    heldout_grams = 8
    [match] = find_contamination(heldout, train, threshold=0.7)
    assert match.similarity == pytest.approx(7 / heldout_grams)
    assert find_contamination(heldout, train, threshold=0.9) == []
    assert find_contamination(heldout, train, threshold=7 / heldout_grams) == [match]


def test_best_training_match_is_reported() -> None:
    train = items(
        "t",
        [
            "how do i top up my card with cash at a shop",
            "how do i top up my card",  # the same text: exact beats merely containing
            "how do i top up",
        ],
    )
    [match] = find_contamination(items("h", ["How do I top up my card?"]), train)
    assert (match.train_id, match.exact) == ("t1", True)


def test_short_texts_match_only_exactly() -> None:
    """Shorter than n words: a shared word is no evidence ("card?" is in every card query)."""
    train = items("t", ["card lost", "refund please now", "where is my new card", "hello"])
    heldout = items("h", ["Lost card!", "Refund?", "card?", "Hello!", "", "!!!"])
    found = {m.heldout_id: m for m in find_contamination(heldout, train, ngram=3)}
    assert set(found) == {"h3"}
    assert found["h3"].train_id == "t3" and found["h3"].exact and found["h3"].similarity == 1.0


def test_disjoint_real_datasets(banking_test: list[Item], gsm8k_questions: list[Item]) -> None:
    assert find_contamination(gsm8k_questions, banking_test) == []
    # Short queries against long word problems: one stock phrase ("how long will it take to
    # ...") is 4 of a 7-word query's 5 trigrams, so containment needs a stricter setting here.
    assert find_contamination(banking_test, gsm8k_questions, ngram=4) == []
    assert find_contamination(banking_test, gsm8k_questions, threshold=0.9) == []


def test_empty_inputs() -> None:
    assert find_contamination([], items("t", ["a b c"])) == []
    assert find_contamination(items("h", ["a b c"]), []) == []


@pytest.mark.parametrize(("ngram", "threshold"), [(0, 0.8), (3, 0.0), (3, 1.5)])
def test_bad_parameters(ngram: int, threshold: float) -> None:
    with pytest.raises(ValueError):
        find_contamination([], [], ngram=ngram, threshold=threshold)
