"""Prompt selection and the 80–85 % reading, end to end with the scripted provider.

The scripted baseline answers by what its prompt says: prompt A is right on the selection
split and wrong on held-out, B the other way round, C half right on the split. Selection
must choose A: a choice that ever saw held-out would choose B.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evalkit.analysis.decision import _reading
from evalkit.analysis.metrics import MetricContext, metric_statistic
from evalkit.analysis.selection import rank
from evalkit.analysis.stats import percentile_interval, resample
from evalkit.cli import main
from evalkit.pipeline import RunOptions, run_suite
from evalkit.results import Share
from evalkit.run.plan import plan_selection, plan_suite
from evalkit.suite.load import load_suite
from tests.conftest import ITEMS, write_jsonl

CARD, EXCHANGE = '{"intent": "card_arrival"}', '{"intent": "exchange_rate"}'
DEV = [
    {"id": "d1", "input": "dev: card lost", "target": "card_arrival"},
    {"id": "d2", "input": "dev: exchange euros", "target": "exchange_rate"},
    {"id": "d3", "input": "dev: card late", "target": "card_arrival"},
    {"id": "d4", "input": "dev: exchange fee", "target": "exchange_rate"},
]
# training rows: four of their own, plus every held-out item (a contaminated training file)
TRAIN = [
    {"input": "train: card never came", "target": "card_arrival"},
    {"input": "train: exchange dollars", "target": "exchange_rate"},
    {"input": "train: card in the mail", "target": "card_arrival"},
    {"input": "train: exchange pounds", "target": "exchange_rate"},
    *({"input": it["input"].upper() + "!", "target": it["target"]} for it in ITEMS),
]
ANSWERS = {
    "A: dev: card": CARD, "A: dev: exchange": EXCHANGE, "A: train: card": CARD,
    "A: train: exchange": EXCHANGE, "C: dev: card": CARD, "C: train: card": CARD,
    **{f"B: {it['input']}": CARD if it["target"] == "card_arrival" else EXCHANGE for it in ITEMS},
}  # fmt: skip

SUITE = """
name: pick
task:
  type: classification
  labels: [card_arrival, exchange_rate]
  output: {format: json, field: intent}
arms:
  baseline:
    model: evalkit-test/base
    model_args:
      answers: ANSWERS
      fallback: "I am not sure."
    prompts:
      - {name: A, text: "A: {{ input }}"}
      - {name: B, text: "B: {{ input }}"}
      - {name: C, text: "C: {{ input }}"}
  candidate:
    model: evalkit-test/tuned
    model_args:
      answers: {"card": '{"intent": "card_arrival"}', "exchange": '{"intent": "exchange_rate"}'}
    prompt: {text: "Q: {{ input }}"}
datasets:
  heldout: {path: items.jsonl, id: id}
selection:
  dev: {path: dev.jsonl, id: id}
