"""`evalkit init`: a working suite from a data file, a held-out split nothing leaks into, bad input."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from evalkit.analysis.contamination import Match, normalise
from evalkit.cli import main
from evalkit.errors import EXIT_BAD_INPUT, EXIT_OK
from evalkit.scaffold.source import Row
from evalkit.scaffold.split import Split, pick_fewshot, split_rows
from evalkit.scaffold.suite import InitOptions, init_suite
from evalkit.suite.load import load_suite
from tests.conftest import REPO, write_jsonl

BANKING = REPO / "suites" / "banking77" / "data" / "train.jsonl"


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def banking(tmp_path_factory) -> tuple[Path, int, int]:
    """init on the demo's training file, then validate and run the suite it wrote, as written."""
    work = tmp_path_factory.mktemp("init")
    out = work / "suite"
    assert main(["init", str(BANKING), "--task", "classification", "--out", str(out)]) == EXIT_OK
    validated = main(["validate", str(out / "suite.yaml")])
    ran = main(["run", str(out / "suite.yaml"), "--gate", "--out", str(work / "reports"),
                "--cache-dir", str(work / "cache")])  # fmt: skip
    return out, validated, ran


def test_init_writes_a_suite_that_validates_and_runs_offline(banking) -> None:
    out, validated, ran = banking
    assert validated == EXIT_OK
    assert ran == EXIT_OK  # the placeholder arms answer offline; the gates pass on them
    run_dir = (out.parent / "reports" / "train" / "latest").resolve()  # named after the file
    results = json.loads((run_dir / "results.json").read_text())
    assert {a["model"] for a in results["arms"].values()} == {
        "evalkit-test/placeholder-baseline",
        "evalkit-test/placeholder-candidate",
    }
    heldout = len(_read(out / "data" / "heldout.jsonl"))
    assert results["datasets"]["heldout"]["n"] == heldout
    assert results["gates"]["passed"] is True
    assert [g["rule"] for g in results["gates"]["results"]][1:] == [
        "heldout.macro_f1",
        "heldout.format_adherence",
        "probes.mmlu-geography.accuracy",
        "probes.gsm8k.accuracy",
    ]


def test_the_split_is_stratified_and_covers_every_row_once(banking) -> None:
    out = banking[0]
    source = _read(BANKING)
    train, heldout = _read(out / "data" / "train.jsonl"), _read(out / "data" / "heldout.jsonl")
    assert sorted(r["input"] for r in train + heldout) == sorted(r["input"] for r in source)
    assert 0.10 <= len(heldout) / len(source) <= 0.20
    per_label = Counter(r["target"] for r in source)
    held = Counter(r["target"] for r in heldout)
    # banking77's file has 20 rows per intent and 40 of "other": 15 % of each, rounded
    assert held == {label: round(0.15 * n) for label, n in per_label.items()}
    labels = (out / "data" / "labels.txt").read_text().split()
    assert labels == sorted(per_label)


def test_nothing_held_out_reaches_training_or_the_examples(banking) -> None:
    out = banking[0]
    heldout = {normalise(r["input"]) for r in _read(out / "data" / "heldout.jsonl")}
    train = _read(out / "data" / "train.jsonl")
    fewshot = _read(out / "data" / "fewshot.jsonl")
    finetune = _read(out / "data" / "finetune.jsonl")
    assert not heldout & {normalise(r["input"]) for r in train}
    assert [r for r in fewshot if r not in train] == []
    assert Counter(r["target"] for r in fewshot) == dict.fromkeys(
        (out / "data" / "labels.txt").read_text().split(), 1
    )
    # the fine-tuning file is the training rows, in OpenAI chat format, answers as scored
    assert [m["messages"][0]["content"] for m in finetune] == [r["input"] for r in train]
    assert {m["messages"][1]["content"] for m in finetune} == {
        json.dumps({"label": r["target"]}) for r in train
    }


def test_the_split_depends_on_the_seed_alone(tmp_path: Path) -> None:
    again = init_suite(BANKING, InitOptions()).files
    assert again == init_suite(BANKING, InitOptions()).files
    other = init_suite(BANKING, InitOptions(seed=1)).files
    assert other["data/heldout.jsonl"] != again["data/heldout.jsonl"]


def test_init_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["init", str(BANKING), "--task", "classification", "--out", str(tmp_path)]
    assert main(args) == EXIT_OK
    (tmp_path / "suite.yaml").write_text("name: mine\n")
    capsys.readouterr()
    assert main(args) == EXIT_BAD_INPUT
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {tmp_path / 'suite.yaml'}: already exists (and 9 more)")
    assert (tmp_path / "suite.yaml").read_text() == "name: mine\n"


