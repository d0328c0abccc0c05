"""Bad input: every user mistake gets exit code 2 and one line naming the file and the place."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from evalkit.cli import main
from tests.conftest import REPO, SUITE


def validate(suite: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["validate", str(suite)])
    captured = capsys.readouterr()
    return code, captured.err + captured.out


def test_valid_suite_passes(make_suite, capsys) -> None:
    code, out = validate(make_suite(), capsys)
    assert code == 0
    assert "ok" in out and "6 requests per arm" in out


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        # misspelt key: named with its path and the line it is on
        (
            lambda s: s.replace('prompt: {text: "Q:', 'promt: {text: "Q:'),
            ["suite.yaml:", "arms.candidate", "unknown key"],
        ),
        (lambda s: s.replace("  baseline:\n", "  basline:\n", 1), ["suite.yaml", "arms"]),
        (
            lambda s: s.replace("heldout: {path: items.jsonl", "ood: {path: items.jsonl"),
            ["suite.yaml", "heldout"],
        ),
        (lambda s: s.replace("type: classification", "type: ranking"), ["task.type", "ranking"]),
        (
            lambda s: s.replace("format: json, field: intent", "format: json"),
            ["task.output", "field"],
        ),
        (
            lambda s: s.replace("items.jsonl", "missing.jsonl"),
            ["suite.yaml", "datasets.heldout.path", "missing.jsonl"],
        ),
        (
            lambda s: s.replace('{{ input }}"}\n  candidate', '{{ input }"}\n  candidate'),
            ["template error"],
        ),
        (
            lambda s: s.replace("Q: {{ input }}", "Q: {{ inptu }}"),
            ["arms.candidate.prompt", "inptu"],
        ),
        (
            lambda s: s.replace("run: {max_retries: 0}", "run: {max_retries: -1}"),
            ["run.max_retries", "-1"],
        ),
        (
            lambda s: (
                s + "gates:\n  - heldout.macro_f1: {candidate: '>= 0.9', baseline: '>= 0.1'}\n"
            ),
            ["gates", "exactly one"],
        ),
        (lambda s: s.replace("name: tiny", "name: tiny suite"), ["name", "letters"]),
        *(
            (
                lambda s, key=key, v=v: s.replace(
                    '    prompt: {text: "Q: {{ input }}"}',
                    f'    prompt: {{text: "Q: {{{{ input }}}}"}}\n    generate: {{{key}: {v}}}',
                ),
                ["arms.candidate.generate." + key, "finite"],
            )
            for key, v in [("top_p", ".inf"), ("top_p", ".nan"), ("temperature", "-.inf")]
        ),
        (
            # a dataset named like a probe pack would merge with it in the results
            lambda s: (
                s.replace(
                    "heldout: {path: items.jsonl, id: id}",
                    "heldout: {path: items.jsonl, id: id}\n  gsm8k: {path: items.jsonl, id: id}",
                )
                + "probes: [{pack: gsm8k, n: 2}]\n"
            ),
            [
                "[datasets.gsm8k]",
                "also the name of the probe pack at probes.0",
                "rename the dataset",
            ],
        ),
    ],
)
def test_suite_mistakes_are_located(make_suite, capsys, edit, expected) -> None:
    code, out = validate(make_suite(edit(SUITE)), capsys)
    assert code == 2, out
    for fragment in expected:
        assert fragment in out, f"{fragment!r} not in {out!r}"
    assert "Traceback" not in out
    assert len(out.strip().splitlines()) == 1


def test_unknown_key_names_its_line(make_suite, capsys) -> None:
    text = SUITE.replace("run: {max_retries: 0}", "run: {max_retries: 0}\nretries: 3")
    suite = make_suite(text)
    code, out = validate(suite, capsys)
    line = suite.read_text().splitlines().index("retries: 3") + 1
    assert code == 2
    assert f"suite.yaml:{line} [retries]: unknown key" in out


def test_invalid_yaml(make_suite, capsys) -> None:
    code, out = validate(make_suite("name: [unclosed\n"), capsys)
    assert code == 2 and "not valid YAML" in out and "suite.yaml:" in out


def test_missing_suite_file(tmp_path, capsys) -> None:
    code, out = validate(tmp_path / "nope.yaml", capsys)
    assert code == 2 and "nope.yaml" in out and "not found" in out


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            '{"id": "a", "input": "x", "target": "card_arrival"}\n{not json}\n',
            ["items.jsonl:2", "not valid JSON"],
        ),
        (
            '{"id": "a", "input": "x", "target": "card_arrival"}\n{"id": "b", "input": "y"}\n',
            ["items.jsonl:2", "missing field 'target'"],
        ),
        (
            '{"id": "a", "input": "x", "target": "card_arrival"}\n{"id": "a", "input": "y", "target": "card_arrival"}\n',
            ["items.jsonl:2", "duplicate id 'a'"],
        ),
        (
            '{"id": "a", "input": "x", "target": "refund"}\n',
            ["items.jsonl", "'refund'", "not one of the task's 2 labels"],
        ),
        ('{"id": "a", "input": "", "target": "card_arrival"}\n', ["items.jsonl:1", "empty"]),
        ("\n\n", ["items.jsonl", "dataset is empty"]),
        ("[1, 2]\n", ["items.jsonl:1", "JSON object"]),
        *(
            (f'{{"id": {v}, "input": "x", "target": "card_arrival"}}\n', ["items.jsonl:1", v])
            for v in ("Infinity", "-Infinity", "NaN")
        ),
    ],
)
def test_data_mistakes_are_located(make_suite, capsys, data, expected) -> None:
    suite = make_suite()
    (suite.parent / "items.jsonl").write_text(data, encoding="utf-8")
    code, out = validate(suite, capsys)
    assert code == 2, out
    for fragment in expected:
        assert fragment in out, f"{fragment!r} not in {out!r}"


def test_csv_row_with_extra_cells(make_suite, capsys) -> None:
    suite = make_suite(SUITE.replace("items.jsonl, id: id", "items.csv"))
    (suite.parent / "items.csv").write_text(
        'input,target\nwhere is it,card_arrival\n"a",card_arrival,extra\n', encoding="utf-8"
    )
    code, out = validate(suite, capsys)
    assert code == 2 and "items.csv:3" in out and "3 cells" in out


def test_sample_larger_than_dataset(make_suite, capsys) -> None:
    code, out = validate(make_suite(SUITE.replace("id: id}", "id: id, sample: 50}")), capsys)
    assert code == 2 and "datasets.heldout.sample" in out and "50" in out


def test_chat_format_and_csv_are_read(make_suite, tmp_path, capsys) -> None:
    from evalkit.data.readers import read_items

    chat = tmp_path / "chat.jsonl"
    chat.write_text(
        '{"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "hi"},'
        ' {"role": "assistant", "content": "card_arrival"}]}\n',
        encoding="utf-8",
    )
    [item] = read_items(chat)
    assert (item.input, item.target, item.id) == ("hi", "card_arrival", "1")
    csv_file = tmp_path / "d.csv"
    csv_file.write_text("text,category\nhello,exchange_rate\n", encoding="utf-8")
    [row] = read_items(csv_file, input_field="text", target_field="category")
    assert (row.input, row.target) == ("hello", "exchange_rate")


def test_seeded_sample_is_stable(make_suite) -> None:
    from evalkit.suite.load import load_suite

    suite = make_suite(SUITE.replace("id: id}", "id: id, sample: 3, seed: 7}"))
    first = [it.id for it in load_suite(suite).datasets["heldout"]]
    again = [it.id for it in load_suite(suite).datasets["heldout"]]
    assert first == again and len(first) == 3
    assert first == sorted(first, key=lambda i: int(i[1:]))  # file order kept


@pytest.mark.parametrize("suite", sorted((REPO / "suites").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_suites_validate(suite: Path, capsys) -> None:
    """Every example suite in the repo stays valid as the schema evolves (no model is called)."""
    code, out = validate(suite, capsys)
    assert code == 0, out


def test_a_template_failing_on_one_item_names_the_item(make_suite, capsys) -> None:
    """The trial render passes; rendering every item when the suite is planned does not."""
    text = SUITE.replace(
        "Q: {{ input }}", "{% if 'lost' in input %}{{ 1/0 }}{% endif %}{{ input }}"
    )
    code, out = validate(make_suite(text), capsys)
    assert code == 2 and len(out.strip().splitlines()) == 1
    assert "arms.candidate.prompt" in out and "item 'q5' of heldout" in out
    assert "ZeroDivisionError" in out


def test_non_utf8_dataset_suggests_the_encoding_key(make_suite, capsys) -> None:
    suite = make_suite()
    (suite.parent / "items.jsonl").write_bytes(
        b'{"id": "a", "input": "caf\xe9", "target": "card_arrival"}\n'
    )
    code, out = validate(suite, capsys)
    assert code == 2 and "items.jsonl" in out and "not UTF-8 text" in out and "encoding:" in out
    text = SUITE.replace("items.jsonl, id: id}", "items.jsonl, id: id, encoding: latin-1}")
    (suite.parent / "suite.yaml").write_text(text, encoding="utf-8")
    code, out = validate(suite, capsys)
    assert code == 0, out


def test_a_symlink_inside_the_folder_to_a_file_outside_is_refused(
    make_suite, tmp_path, capsys
) -> None:
    suite = make_suite()
    outside = tmp_path.parent / f"{tmp_path.name}-outside.jsonl"
    outside.write_text((suite.parent / "items.jsonl").read_text(), encoding="utf-8")
    (suite.parent / "linked.jsonl").symlink_to(outside)
    linked = SUITE.replace("items.jsonl", "linked.jsonl")
    code, out = validate(make_suite(linked), capsys)
    assert code == 2 and "outside the suite's folder" in out and "allow_outside_paths" in out
    code, out = validate(make_suite("allow_outside_paths: true\n" + linked), capsys)
    assert code == 0, out


def test_the_providers_read_from_inspects_source_are_its_registered_providers() -> None:
    """`validate` reads inspect-ai's provider names without importing it; they must be exact."""
    import inspect_ai.model  # noqa: F401  (registers the providers)
    from inspect_ai._util.registry import registry_find, registry_unqualified_name

    from evalkit.suite.load import _inspect_builtin_providers

    registered = {
        registry_unqualified_name(info)
        for info in registry_find(lambda info: info.type == "modelapi")
    }
    read = _inspect_builtin_providers()
    assert len(read) > 20 and {"openai", "openai-api", "anthropic", "vllm"} <= read
    assert read <= registered