stats: {bootstrap: 300}
run: {max_retries: 0}
"""


def write_suite(
    folder: Path, text: str = SUITE, answers: dict[str, str] = ANSWERS, **replace: str
) -> Path:
    """The suite and its data in `folder`, each `old=new` of `replace` applied to its text."""
    folder.mkdir(parents=True, exist_ok=True)
    write_jsonl(folder / "items.jsonl", ITEMS)
    write_jsonl(folder / "dev.jsonl", DEV)
    write_jsonl(folder / "train.jsonl", TRAIN)
    text = text.replace("ANSWERS", json.dumps(answers))
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    (folder / "suite.yaml").write_text(text, encoding="utf-8")
    return folder / "suite.yaml"


def cli_run(suite: Path, out: Path, *extra: str) -> int:
    return main(["run", str(suite), "--out", str(out), "--cache-dir", str(out / "cache"),
                 "--display", "none", *extra])  # fmt: skip


def samples(path: Path) -> pd.DataFrame:
    return pd.read_json(path, lines=True, dtype={"id": str})


@pytest.fixture(scope="module")
def picked(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pick")
    assert cli_run(write_suite(root), root / "out", "--run-id", "one") == 0
    return root / "out" / "pick" / "one"


def test_selection_chooses_on_the_split_never_on_heldout(picked: Path) -> None:
    results = json.loads((picked / "results.json").read_text())
    board = results["selection"]["arms"]["baseline"]
    assert [p["name"] for p in board["prompts"]] == ["A", "C", "B"]
    assert board["chosen"] == "A" and board["decided_by"] == "score"
    assert [p["score"] for p in board["prompts"]] == [1.0, 0.5, 0.0]
    # B would have been perfect on held-out: the choice did not look there
    assert (
        results["arms"]["baseline"]["example_messages"][0]["content"] == "A: where is my new card"
    )
    heldout = results["metrics"][[m["metric"] for m in results["metrics"]].index("macro_f1")]
    assert heldout["dataset"] == "heldout" and heldout["baseline"] == 0.0
    # the selection pass's requests were on the split's items only, and only A met held-out
    chosen = samples(picked / "selection_samples.jsonl")
    assert set(chosen["id"]) == {d["id"] for d in DEV}
    assert not set(chosen["input"]) & {it["input"] for it in ITEMS}
    assert set(chosen["dataset"]) == {"A", "B", "C"} and set(chosen["section"]) == {"selection"}
    reported = samples(picked / "samples.jsonl")
    assert set(reported["id"]) == {it["id"] for it in ITEMS}
    tasks = {json.loads(line)["task"] for line in (picked / "journal.jsonl").open()}
    assert tasks == {
        "baseline__selection__A", "baseline__selection__B", "baseline__selection__C",
        "baseline__task__heldout", "candidate__task__heldout",
    }  # fmt: skip
    assert results["selection"]["disjoint_from"] == ["heldout"]


def test_leaderboard_intervals_are_the_bootstrap_of_the_selection_samples(picked: Path) -> None:
    """Recomputed from selection_samples.jsonl with the same resamples: the same numbers."""
    results = json.loads((picked / "results.json").read_text())
    rows = samples(picked / "selection_samples.jsonl")
    ctx = MetricContext("classification", ("card_arrival", "exchange_rate"), "task")
    stats = {
        name: metric_statistic("macro_f1", part.reset_index(drop=True), ctx)[1]  # type: ignore[index]
        for name, part in rows.groupby("dataset")
    }
    draws = resample(stats, len(DEV), resamples=300, seed=0)
    for p in results["selection"]["arms"]["baseline"]["prompts"]:
        assert (p["ci_low"], p["ci_high"]) == pytest.approx(
            percentile_interval(draws[p["name"]], 0.95)
        )
        diff = percentile_interval(draws[p["name"]] - draws["A"], 0.95)
        assert (p["diff_ci_low"], p["diff_ci_high"]) == pytest.approx(diff)


def test_the_report_shows_the_leaderboard_and_says_heldout_was_not_seen(picked: Path) -> None:
    page = (picked / "index.html").read_text()
    board = page[
        page.index('<section id="selection">') : page.index(
            "</section>", page.index('id="selection"')
        )
    ]
    assert (
        board.index('data-prompt="A"')
        < board.index('data-prompt="C"')
        < board.index('data-prompt="B"')
    )
    assert "Selection never saw the held-out data" in board and "with heldout" in board
    assert '<tr class="prompt chosen" data-prompt="A">' in board
    assert "best of 3" in page  # the arm card names the chosen prompt
    summary = (picked / "summary.md").read_text()
    assert "Prompt selection\\: the baseline ran 'A', the best of 3 listed prompts" in summary
    assert "selection never saw the held-out data" in summary and "Fine-tune or not\\:" in summary


def test_a_second_run_is_answered_from_the_cache(picked: Path) -> None:
    out = picked.parents[1]
    assert cli_run(picked.parents[2] / "suite.yaml", out, "--run-id", "two") == 0
    again = out / "pick" / "two"
    assert samples(again / "selection_samples.jsonl")["cached"].all()
    assert samples(again / "samples.jsonl")["cached"].all()
    first, second = (
        json.loads((d / "results.json").read_text())["selection"] for d in (picked, again)
    )
    assert first == second


def test_resume_sends_only_what_the_journal_lacks(tmp_path: Path) -> None:
    """A run stopped with part of the selection pass and part of the reported pass answered
    resumes with exactly the missing requests, and chooses the same prompt."""
    suite = write_suite(tmp_path)
    out = tmp_path / "out"
    assert cli_run(suite, out, "--run-id", "r", "--no-cache") == 0
    run_dir = out / "pick" / "r"
    lines = (run_dir / "journal.jsonl").read_text().splitlines()
    # drop one selection answer of prompt C and two held-out answers of the baseline
    gone = {("baseline__selection__C", "d2"), ("baseline__task__heldout", "q2"),
            ("baseline__task__heldout", "q5")}  # fmt: skip
    drop = [
        i
        for i, line in enumerate(lines)
        if tuple(json.loads(line)[k] for k in ("task", "item")) in gone
    ]
    assert len(drop) == 3
    kept = [line for i, line in enumerate(lines) if i not in drop]
    (run_dir / "journal.jsonl").write_text("\n".join(kept) + "\n")
    manifest = json.loads((run_dir / "run.json").read_text())
    (run_dir / "run.json").write_text(json.dumps({**manifest, "state": "interrupted"}))
    assert cli_run(suite, out, "--resume", str(run_dir), "--no-cache") == 0
    sent = (run_dir / "journal.jsonl").read_text().splitlines()[len(kept) :]
    assert {(json.loads(x)["task"], json.loads(x)["item"]) for x in sent} == gone
    assert len(sent) == len(gone)
    results = json.loads((run_dir / "results.json").read_text())
    assert results["selection"]["arms"]["baseline"]["chosen"] == "A"


def test_a_tie_goes_to_the_cheaper_prompt(tmp_path: Path) -> None:
    """A and a wordier twin of A score the same: the one with fewer input tokens wins, and
    with prices the cheaper one (the scripted model counts words as tokens)."""
    twin = """
        - {name: A-long, text: "Please classify this banking query carefully. A: {{ input }}"}
        - {name: A, text: "A: {{ input }}"}
        - {name: C, text: "C: {{ input }}"}
    """
    prompts = """
      - {name: A, text: "A: {{ input }}"}
      - {name: B, text: "B: {{ input }}"}
      - {name: C, text: "C: {{ input }}"}
