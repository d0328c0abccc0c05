"""The ifeval pack: its checks against lm-evaluation-harness's own output on GPT-4's published
responses, instruction by instruction; the paper's GPT-4 row; the pack's items; and the
pack end to end through `evalkit run`."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from evalkit.cli import main
from evalkit.errors import InputError
from evalkit.inputfiles import SuiteFolder
from evalkit.scoring import ifeval
from evalkit.scoring.probes import load_pack, score_probe
from tests.conftest import ITEMS, SUITE, write_jsonl

ROOT = Path(__file__).resolve().parents[1]
PACK = ROOT / "evalkit" / "probes" / "packs" / "ifeval"
REFERENCE = ROOT / "tests" / "reference" / "ifeval"
# Zhou et al. 2023, Table 2 (arXiv:2311.07911), GPT-4: prompt-level strict, instruction-level
# strict, prompt-level loose, instruction-level loose, in per cent
PAPER_GPT4 = (76.89, 83.57, 79.30, 85.37)


def read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def items() -> list[dict]:
    return read_jsonl(PACK / "items.jsonl")


@pytest.fixture(scope="module")
def replies() -> dict[str, str]:
    return {
        row["prompt"]: row["response"] for row in read_jsonl(REFERENCE / "gpt4_responses.jsonl")
    }


@pytest.fixture(scope="module")
def reference() -> dict[int, dict]:
    """lm-eval's ifeval on the same responses (run_reference.py); null: varied between runs."""
    return {row["key"]: row for row in read_jsonl(REFERENCE / "lmeval_gpt4.jsonl")}


@pytest.fixture(scope="module")
def ours(items: list[dict], replies: dict[str, str]) -> dict[int, ifeval.Followed]:
    return {
        item["key"]: ifeval.check_reply(
            replies[item["input"]], item["instruction_id_list"], item["kwargs"]
        )
        for item in items
    }


def test_the_pack_is_the_541_prompts_with_834_instructions(items: list[dict]) -> None:
    assert len(items) == 541 and len({i["key"] for i in items}) == 541
    assert sum(len(i["instruction_id_list"]) for i in items) == 834
    used = {iid for i in items for iid in i["instruction_id_list"]}
    assert used == set(ifeval.INSTRUCTIONS)  # all 25 kinds, and nothing we cannot check
    assert all(
        ifeval.instructions_problem(i["instruction_id_list"], i["kwargs"]) is None for i in items
    )


def test_every_instruction_agrees_with_lm_eval(
    items: list[dict], reference: dict[int, dict], ours: dict[int, ifeval.Followed]
) -> None:
    compared = varied = 0
    for item in items:
        for how in ("strict", "loose"):
            theirs, mine = reference[item["key"]][how], getattr(ours[item["key"]], how)
            assert len(theirs) == len(mine)
            for iid, a, b in zip(item["instruction_id_list"], theirs, mine, strict=True):
                if a is None:
                    varied += 1
                    continue
                compared += 1
                assert a == b, (item["key"], how, iid)
    # only the two letter_frequency instructions whose "letter" is "#" or "!" vary there
    # (the reference replaces a letter outside a-z by a random one)
    assert (compared, varied) == (2 * 834 - 4, 4)


def _counts(followed: list[ifeval.Followed], how: str) -> tuple[int, int]:
    lists = [getattr(f, how) for f in followed]
    return sum(all(x) for x in lists), sum(sum(x) for x in lists)