def _rows(texts: list[tuple[str, str]]) -> list[Row]:
    return [Row(f"line-{i}", i, text, label) for i, (text, label) in enumerate(texts, 1)]


def test_small_labels_share_the_rounding_so_the_total_is_the_share() -> None:
    sizes = {"a": 7, "b": 8, "c": 13, "d": 10}  # 15 %: 1.05, 1.2, 1.95, 1.5 held-out rows
    rows = _rows([(f"{label} text {i}", label) for label, n in sizes.items() for i in range(n)])
    split = split_rows(rows, stratify=True, share=0.15, seed=0, path=Path("x.jsonl"))
    assert len(split.heldout) == round(0.15 * sum(sizes.values())) == 6
    held = Counter(r.target for r in split.heldout)
    assert held == {"a": 1, "b": 1, "c": 2, "d": 2}  # the largest remainders round up


def test_identical_inputs_stay_on_one_side_of_the_split() -> None:
    texts = [(f"query number {i} about the card", "card") for i in range(12)]
    texts += [
        (text, "card") for text in ("Where is my card?", "where is my CARD", "where is my card")
    ]
    rows = _rows(texts)
    for seed in range(20):
        split = split_rows(rows, stratify=True, share=0.2, seed=seed, path=Path("x.jsonl"))
        held = {r.id for r in split.heldout}
        assert len({r.id in held for r in rows[-3:]}) == 1, f"seed {seed} split a duplicate group"
        assert split.duplicate_groups == 1
        assert not [m for m in split.overlaps if m.exact]


def test_near_duplicates_across_the_split_are_reported(tmp_path: Path) -> None:
    # pairs of near-identical messages: any held-out one has its twin in training
    rows = [{"text": f"please tell me about topic {i} in detail{tail}", "intent": f"t{i % 2}"}
            for i in range(10) for tail in ("", " now")]  # fmt: skip
    path = write_jsonl(tmp_path / "rows.jsonl", rows)
    scaffold = init_suite(path, InitOptions(input_field="text", target_field="intent"))
    overlaps = scaffold.split.overlaps
    held = {r.id for r in scaffold.split.heldout}
    assert overlaps and {m.heldout_id for m in overlaps} <= held
    assert all(m.train_id not in held and m.similarity >= 0.8 for m in overlaps)
    assert f"0 held-out items identical to a training item, {len(overlaps)} near-dup" in (
        "\n".join(scaffold.notes)
    )
    for m in overlaps:
        assert f"| {m.heldout_id} | {m.train_id} |" in scaffold.files["data/SPLIT.md"]


def test_examples_avoid_training_rows_a_held_out_item_resembles() -> None:
    near, far = Row("t1", 1, "a b c d", "x"), Row("t2", 2, "e f g h", "x")
    held = Row("h", 3, "a b c", "x")
    match = Match("h", held.input, "t1", near.input, 1.0, exact=False)
    split = Split((near, far), (held,), 0, 0, (match,))
    for seed in range(10):
        assert pick_fewshot(split, per_label=1, n=0, seed=seed) == [far]


CHAT_SYSTEM = "You route bank messages. Reply with the route only."


def _chat(user: str, reply: str, system: str | None = CHAT_SYSTEM) -> dict:
    messages = [{"role": "system", "content": system}] if system else []
    return {"messages": [*messages, {"role": "user", "content": user}, {"role": "assistant", "content": reply}]}  # fmt: skip


def _chat_file(tmp_path: Path, reply=lambda label: label, **kwargs) -> Path:
    rows = [
        _chat(f"{topic} question {i}: what happens to my {topic}?", reply(topic), **kwargs)
        for topic in ("card", "transfer")
        for i in range(10)
    ]
    return write_jsonl(tmp_path / "finetune-source.jsonl", rows)


def test_a_chat_file_keeps_its_format_and_system_message(tmp_path: Path) -> None:
    scaffold = init_suite(_chat_file(tmp_path), InitOptions(name="routes"))
    files = scaffold.files
    assert files["prompts/candidate_system.jinja"] == CHAT_SYSTEM + "\n"
    assert files["prompts/baseline_fewshot_system.jinja"].startswith(CHAT_SYSTEM + "\n\n")
    assert 'output: {"format": "text"}' in files["suite.yaml"]
    source = _read(tmp_path / "finetune-source.jsonl")
    finetune = [json.loads(line) for line in files["data/finetune.jsonl"].splitlines()]
    heldout = [json.loads(line) for line in files["data/heldout.jsonl"].splitlines()]
    assert len(finetune) + len(heldout) == len(source)
    assert all(row in source for row in finetune)  # the source rows themselves, training only
    assert not {h["input"] for h in heldout} & {r["messages"][1]["content"] for r in finetune}
    assert files["data/labels.txt"] == "card\ntransfer\n"