BOMB = "".join(
    f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" if i else 'l0: &l0 ["lol"]\n'
    for i in range(10)
)


@pytest.mark.parametrize("where", ["top", "model_args"])
def test_a_yaml_bomb_is_refused_quickly(make_suite, capsys, where) -> None:
    if where == "top":
        text = BOMB + SUITE
    else:  # the same anchors, nested inside one model's model_args
        nested = "".join("      " + line + "\n" for line in BOMB.splitlines())
        text = SUITE.replace("    model_args:\n", "    model_args:\n" + nested, 1)
    assert len(text.encode()) < 2000 and "*l8" in text
    assert validate(make_suite(), capsys)[0] == 0  # imports warm, so the timing is the parse
    start = time.perf_counter()
    code, out = validate(make_suite(text), capsys)
    assert time.perf_counter() - start < 0.5
    assert code == 2
    assert "suite.yaml:" in out and "aliases expand to" in out
    assert "Traceback" not in out


def test_a_file_that_is_not_a_suite_is_not_echoed(tmp_path: Path, capsys) -> None:
    other = tmp_path / "shadow"
    other.write_text("root:s3cretHashValue:20228:0:99999:7:::\nbin:*:20228:0:99999:7:::\n")
    code, out = validate(other, capsys)
    assert code == 2
    assert f"{other}: not a suite file" in out
    assert "s3cret" not in out and "20228" not in out


def test_many_inline_labels_validate_and_a_repeat_is_found(make_suite, capsys) -> None:
    labels = [f"intent_{i}" for i in range(100_000)]
    text = SUITE.replace(
        "labels: [card_arrival, exchange_rate]",
        f"labels: {[*labels, 'card_arrival', 'exchange_rate']}",
    ).replace("{{ labels | join(', ') }}", "many")  # a 1 MB prompt is refused, rightly
    assert validate(make_suite(text), capsys)[0] == 0
    code, out = validate(make_suite(text.replace("'intent_99999'", "'intent_5'")), capsys)
    assert code == 2 and "label 'intent_5' is listed twice" in out, out