def test_the_papers_gpt4_row_is_what_the_reference_gives(
    items: list[dict], reference: dict[int, dict], ours: dict[int, ifeval.Followed]
) -> None:
    got = []
    for how in ("strict", "loose"):
        prompts, instructions = _counts(list(ours.values()), how)
        got += [100 * prompts / 541, 100 * instructions / 834]
        # the reference's range: its varying instructions all failed, or all followed
        for fill in (False, True):
            filled = [
                ifeval.Followed(
                    *(tuple(fill if v is None else v for v in r[h]) for h in ("strict", "loose"))
                )
                for r in reference.values()
            ]
            low_or_high = _counts(filled, how)
            if not fill:
                low = low_or_high
            else:
                high = low_or_high
        index = 0 if how == "strict" else 2
        paper_prompts = round(PAPER_GPT4[index] * 541 / 100)
        paper_instructions = round(PAPER_GPT4[index + 1] * 834 / 100)
        assert low[0] <= paper_prompts <= high[0] and low[1] <= paper_instructions <= high[1]
        assert low[0] <= prompts <= high[0] and low[1] <= instructions <= high[1]
    # ours, which counts the literal "#" and "!" those two prompts ask for
    assert [round(x, 2) for x in got] == [77.08, 83.69, 79.67, 85.61]
    assert all(abs(a - b) <= 0.4 for a, b in zip(got, PAPER_GPT4, strict=True))


@pytest.mark.parametrize(
    ("iid", "kwargs", "reply", "strict", "loose"),
    [
        ("punctuation:no_comma", {}, "No commas here.", True, True),
        ("startend:quotation", {}, 'Here you go:\n"quoted"', False, True),
        ("detectable_format:title", {}, "<<A title>>\nbody", True, True),
        ("detectable_format:json_format", {}, '```json\n{"a": 1}\n```', True, True),
        ("detectable_format:json_format", {}, "Sure! {'a': 1}", False, False),
        ("change_case:english_lowercase", {}, "all of this is written in lowercase english.", True, True),
        ("change_case:english_capital", {}, "THIS IS ALL IN CAPITALS, IN ENGLISH.", True, True),
        ("language:response_language", {"language": "de"}, "Das ist ein ganz normaler deutscher Satz.", True, True),
        ("keywords:letter_frequency", {"letter": "#", "let_frequency": 2, "let_relation": "at least"}, "#a #b", True, True),
        ("length_constraints:number_words", {"num_words": 3, "relation": "less than"}, "two words", True, True),
        ("combination:two_responses", {}, "one\n******\ntwo", True, True),
        ("combination:two_responses", {}, "same\n******\nsame", False, False),
        ("detectable_content:postscript", {"postscript_marker": "P.S."}, "Body.\n\nP.S. hi", True, True),
        ("detectable_format:number_highlighted_sections", {"num_highlights": 2}, "*one* and **two**", True, True),
        ("length_constraints:number_paragraphs", {"num_paragraphs": 2}, "a\n***\nb", True, True),
        ("punctuation:no_comma", {}, "   ", False, False),  # an empty reply follows nothing
    ],
)  # fmt: skip
def test_single_checks(iid: str, kwargs: dict, reply: str, strict: bool, loose: bool) -> None:
    assert ifeval.check_reply(reply, [iid], [kwargs]) == ifeval.Followed((strict,), (loose,))