def _json_reply(label: str) -> str:
    return json.dumps({"route": label, "urgent": False})


def test_a_json_reply_field_becomes_the_label(tmp_path: Path) -> None:
    system = "Route it. Reply like {{ this }}."  # jinja2 syntax in the data stays data
    path = _chat_file(tmp_path, reply=_json_reply, system=system)
    out = tmp_path / "suite"
    args = ["init", str(path), "--task", "classification", "--target-field", "route"]
    assert main([*args, "--out", str(out)]) == EXIT_OK
    assert main(["validate", str(out / "suite.yaml")]) == EXIT_OK
    loaded = load_suite(out / "suite.yaml")
    assert loaded.labels == ("card", "transfer")
    assert loaded.suite.task.output.field == "route"
    assert loaded.prompts["candidate"].render("hi") == [
        {"role": "system", "content": system},
        {"role": "user", "content": "hi"},
    ]
    baseline = loaded.prompts["baseline"].render("hi")[0]["content"]
    assert baseline.startswith(system + "\n\n") and 'Answer: {"route": "card"}' in baseline


def test_generation_suites_have_no_labels_and_check_length(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [{"question": f"How do I do thing {i}?", "answer": f"Open the app and do thing {i}."}
            for i in range(20)]  # fmt: skip
    path = write_jsonl(tmp_path / "replies.jsonl", rows)
    out = tmp_path / "suite"
    args = ["init", str(path), "--task", "generation", "--input-field", "question"]
    assert main([*args, "--target-field", "answer", "--out", str(out)]) == EXIT_OK
    assert not (out / "data" / "labels.txt").exists()
    suite = (out / "suite.yaml").read_text()
    assert 'format: {"min_words": 1, "max_words": 14}' in suite
    assert "heldout.format_adherence: {non_inferior" in suite
    assert main(["validate", str(out / "suite.yaml")]) == EXIT_OK
    assert f"next: evalkit run {out / 'suite.yaml'}" in capsys.readouterr().out


def _labelled(tmp_path: Path, per_label: dict[str, int]) -> Path:
    rows = [{"text": f"{label} message number {i}", "intent": label}
            for label, n in per_label.items() for i in range(n)]  # fmt: skip
    return write_jsonl(tmp_path / "rows.jsonl", rows)


FIELDS = ["--input-field", "text", "--target-field", "intent"]


@pytest.mark.parametrize(
    ("make", "extra", "expected"),
    [
        (lambda p: _labelled(p, {"card": 10, "rare": 3}), FIELDS,
         "rows.jsonl:11: label 'rare' has 3 rows (3 distinct inputs); a 15% held-out split "
         "needs at least 7 distinct inputs per label"),
        (lambda p: _labelled(p, {"card": 10, "rare": 3}), [*FIELDS, "--heldout-share", "0.3"],
         "error: --heldout-share: must be between 0.10 and 0.20"),
        (lambda p: _labelled(p, {"card": 10}), ["--input-field", "text", "--target-field", "label"],
         "rows.jsonl:1: missing field 'label' (found: text, intent)"),
        (lambda p: write_jsonl(p / "rows.jsonl", []), FIELDS, "rows.jsonl: file is empty"),
        (lambda p: (p / "rows.jsonl").write_bytes(b'{"text": "ok", "intent": "a"}\n{"text": "caf\xe9"}\n'),
         FIELDS, "rows.jsonl:2: not UTF-8 text (byte 0xe9 at offset 43)"),
        (lambda p: _labelled(p, {"card": 10}), [*FIELDS, "--name", "my suite"],
         "error: --name: use letters, digits, '-' and '_'"),
        (_chat_file, ["--input-field", "text"],
         "finetune-source.jsonl: --input-field does not apply to a chat-format file"),
        (_chat_file, ["--target-field", "route"],
         "finetune-source.jsonl:1: the assistant reply is not a JSON object with the key 'route'"),
    ],
    ids=["too-few-per-label", "share", "target-field", "empty", "not-utf8", "name", "chat-input", "chat-reply"],
)  # fmt: skip
def test_bad_input_is_one_located_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make, extra: list[str], expected: str
) -> None:
    data = make(tmp_path)
    data = tmp_path / "rows.jsonl" if not isinstance(data, Path) else data
    out = tmp_path / "out"
    assert main(["init", str(data), "--task", "classification", "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert expected in err
    assert not out.exists()