"""
    listed = textwrap.indent(textwrap.dedent(twin).strip() + "\n", "      ")
    suite = write_suite(tmp_path / "tokens", **{prompts.lstrip("\n"): listed})
    result = run_suite(suite, RunOptions(out_dir=tmp_path / "out", cache_dir=tmp_path / "cache"))
    board = result.results.selection.arms["baseline"]  # type: ignore[union-attr]
    assert (board.chosen, board.decided_by) == ("A", "input_tokens")
    assert [p.name for p in board.prompts] == ["A", "A-long", "C"]
    priced = write_suite(
        tmp_path / "priced",
        **{
            prompts.lstrip("\n"): listed
            + "    price: {input_per_mtok: 1.0, output_per_mtok: 1.0}\n"
        },
    )
    result = run_suite(priced, RunOptions(out_dir=tmp_path / "out", cache_dir=tmp_path / "cache"))
    board = result.results.selection.arms["baseline"]  # type: ignore[union-attr]
    assert (board.chosen, board.decided_by) == ("A", "cost")
    costs = {p.name: p.cost_per_1k_requests for p in board.prompts}
    assert costs["A"] < costs["A-long"]


def test_rank_breaks_ties_in_order() -> None:
    keys = {
        "x": (-0.5, 2.0, 10.0, 0.0),
        "y": (-0.5, 1.0, 99.0, 1.0),
        "z": (-0.5 - 1e-12, 2.0, 10.0, 2.0),
    }
    assert rank(keys) == (["y", "x", "z"], "cost")  # -0.5 - 1e-12 is a tie on the score
    unknown = {"x": (-0.5, np.inf, np.inf, 0.0), "y": (-0.5, np.inf, np.inf, 1.0)}
    assert rank(unknown) == (["x", "y"], "order")


def test_a_split_carved_from_training_data_leaves_reported_items_out(tmp_path: Path) -> None:
    """The training file holds every held-out input (in other case and punctuation): the
    carved split takes none of them, and asking for more than the rest is an error."""
    text = SUITE.replace("  dev: {path: dev.jsonl, id: id}\n", "  from_training: {n: 3, seed: 3}\n")
    text += "training_data: {path: train.jsonl, sample: 1, seed: 1}\n"
    loaded = load_suite(write_suite(tmp_path / "ok", text))
    split = {it.input for it in loaded.selection_items}
    assert len(split) == 3  # one of the four own rows is the training sample
    assert loaded.training_sample[0].input.startswith("train:")
    assert all(s.startswith("train:") for s in split)
    assert not split & {it.input for it in loaded.training_sample}
    planned = {s.input for t in plan_selection(loaded).tasks for s in t.samples}
    heldout = {s.input for t in plan_suite(loaded).tasks for s in t.samples}
    assert planned == split and not planned & heldout
    labels = sorted(it.target for it in loaded.selection_items)
    assert labels.count("card_arrival") >= 1 and labels.count("exchange_rate") >= 1


@pytest.mark.parametrize(
    ("change", "expect"),
    [
        ({"  dev: {path: dev.jsonl, id: id}\n": "  from_training: {n: 4, seed: 0}\n"}, "needs 'training_data'"),
        ({'      - {name: C, text: "C: {{ input }}"}\n': '      - {name: C, text: "A: {{ input }}"}\n'},
         "arms.baseline.prompts.2]: prompt 'C' is identical to 'A' (arms.baseline.prompts.0)"),
        ({"{name: C,": "{name: A,"}, "the prompt name 'A' is listed twice"),
        ({"{name: C,": "{name: 'C d',"}, "arms.baseline.prompts.2.name"),
        ({"selection:\n  dev: {path: dev.jsonl, id: id}\n": ""}, "add a 'selection' block"),
        ({"    prompt: {text: \"Q: {{ input }}\"}\n": "    prompt: {text: \"Q: {{ input }}\"}\n    prompts: [{name: x, text: \"{{ input }}\"}, {name: y, text: \"y {{ input }}\"}]\n"},
         "[arms.candidate]: give exactly one of 'prompt'"),
        ({'      - {name: B, text: "B: {{ input }}"}\n      - {name: C, text: "C: {{ input }}"}\n': ""},
         "[arms.baseline.prompts]: list at least two prompts to choose among"),
        ({"  dev: {path: dev.jsonl, id: id}\n": "  dev: {path: items.jsonl, id: id}\n"},
         "[selection.dev]: selection item 'q1' has the same id as item 'q1' of heldout"),
        ({"  dev: {path: dev.jsonl, id: id}\n": "  dev: {path: dev.jsonl}\n"}, None),
    ],
    ids=["from_training without training data", "identical prompts", "same name", "bad name",
         "prompts without selection", "prompt and prompts", "a list of one", "dev is heldout",
         "dev ids of its own"],
)  # fmt: skip
def test_bad_selection_input_is_one_located_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: dict[str, str], expect: str | None
) -> None:
    suite = write_suite(tmp_path, **change)
    code = main(["validate", str(suite)])
    err = capsys.readouterr().err
    if expect is None:
        assert code == 0, err
        return
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert str(suite) in err and expect in " ".join(err.split()), err


def test_dev_items_equal_to_heldout_inputs_or_examples_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = write_suite(tmp_path)
    # the same input as q3, in other case and punctuation, under an id of its own
    write_jsonl(
        tmp_path / "dev.jsonl",
        [*DEV, {"id": "d9", "input": "Card still has NOT arrived?", "target": "card_arrival"}],
    )
    assert main(["validate", str(suite)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "selection item 'd9' has the same input as item 'q3' of heldout" in err
    # a dev item that a listed prompt has as a few-shot example
    write_jsonl(tmp_path / "dev.jsonl", DEV)
    write_jsonl(tmp_path / "shots.jsonl", [DEV[1]])
    text = (
        (tmp_path / "suite.yaml")
        .read_text()
        .replace(
            '{name: C, text: "C: {{ input }}"}',
            '{name: C, text: "C: {{ input }}", fewshot: {path: shots.jsonl}}',
        )
    )
    (tmp_path / "suite.yaml").write_text(text)
    assert main(["validate", str(suite)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert (
        "selection item 'd2' has the same input as the few-shot examples of arms.baseline.prompts.2 (C)"
        in err
    )


def test_a_listed_prompt_that_fails_on_a_heldout_item_stops_validate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Prompt B would only meet held-out if chosen: it is rendered on every item anyway."""
    broken = "{% if 'fair' in input %}{{ 1 / 0 }}{% endif %}B: {{ input }}"
    suite = write_suite(tmp_path, **{'text: "B: {{ input }}"': f'text: "{broken}"'})
    assert main(["validate", str(suite)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "[arms.baseline.prompts.1]: the prompt fails on item 'q4' of heldout" in err


def test_a_suite_failing_its_checks_leaves_an_earlier_run_of_that_id_alone(
    tmp_path: Path,
) -> None:
    """The selection check runs before the run folder is claimed: a failing suite started
    with a finished run's id deletes nothing of that run."""
    out = tmp_path / "out"
    args = ["--out", str(out), "--cache-dir", str(tmp_path / "cache"), "--run-id", "r"]
    assert main(["run", str(write_suite(tmp_path)), *args]) in (0, 1)
    journal = out / "pick" / "r" / "journal.jsonl"
    before = journal.read_bytes()
    broken = "{% if 'fair' in input %}{{ 1 / 0 }}{% endif %}B: {{ input }}"
    suite = write_suite(tmp_path, **{'text: "B: {{ input }}"': f'text: "{broken}"'})
    assert main(["run", str(suite), *args]) == 2
    assert journal.read_bytes() == before


def test_selection_by_a_judges_score_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rubric = Path(__file__).resolve().parents[1] / "rubrics" / "support_reply.yaml"
    (tmp_path / "r.yaml").write_text(rubric.read_text())
    text = (
        SUITE.replace("type: classification", "type: generation").replace(
            "  labels: [card_arrival, exchange_rate]\n  output: {format: json, field: intent}\n", ""
        )
        + "scorers: {rubrics: [{rubric: r.yaml}]}\njudge: {model: evalkit-test/judge}\n"
    )
    suite = write_suite(tmp_path, text)
    assert main(["validate", str(suite)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert (
        "[selection]: prompt selection chooses by the primary metric, here the judge's rubric.support_reply.overall"
        in err
    )


def test_too_few_training_rows_for_the_split(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = SUITE.replace("  dev: {path: dev.jsonl, id: id}\n", "  from_training: {n: 5, seed: 0}\n")
    text += "training_data: {path: train.jsonl, sample: 1, seed: 1}\n"
    suite = write_suite(tmp_path, text)
    assert main(["validate", str(suite)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert (
        "[selection.from_training.n]: 5 selection items asked, but only 3 of the 10 training items"
        in err
    )


def test_the_reading_with_a_target_divides_the_scores_intervals(tmp_path: Path) -> None:
    """decision.target: each share is the score over the target, and its interval the score's
    own bootstrap interval over the target (recomputed here from samples.jsonl)."""
    suite = write_suite(
        tmp_path,
        **{
            "stats: {bootstrap: 300}\n": "stats: {bootstrap: 300}\ndecision: {target: 0.8, training_cost: {usd: 30}}\n"
        },
    )
    outcome = run_suite(suite, RunOptions(out_dir=tmp_path / "out", cache_dir=tmp_path / "cache"))
    d = outcome.results.decision
    assert d is not None and d.target_source == "suite" and d.target == 0.8
    assert d.baseline.share == 0.0 and d.candidate.share == pytest.approx(1.0 / 0.8)
    rows = outcome.table
    ctx = MetricContext("classification", ("card_arrival", "exchange_rate"), "task")
    stats = {arm: metric_statistic("macro_f1", rows[rows["arm"] == arm].reset_index(drop=True), ctx)[1]  # type: ignore[index]
             for arm in ("baseline", "candidate")}  # fmt: skip
    draws = resample(stats, len(ITEMS), resamples=300, seed=0)
    low, high = percentile_interval(draws["candidate"], 0.95)
    assert (d.candidate.ci_low, d.candidate.ci_high) == pytest.approx((low / 0.8, high / 0.8))
    assert d.outcome == "fine_tune" and "stays below 80%" in d.sentence
    assert "$30.00 training cost" in d.cost_sentence and d.break_even_requests is None


def test_the_reading_against_the_candidate_bootstraps_the_ratio_and_prices_break_even(
    tmp_path: Path,
) -> None:
    """No target: the candidate's score is the target and the baseline's share is the ratio
    on each paired resample. With prices, the break-even volume is the training cost over
    the per-request saving."""
    answers = {"where": CARD, "card still": CARD, "exchange": EXCHANGE}
    suite = write_suite(
        tmp_path,
        answers={f"{p}: {k}": v for k, v in answers.items() for p in "ABC"}
        | {"A: dev: card": CARD, "A: dev: exchange": EXCHANGE},
        **{
            "stats: {bootstrap: 300}\n": "stats: {bootstrap: 300}\ndecision: {training_cost: {usd: 2}}\n"
            "prices: {evalkit-test/base: {input_per_mtok: 100.0, output_per_mtok: 0.0},"
            " evalkit-test/tuned: {input_per_mtok: 50.0, output_per_mtok: 0.0}}\n",
        },
    )  # fmt: skip
    outcome = run_suite(suite, RunOptions(out_dir=tmp_path / "out", cache_dir=tmp_path / "cache"))
    d = outcome.results.decision
    assert d is not None and d.target_source == "candidate"
    b, c = (outcome.results.metric("heldout", "macro_f1")[arm] for arm in ("baseline", "candidate"))  # type: ignore[index]
    assert 0 < b < c == d.target and d.baseline.share == pytest.approx(b / c)
    assert d.candidate.share == 1.0 and d.candidate.ci_low is None
    rows = outcome.table
    ctx = MetricContext("classification", ("card_arrival", "exchange_rate"), "task")
    stats = {arm: metric_statistic("macro_f1", rows[rows["arm"] == arm].reset_index(drop=True), ctx)[1]  # type: ignore[index]
             for arm in ("baseline", "candidate")}  # fmt: skip
    draws = resample(stats, len(ITEMS), resamples=300, seed=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = draws["baseline"] / draws["candidate"]
    assert (d.baseline.ci_low, d.baseline.ci_high) == pytest.approx(
        percentile_interval(ratio, 0.95)
    )
    econ = outcome.results.economics
    cost_b, cost_c = econ["baseline"].cost_per_1k_requests, econ["candidate"].cost_per_1k_requests
    assert cost_b is not None and cost_c is not None and cost_b > cost_c
    assert d.break_even_requests == pytest.approx(2 / ((cost_b - cost_c) / 1000))
    assert f"{d.break_even_requests:,.0f} requests" in d.cost_sentence


def test_a_suite_without_prompt_selection_gets_the_reading_from_decision(make_suite) -> None:
    from tests.conftest import SUITE as ONE_PROMPT

    suite = make_suite(ONE_PROMPT + "decision: {target: 0.9}\n")
    outcome = run_suite(
        suite, RunOptions(out_dir=suite.parent / "out", cache_dir=suite.parent / "c")
    )
    d = outcome.results.decision
    assert outcome.results.selection is None and d is not None
    assert "With its one prompt (no prompt selection), the base model reaches 69%" in d.sentence
    assert d.baseline.share == pytest.approx(
        outcome.results.metric("heldout", "macro_f1").baseline / 0.9
    )  # type: ignore[union-attr]
    page = (outcome.run_dir / "index.html").read_text()
    assert '<section id="decision">' in page and '<section id="selection">' not in page


@pytest.mark.parametrize(
    ("share", "outcome"),
    [
        (Share(score=0.7, share=0.82, ci_low=0.80, ci_high=0.9), "prompting_enough"),
        (Share(score=0.7, share=0.82, ci_low=0.79, ci_high=0.9), "unclear"),
        (Share(score=0.5, share=0.6, ci_low=0.5, ci_high=0.7999), "fine_tune"),
        (Share(score=0.8, share=0.85, ci_low=None, ci_high=None), "prompting_enough"),
        (Share(score=None, share=None, ci_low=None, ci_high=None), "unknown"),
    ],
)
def test_the_reading_follows_the_interval_against_80_percent(share: Share, outcome: str) -> None:
    assert _reading(share) == outcome


def test_shards_merge_with_the_same_choice(tmp_path: Path) -> None:
    suite = write_suite(tmp_path)
    out = tmp_path / "out"
    for i in (1, 2):
        assert cli_run(suite, out, "--run-id", f"s{i}", "--shard", f"{i}/2") == 0
    assert main(["merge", str(out / "pick" / "s1"), str(out / "pick" / "s2"), "--out", str(out),
                 "--run-id", "merged"]) == 0  # fmt: skip
    assert cli_run(suite, out, "--run-id", "whole") == 0
    merged, whole = (
        json.loads((out / "pick" / d / "results.json").read_text()) for d in ("merged", "whole")
    )
    assert merged["selection"] == whole["selection"]
    assert merged["arms"]["baseline"]["prompt_sha256"] == whole["arms"]["baseline"]["prompt_sha256"]
    assert (out / "pick" / "merged" / "selection_samples.jsonl").is_file()
    assert main(["logs", str(out / "pick" / "merged")]) == 0
    from inspect_ai.log import read_eval_log

    log = read_eval_log(str(out / "pick" / "merged" / "logs" / "baseline__task__heldout.eval"))
    assert all(s.input[-1].text.startswith("A: ") for s in log.samples)  # type: ignore[union-attr]


def test_the_example_suite_chooses_among_three_prompts_on_training_items_only() -> None:
    """suites/banking77-selection.yaml, without calling its model: three baseline prompts,
    a split of training items none of which is a held-out item or a few-shot example."""
    from tests.conftest import REPO

    loaded = load_suite(REPO / "suites" / "banking77-selection.yaml")
    options = loaded.prompt_options["baseline"]
    assert [o.name for o in options] == ["zero-shot", "one-per-label", "two-per-label"]
    assert [len(o.prompt.examples) for o in options] == [0, 9, 18]
    split = loaded.selection_items
    assert len(split) == 18 and all(it.id.startswith("train-") for it in split)
    assert sorted({it.target for it in split}) == sorted(loaded.labels)  # labels in turn
    texts = {it.input.casefold() for it in split}
    assert not texts & {it.input.casefold() for it in loaded.datasets["heldout"]}
    assert not texts & {e.input.casefold() for o in options for e in o.prompt.examples}
    assert main(["validate", str(REPO / "suites" / "banking77-selection.yaml")]) == 0