@pytest.mark.parametrize(
    ("ids", "kwargs", "problem"),
    [
        (["keywords:nope"], [{}], "unknown instruction 'keywords:nope'"),
        (["keywords:frequency"], [{"keyword": "a", "frequency": 2}], "lacks 'relation'"),
        (["keywords:frequency"], [{"keyword": "a", "frequency": 2, "relation": "more"}], "expected 'less than'"),
        (["length_constraints:number_words"], [{"num_words": "5", "relation": "at least"}], "whole number"),
        (["punctuation:no_comma"], [], "one mapping per instruction"),
        ([], [], "non-empty list"),
    ],
)  # fmt: skip
def test_bad_instructions_are_located_pack_errors(
    tmp_path: Path, ids: list, kwargs: list, problem: str
) -> None:
    (tmp_path / "pack.yaml").write_text(
        (PACK / "pack.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    row = {
        "id": "x",
        "input": "Say hi.",
        "target": "",
        "instruction_id_list": ids,
        "kwargs": kwargs,
    }
    write_jsonl(tmp_path / "items.jsonl", [row])
    with pytest.raises(InputError, match=r"items\.jsonl:1: .*" + problem.replace("(", r"\(")):
        load_pack(".", SuiteFolder(tmp_path / "suite.yaml"))


def test_probe_scores_and_a_failed_request() -> None:
    pack = load_pack("ifeval", SuiteFolder(Path("suite.yaml")))
    item = next(i for i in pack.items if len(i.meta["instruction_id_list"]) == 3)
    failed = score_probe(pack, "generate", item, None)
    assert failed.scores == {
        "prompt_level_strict_acc": 0.0,
        "inst_level_strict_acc": [0, 3],
        "prompt_level_loose_acc": 0.0,
        "inst_level_loose_acc": [0, 3],
    }
    assert not failed.correct


# ---- end to end -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def run(tmp_path_factory, items: list[dict], replies: dict[str, str], reference: dict) -> Path:
    """A suite whose baseline gives GPT-4's replies to 12 IFEval prompts, and whose candidate
    answers everything with "ok" (which follows "no commas" and little else)."""
    tmp = tmp_path_factory.mktemp("ifeval")
    chosen = [i for i in items if None not in reference[i["key"]]["strict"]][:12]
    (tmp / "mini").mkdir()
    manifest = (
        (PACK / "pack.yaml")
        .read_text(encoding="utf-8")
        .replace("name: ifeval", "name: mini-ifeval")
    )
    (tmp / "mini" / "pack.yaml").write_text(manifest, encoding="utf-8")
    write_jsonl(tmp / "mini" / "items.jsonl", chosen)
    script = tmp / "gpt4.json"
    script.write_text(json.dumps({"answers": {i["input"]: replies[i["input"]] for i in chosen}}))
    write_jsonl(tmp / "items.jsonl", ITEMS)
    arms = SUITE.split("arms:")[1].split("datasets:")[0]
    baseline = f"    model: evalkit-test/base\n    model_args: {{script: {script}}}\n    prompt: {{text: '{{{{ input }}}}'}}"
    candidate = "    model: evalkit-test/tuned\n    model_args: {fallback: ok}\n    prompt: {text: '{{ input }}'}"
    text = SUITE.replace(arms, f"\n  baseline:\n{baseline}\n  candidate:\n{candidate}\n")
    text += "probes:\n  - {pack: mini}\nprobe_margin: {margin: 0.10, confidence: 0.95}\n"
    (tmp / "suite.yaml").write_text(text, encoding="utf-8")
    code = main(["run", str(tmp / "suite.yaml"), "--out", str(tmp / "out"),
                 "--cache-dir", str(tmp / "out" / "cache"), "--run-id", "r"])  # fmt: skip
    assert code == 0
    return tmp / "out" / "tiny" / "r"


def test_rows_carry_the_four_scores_as_lm_eval_defines_them(run: Path, reference: dict) -> None:
    rows = pd.read_json(run / "samples.jsonl", lines=True)
    probe = rows[(rows["dataset"] == "mini-ifeval") & (rows["arm"] == "baseline")]
    assert len(probe) == 12
    for row in probe.itertuples():
        ref = reference[int(row.id.removeprefix("ifeval-"))]
        assert row.scores["inst_level_strict_acc"] == [sum(ref["strict"]), len(ref["strict"])]
        assert row.scores["prompt_level_loose_acc"] == float(all(ref["loose"]))
        assert row.correct == all(ref["strict"])


def test_the_verdicts_are_on_the_packs_metrics(run: Path) -> None:
    results = json.loads((run / "results.json").read_text())
    verdicts = {v["metric"]: v for v in results["probes"] if v["probe"] == "mini-ifeval"}
    assert set(verdicts) == {"prompt_level_strict_acc", "inst_level_loose_acc"}
    for verdict in verdicts.values():
        assert verdict["informative"] and verdict["higher_is_better"]
        assert not verdict["non_inferior"]  # "ok" follows far fewer instructions than GPT-4
    metrics = {m["metric"]: m for m in results["metrics"] if m["dataset"] == "mini-ifeval"}
    assert (
        metrics["inst_level_strict_acc"]["baseline"] > metrics["inst_level_strict_acc"]["candidate"]
    )
