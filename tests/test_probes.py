"""Probe packs: built-in packs load and are valid; answer extraction on real and malformed
replies; user packs; every malformed pack is an InputError naming the file and the place."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalkit.data.items import Item
from evalkit.errors import InputError
from evalkit.inputfiles import SuiteFolder
from evalkit.scoring import ifeval
from evalkit.scoring.probes import (
    builtin_packs,
    extract_answer,
    is_correct,
    load_pack,
    parse_options,
    render_probe_prompt,
    select_items,
)

# the GSM8K test rows the gsm8k pack was drawn from, with their line numbers (SOURCE.md there)
GSM8K_SOURCE = Path(__file__).parent / "data" / "gsm8k" / "source-rows.jsonl"
BUILTIN_SIZES = {
    "gsm8k": 300,
    "mmlu-elementary-math": 378,
    "mmlu-geography": 202,
    "mmlu-global-facts": 100,
    "hellaswag": 10042,
    "xstest": 450,
    "ifeval": 541,
}


# ---- built-in packs ------------------------------------------------------------------------


def test_builtin_pack_names() -> None:
    # hellaswag is loglik-only (PACKFORMAT v2); its items are checked in test_lmeval_reference.py
    assert builtin_packs() == sorted(BUILTIN_SIZES)


@pytest.mark.parametrize("name", sorted(BUILTIN_SIZES))
def test_builtin_pack_is_valid(name: str, tmp_path: Path) -> None:
    pack = load_pack(name, SuiteFolder(tmp_path / "suite.yaml"))  # the folder is irrelevant here
    assert pack.name == name
    assert len(pack.items) == BUILTIN_SIZES[name]
    assert len({item.id for item in pack.items}) == len(pack.items)
    folder = Path(pack.path).parent
    assert (folder / "SOURCE.md").is_file() and (folder / "LICENSE").is_file()
    for item in pack.items:
        assert item.input.strip()
        if pack.loglik is not None:
            choices = pack.item_choices(item)
            assert len(choices) >= 2 and 0 <= item.gold < len(choices)
            context = render_probe_prompt(pack, item, "loglik")
            assert item.input in context and "{{" not in context
        if pack.prompt is None:
            continue
        if pack.kind == "multiple_choice":
            assert item.target in {"A", "B", "C", "D"}
            assert sorted(parse_options(item.input)) == ["A", "B", "C", "D"]
        elif pack.kind == "refusal":
            assert item.target in {"refuse", "comply"}
        elif pack.kind == "ifeval":
            assert item.target == ""
            ids, kwargs = item.meta["instruction_id_list"], item.meta["kwargs"]
            assert ifeval.instructions_problem(ids, kwargs) is None
        else:
            assert pack.kind == "numeric"
            assert extract_answer("numeric", item.target) == item.target
        prompt = render_probe_prompt(pack, item)
        assert item.input in prompt and "{{" not in prompt


def _gsm8k_source() -> dict[int, dict[str, str]]:
    lines = GSM8K_SOURCE.read_text(encoding="utf-8").splitlines()
    return {row["line"]: row for row in map(json.loads, lines)}


def test_gsm8k_targets_match_the_source_file() -> None:
    rows = _gsm8k_source()
    items = load_pack("gsm8k", SuiteFolder(Path(".") / "suite.yaml")).items
    assert len(rows) == len(items)
    for item in items:
        row = rows[int(item.id.removeprefix("gsm8k-"))]
        assert item.input == row["question"].strip()
        assert item.target == row["answer"].split("#### ")[-1].strip().replace(",", "")


# ---- multiple-choice extraction --------------------------------------------------------------


@pytest.fixture(scope="module")
def geography() -> tuple[Item, ...]:
    return load_pack("mmlu-geography", SuiteFolder(Path(".") / "suite.yaml")).items


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("B", "B"),
        (" B\n", "B"),
        ("(C)", "C"),
        ("[D]", "D"),
        ("Answer: D", "D"),
        ("The answer is A.", "A"),
        ("The correct answer is (b).", "B"),
        ("A. Paris", "A"),
        ("C) government activity.", "C"),
        ("**B**", "B"),
        ("**Answer: C**", "C"),
        ("c)", "C"),
        ("d", "D"),
        ("Option B is correct.", "B"),
        ("I think it's C, because the others are wrong.", "C"),
        # A base model that carries on writing the next question after its answer.
        ("B\n\nQuestion: Which of these is a city?\nA. Paris\nB. France", "B"),
    ],
)
def test_extract_letter(reply: str, expected: str) -> None:
    assert extract_answer("multiple_choice", reply) == expected


@pytest.mark.parametrize(
    "reply",
    [
        "",
        "   ",
        "I don't know.",
        "A country with few roads cannot trade.",  # the article "A", not option A
        "The answer is a bit unclear",
        "A or B",
        "(A) or (C)",
        "Either B and D",
        "A/B",
        "The answer is A. No wait, the answer is C.",
        "billing_issue",  # a fine-tune answering in its own task's label format
        '{"label": "card_arrival"}',
    ],
)
def test_extract_letter_fails_on_ambiguous_or_missing(reply: str) -> None:
    assert extract_answer("multiple_choice", reply) is None


def test_extract_letter_from_restated_option_text(geography: tuple[Item, ...]) -> None:
    # geography-000: A. a currency. / B. a well-connected transportation infrastructure. / ...
    item = geography[0]
    options = parse_options(item.input)
    assert options["B"] == "a well-connected transportation infrastructure."
    for reply in (
        "a well-connected transportation infrastructure.",
        "A well-connected transportation infrastructure",
        "The answer is a well-connected transportation infrastructure.",
        "a currency.",
    ):
        expected = "A" if "currency" in reply else "B"
        assert extract_answer("multiple_choice", reply, item.input) == expected
    assert extract_answer("multiple_choice", "something else entirely", item.input) is None


def test_real_mmlu_targets_round_trip(geography: tuple[Item, ...]) -> None:
    # Every way a model might state each real target letter extracts back to that target.
    for item in geography:
        options = parse_options(item.input)
        letter = item.target
        for reply in (
            letter,
            f"({letter})",
            f"Answer: {letter}",
            f"The answer is {letter}.",
            f"{letter}. {options[letter]}",
            f"**{letter}**",
            f"{letter.lower()})",
            options[letter],
        ):
            got = extract_answer("multiple_choice", reply, item.input)
            assert got == letter, (item.id, reply, got)
            assert is_correct("multiple_choice", got, item.target)


# ---- numeric extraction ----------------------------------------------------------------------


def test_real_gsm8k_solutions_extract_to_their_target() -> None:
    for number, row in _gsm8k_source().items():
        target = row["answer"].split("#### ")[-1].strip().replace(",", "")
        got = extract_answer("numeric", row["answer"])
        assert got == target, (number, got, target)
        assert is_correct("numeric", got, target)


def test_pack_targets_as_model_replies() -> None:
    for item in load_pack("gsm8k", SuiteFolder(Path(".") / "suite.yaml")).items[:100]:
        reply = f"Working it out step by step gives 3 parts.\nThe answer is {item.target}."
        assert extract_answer("numeric", reply) == item.target


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("The answer is 18.", "18"),
        ("The answer is $1,234.", "1234"),
        ("The answer is $1,234.50.", "1234.5"),
        ("#### 70000", "70000"),
        ("answer: 42", "42"),
        ("5.0", "5"),
        ("-3", "-3"),
        ("The temperature fell to −7 degrees.", "-7"),
        ("1,234", "1234"),
        ("She has 3 apples and buys 4 more, so 7 in all.", "7"),
        ("16 - 3 - 4 = 9 eggs", "9"),  # subtraction, not a negative number
        ("The answer is 7. Checking again, the answer is 8.", "8"),
        ("The answer is **12**.", "12"),
        ("\\boxed{42}", "42"),
        ("The answer is 3/4.", "0.75"),
        ("It is 1/3 of the cake.", "1/3"),
        ("The answer is 25 and it took 3 steps.", "25"),  # a stated answer beats the last number
    ],
)
def test_extract_number(reply: str, expected: str) -> None:
    assert extract_answer("numeric", reply) == expected


@pytest.mark.parametrize("reply", ["", "I cannot solve this.", "The answer is unknown.", "$"])
def test_extract_number_fails_without_a_number(reply: str) -> None:
    assert extract_answer("numeric", reply) is None


def test_is_correct() -> None:
    assert is_correct("numeric", "5", "5.00")
    assert is_correct("numeric", "0.75", "3/4")
    assert is_correct("numeric", "-3", "-3")
    assert not is_correct("numeric", "3", "-3")
    assert not is_correct("numeric", None, "3")
    assert is_correct("multiple_choice", "b", "B")
    assert not is_correct("multiple_choice", "A", "B")
    assert not is_correct("multiple_choice", None, "B")


def test_unknown_kind_is_a_programming_error() -> None:
    with pytest.raises(
        KeyError, match="unknown probe kind 'essay'; known: multiple_choice, numeric"
    ):
        extract_answer("essay", "x")


# ---- selection and user packs ---------------------------------------------------------------

MANIFEST = """\
name: my-pack
version: 2
description: a tiny pack
kind: multiple_choice
prompt: "Q: {{ input }}\\nA:"
max_tokens: 8
items: items.jsonl
source: written for the tests
licence: CC0
"""

ROWS = [
    {"id": "q1", "input": "1+1?\nA. 1\nB. 2\nC. 3\nD. 4", "target": "B"},
    {"id": "q2", "input": "2+2?\nA. 4\nB. 2\nC. 3\nD. 1", "target": "A"},
    {"id": "q3", "input": "3+3?\nA. 4\nB. 2\nC. 6\nD. 1", "target": "C"},
]


def write_pack(
    folder: Path, manifest: str = MANIFEST, rows: list[str] | None = None, name: str = "pack.yaml"
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(manifest, encoding="utf-8")
    lines = rows if rows is not None else [json.dumps(r) for r in ROWS]
    (folder / "items.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder / name


def test_user_pack_from_folder(tmp_path: Path) -> None:
    write_pack(tmp_path / "packs" / "mine")
    pack = load_pack("packs/mine", SuiteFolder(tmp_path / "suite.yaml"))
    assert (pack.name, pack.version, pack.kind, pack.max_tokens) == (
        "my-pack",
        "2",
        "multiple_choice",
        8,
    )
    assert [i.id for i in pack.items] == ["q1", "q2", "q3"]
    assert render_probe_prompt(pack, pack.items[0]) == "Q: 1+1?\nA. 1\nB. 2\nC. 3\nD. 4\nA:"


def test_user_pack_from_single_manifest_file(tmp_path: Path) -> None:
    write_pack(tmp_path / "probes", name="arith.yaml")
    pack = load_pack("probes/arith.yaml", SuiteFolder(tmp_path / "suite.yaml"))
    assert pack.path == str(tmp_path / "probes" / "arith.yaml")
    assert len(pack.items) == 3


def test_numeric_user_pack_accepts_json_numbers(tmp_path: Path) -> None:
    manifest = MANIFEST.replace("multiple_choice", "numeric")
    rows = [
        json.dumps({"id": 1, "input": "2*3?", "target": 6}),
        json.dumps({"id": 2, "input": "1/2?", "target": "0.5"}),
    ]
    write_pack(tmp_path, manifest, rows)
    pack = load_pack(".", SuiteFolder(tmp_path / "suite.yaml"))
    assert [(i.id, i.target) for i in pack.items] == [("1", "6"), ("2", "0.5")]


def test_select_items_is_seeded_and_keeps_pack_order() -> None:
    pack = load_pack("mmlu-global-facts", SuiteFolder(Path(".") / "suite.yaml"))
    first = select_items(pack, 10, seed=1)
    assert first == select_items(pack, 10, seed=1)
    assert first != select_items(pack, 10, seed=2)
    positions = [pack.items.index(item) for item in first]
    assert positions == sorted(positions) and len(set(first)) == 10
    assert select_items(pack, None, seed=0) == pack.items
    assert select_items(pack, 100, seed=0) == pack.items


def test_select_more_items_than_the_pack_has(tmp_path: Path) -> None:
    write_pack(tmp_path)
    pack = load_pack(".", SuiteFolder(tmp_path / "suite.yaml"))
    with pytest.raises(InputError, match=r"pack\.yaml.*asked for 4 items.*has 3"):
        select_items(pack, 4, seed=0)


# ---- errors ------------------------------------------------------------------------------------


def test_unknown_builtin_lists_the_available_packs(tmp_path: Path) -> None:
    with pytest.raises(InputError) as err:
        load_pack("mmlu-geograpy", SuiteFolder(tmp_path / "suite.yaml"))
    assert "mmlu-geograpy" in str(err.value)
    for name in BUILTIN_SIZES:
        assert name in str(err.value)


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nope/pack\.yaml"):
        load_pack("nope/pack.yaml", SuiteFolder(tmp_path / "suite.yaml"))


def test_folder_without_manifest(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"empty.*no pack\.yaml"):
        load_pack("empty", SuiteFolder(tmp_path / "suite.yaml"))


@pytest.mark.parametrize(
    ("manifest", "where"),
    [
        (MANIFEST.replace("kind: multiple_choice\n", ""), r"\[kind\].*missing manifest key"),
        (
            MANIFEST.replace("licence: CC0\n", "").replace("source: written for the tests\n", ""),
            r"\[source\].*source, licence",
        ),
        (MANIFEST.replace("multiple_choice", "free_text"), r"\[kind\].*unknown kind 'free_text'"),
        (MANIFEST.replace("max_tokens: 8", "max_tokens: 0"), r"\[max_tokens\]"),
        (MANIFEST.replace("max_tokens: 8", "max_tokens: lots"), r"\[max_tokens\]"),
        (MANIFEST + "shots: 5\n", r"\[shots\].*unknown manifest key"),
        (MANIFEST.replace("{{ input }}", "{{ question }}"), r"\[prompt\].*question"),
        (MANIFEST.replace("{{ input }}", "{{ input"), r"\[prompt\]"),
        (MANIFEST.replace("{{ input }}", "the question"), r"\[prompt\].*never uses"),
        (MANIFEST.replace("name: my-pack", "name: ''"), r"\[name\]"),
        (MANIFEST.replace("name: my-pack", "name: my pack!"), r"\[name\]: 'my pack!': use letters"),
        (MANIFEST.replace("name: my-pack", "name: training_sample"), r"\[name\].*is reserved"),
        ("- just\n- a list\n", r"must be a mapping"),
        ("name: [unclosed\n", r":\d+: not valid YAML"),
    ],
)
def test_bad_manifest(tmp_path: Path, manifest: str, where: str) -> None:
    write_pack(tmp_path, manifest)
    with pytest.raises(InputError, match=r"pack\.yaml.*" + where) as err:
        load_pack(".", SuiteFolder(tmp_path / "suite.yaml"))
    assert err.value.path == str(tmp_path / "pack.yaml")


def test_items_file_missing(tmp_path: Path) -> None:
    write_pack(tmp_path, MANIFEST.replace("items: items.jsonl", "items: gone.jsonl"))
    with pytest.raises(InputError, match=r"pack\.yaml \[items\]: not found: .*gone\.jsonl"):
        load_pack(".", SuiteFolder(tmp_path / "suite.yaml"))


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([json.dumps(ROWS[0]), "{not json"], r"items\.jsonl:2: row is not valid JSON"),
        ([json.dumps(ROWS[0]), "", "[1, 2]"], r"items\.jsonl:3: expected a JSON object per line"),
        ([json.dumps({"id": "q1", "input": "x"})], r"items\.jsonl:1 \[target\]: missing"),
        ([json.dumps({"id": "", "input": "x", "target": "A"})], r"items\.jsonl:1 \[id\]"),
        (
            [json.dumps(ROWS[0]), json.dumps(ROWS[1]), json.dumps(ROWS[0])],
            r"items\.jsonl:3 \[id\]: duplicate id 'q1' \(first on line 1\)",
        ),
        ([json.dumps({**ROWS[0], "target": "E"})], r"items\.jsonl:1 \[target\]: target 'E'"),
        ([], r"items\.jsonl \[items\]: the pack has no items"),
        (["", "  "], r"items\.jsonl \[items\]: the pack has no items"),
    ],
)
def test_bad_items(tmp_path: Path, rows: list[str], expected: str) -> None:
    write_pack(tmp_path, rows=rows)
    with pytest.raises(InputError, match=expected):
        load_pack(".", SuiteFolder(tmp_path / "suite.yaml"))


def test_numeric_target_must_be_a_number(tmp_path: Path) -> None:
    rows = [json.dumps({"id": "x", "input": "2+2?", "target": "four"})]
    write_pack(tmp_path, MANIFEST.replace("multiple_choice", "numeric"), rows)
    with pytest.raises(
        InputError, match=r"items\.jsonl:1 \[target\]: target 'four' is not a number"
    ):
        load_pack(".", SuiteFolder(tmp_path / "suite.yaml"))
