"""`evalkit review`: the seeded blind sample, the command's refusals, and the Label Studio
round trip (tasks and config out, the documented JSON annotation export back in as ratings).

The page itself is driven in a real browser in tests/test_review_browser.py."""

from __future__ import annotations

import json
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
import pytest

from evalkit.cli import main
from evalkit.data.labelstudio import is_labelstudio_export, read_labelstudio_export
from evalkit.data.ratings import RATINGS_FILE, PairwiseRating, ratings_jsonl, read_ratings
from evalkit.errors import InputError
from evalkit.pipeline import RunOutcome
from evalkit.report.labelstudio import labelstudio_config
from evalkit.report.review import (
    Review,
    ReviewCriterion,
    ReviewItem,
    build_review,
    render_review_page,
    review_criteria,
    review_items,
)
from evalkit.results import StoredRun, load_run
from tests.review_run import CRITERIA, HOSTILE_ANSWER, make_review_run


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> RunOutcome:
    return make_review_run(tmp_path_factory.mktemp("review"))


def _outputs(run: RunOutcome) -> dict[tuple[str, str], str]:
    t = run.table
    return {(r["arm"], r["id"]): r["output"] for _, r in t[t["error"].isna()].iterrows()}


def test_sample_is_seeded_blind_and_skips_failed_items(run: RunOutcome) -> None:
    samples = load_run(run.run_dir).samples
    items, eligible = review_items(samples, ["heldout"], 50, seed=1)
    assert eligible == 7 and len(items) == 7  # q3 failed for the baseline: not rated
    assert "q3" not in {i.item_id for i in items}
    outputs = _outputs(run)
    for item in items:
        assert set(item.order) == {"baseline", "candidate"}
        # answer A is the answer of the arm the order names first
        assert item.outputs == (outputs[(item.order[0], item.item_id)],
                                outputs[(item.order[1], item.item_id)])  # fmt: skip
        assert item.reference == f"reference {item.item_id}"
    # both orders occur: the page does not always show the same arm first
    assert len({i.order for i in items}) == 2
    again, _ = review_items(samples, ["heldout"], 50, seed=1)
    assert again == items
    small, _ = review_items(samples, ["heldout"], 3, seed=1)
    assert small == items[:3]  # a larger sample extends a smaller one
    other, _ = review_items(samples, ["heldout"], 50, seed=2)
    assert [(i.item_id, i.order) for i in other] != [(i.item_id, i.order) for i in items]


def test_about_half_the_items_show_the_baseline_first() -> None:
    rows = [{"arm": arm, "dataset": "d", "section": "task", "id": f"i{k}", "input": "x",
             "target": None, "output": f"{arm} {k}", "error": None}
            for k in range(400) for arm in ("baseline", "candidate")]  # fmt: skip
    items, eligible = review_items(pd.DataFrame(rows), ["d"], 300, seed=0)
    assert eligible == 400 and len(items) == 300
    share = sum(i.order[0] == "baseline" for i in items) / len(items)
    assert 0.42 < share < 0.58  # a fair coin per item: 300 flips land here with p > 0.99
    assert all(i.reference == "" for i in items)


def test_training_items_are_rated_only_when_named(run: RunOutcome) -> None:
    stored = load_run(run.run_dir)
    train = stored.samples.assign(dataset="training_sample")
    datasets = stored.results.datasets | {
        "training_sample": stored.results.datasets["heldout"].model_copy(
            update={"kind": "training"}
        )
    }
    both = StoredRun(
        stored.path,
        stored.results.model_copy(update={"datasets": datasets}),
        pd.concat([stored.samples, train], ignore_index=True),
    )
    assert {i.dataset for i in build_review(both, None, 50, 0).items} == {"heldout"}
    named = build_review(both, ["training_sample"], 50, 0).items
    assert {i.dataset for i in named} == {"training_sample"} and len(named) == 7


def test_criteria_come_from_the_run_rubric(run: RunOutcome) -> None:
    review = build_review(load_run(run.run_dir), None, 4, 0)
    criteria = review.criteria["heldout"]
    assert [c.name for c in criteria] == CRITERIA
    assert all((c.min, c.max) == (1, 5) for c in criteria)
    assert criteria[2].description.startswith("Is the reply courteous")  # from the rubric file
    assert criteria[2].anchors[0][0] == 1
    # a second rubric with the same criteria on the dataset: its names are kept apart
    (rr,) = run.results.rubrics
    two = run.results.model_copy(update={"rubrics": [rr, rr.model_copy(update={"rubric": "x"})]})
    names = [c.name for c in review_criteria(two, ["heldout"])["heldout"]]
    assert names == CRITERIA + [f"x.{c}" for c in CRITERIA]
    assert review_criteria(two, ["other"]) == {}


def test_page_inlines_hostile_answers_only_as_escaped_json(run: RunOutcome) -> None:
    page = render_review_page(build_review(load_run(run.run_dir), None, 50, 0), rater="Ann")
    # one script block of data, and no '<' of a model's text anywhere in the page
    assert page.count("</script>") == 3  # the error hook, the data, the page's code
    assert "<img" not in page and "<b>bold</b>" not in page
    data = re.search(r'id="review-data">(.*?)</script>', page, re.S).group(1)
    blob = json.loads(data)
    assert HOSTILE_ANSWER in {o for item in blob["items"] for o in item["outputs"]}
    assert blob["rater"] == "Ann" and blob["run_id"] == run.results.run_id
    assert [c["name"] for c in blob["criteria"]["heldout"]] == CRITERIA
    assert blob["storage"] == f"evalkit-review/review-test/{run.results.run_id}"
    assert "http" not in page.replace("https://evil.example", "")  # nothing fetched


def test_cli_writes_the_page(run: RunOutcome, tmp_path: Path, capsys) -> None:
    code = main(["review", str(run.run_dir.parent), "--n", "4", "--out", str(tmp_path / "p")])
    assert code == 0
    assert "4 items (of 7 both arms answered)" in capsys.readouterr().out
    assert (tmp_path / "p" / "review.html").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dataset", "nope"], "no task dataset 'nope' in this run; its datasets: heldout"),
        (["--n", "0"], "expected a whole number ≥ 1"),
        (["--no-out"], "name the folder to write to with --out DIR"),
        (["extra.jsonl"], "rating files only go with `evalkit review import`"),
    ],
)
def test_cli_refuses_bad_arguments(
    run: RunOutcome, tmp_path: Path, capsys, args: list[str], message: str
) -> None:
    out = [] if args == ["--no-out"] else ["--out", str(tmp_path / "o")]
    argv = ["review", str(run.run_dir), *[a for a in args if a != "--no-out"], *out]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o" / "review.html").exists()


def test_cli_refuses_an_unfinished_run(run: RunOutcome, tmp_path: Path, capsys) -> None:
    copy = tmp_path / "run"
    shutil.copytree(run.run_dir, copy)
    manifest = json.loads((copy / "run.json").read_text())
    (copy / "run.json").write_text(json.dumps(manifest | {"state": "interrupted"}))
    assert main(["review", str(copy), "--out", str(tmp_path / "o")]) == 2
    assert "this run did not finish: it was interrupted" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_review_import_needs_a_run_and_a_file(run: RunOutcome, capsys) -> None:
    assert main(["review", "import", str(run.run_dir)]) == 2
    assert "usage: evalkit review import RUN_DIR RATINGS" in capsys.readouterr().err


def test_label_studio_config_for_other_scales_and_clashing_names() -> None:
    """A 0..3 scale needs Number (Rating starts at 1), a 1..7 scale a Rating of 7; a
    criterion name with a dot (two rubrics' clash) and XML-special text are kept intact."""
    crit = [
        ReviewCriterion(name="clarity", rubric="r1", description='say "<why>" & how', min=0,
                        max=3),
        ReviewCriterion(name="r2.clarity", rubric="r2", description="", min=1, max=7),
    ]  # fmt: skip
    item = ReviewItem("d", "i1", "in", "", ("baseline", "candidate"), ("x", "y"))
    review = Review("s", "r", [item], {"d": crit}, 1)
    config = ET.fromstring(labelstudio_config(review))
    assert {e.get("name"): (e.get("min"), e.get("max")) for e in config.iter("Number")} == {
        "score_A_clarity": ("0", "3"), "score_B_clarity": ("0", "3"),
    }  # fmt: skip
    assert {e.get("name"): e.get("maxRating") for e in config.iter("Rating")} == {
        "score_A_r2.clarity": "7", "score_B_r2.clarity": "7",
    }  # fmt: skip
    headers = [e.get("value") for e in config.iter("Header")]
    assert 'clarity: say "<why>" & how' in headers
    assert "reference" not in {e.get("name") for e in config.iter("Text")}  # none to show


# ---- Label Studio -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def project(run: RunOutcome, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("labelstudio")
    assert main(["review", str(run.run_dir), "--format", "labelstudio", "--out", str(out)]) == 0
    return out


def test_tasks_and_config_follow_label_studio_formats(project: Path, run: RunOutcome) -> None:
    tasks = json.loads((project / "tasks.json").read_text())
    assert isinstance(tasks, list) and len(tasks) == 7 and all(set(t) == {"data"} for t in tasks)
    config = ET.fromstring((project / "labeling_config.xml").read_text())
    assert config.tag == "View"
    # every $variable the config shows is a field of every task
    variables = {
        e.get("value")[1:] for e in config.iter() if (e.get("value") or "").startswith("$")
    }
    assert variables == {"prompt", "reference", "answer_a", "answer_b"}
    assert all(variables <= set(t["data"]) for t in tasks)
    (choices,) = config.iter("Choices")
    assert choices.get("name") == "preference" and choices.get("required") == "true"
    assert [c.get("value") for c in choices] == ["A", "B", "Tie"]
    ratings = {e.get("name"): e.get("maxRating") for e in config.iter("Rating")}
    assert ratings == {f"score_{s}_{c}": "5" for c in CRITERIA for s in "AB"}
    # shown blind: the arms' names appear only in the hidden order, never in what is shown
    outputs = _outputs(run)
    for t in tasks:
        d = t["data"]
        a, b = d["evalkit_order"]
        assert (d["answer_a"], d["answer_b"]) == (
            outputs[(a, d["evalkit_item_id"])], outputs[(b, d["evalkit_item_id"])],
        )  # fmt: skip
    assert "baseline" not in (project / "labeling_config.xml").read_text()


def _annotation(choice: str, scores: dict[str, int], user: object, **extra: object) -> dict:
    """One annotation as Label Studio's JSON export writes it (docs: export.md, 'Label Studio
    JSON format of annotated tasks'; choices and rating values per the tag docs)."""
    result = [{"id": "p1", "from_name": "preference", "to_name": "prompt", "type": "choices",
               "origin": "manual", "value": {"choices": [choice]}}]  # fmt: skip
    for name, score in scores.items():
        side = name[len("score_")]
        result.append({"id": f"r{name}", "from_name": name, "to_name": f"answer_{side.lower()}",
                       "type": "rating", "origin": "manual", "value": {"rating": score}})  # fmt: skip
    return {"id": 11, "result": result, "was_cancelled": False, "ground_truth": False,
            "created_at": "2026-12-07T10:00:00.000000Z",
            "updated_at": "2026-12-07T10:01:00.000000Z", "lead_time": 12.5,
            "completed_by": user, **extra}  # fmt: skip


def _export(project: Path, tmp_path: Path) -> tuple[Path, list[dict]]:
    tasks = json.loads((project / "tasks.json").read_text())
    exported = []
    for k, task in enumerate(tasks[:3]):
        anns = [_annotation(["A", "B", "Tie"][k], {"score_A_tone": 5, "score_B_tone": 2}, 1)]
        if k == 0:  # a second annotator, and a skipped annotation that rates nothing
            anns.append(_annotation("B", {}, {"id": 2, "email": "bo@example.com"}))
            anns.append(_annotation("A", {}, 3, was_cancelled=True))
        exported.append({"id": 100 + k, "data": task["data"], "annotations": anns,
                         "predictions": [], "project": 1,
                         "created_at": "2026-12-07T09:00:00Z"})  # fmt: skip
    path = tmp_path / "export.json"
    path.write_text(json.dumps(exported), encoding="utf-8")
    return path, exported


def test_label_studio_export_reads_back_as_ratings(project: Path, tmp_path: Path) -> None:
    path, exported = _export(project, tmp_path)
    assert is_labelstudio_export(path)
    ratings = read_labelstudio_export(path)
    assert len(ratings) == 4 and all(isinstance(r, PairwiseRating) for r in ratings)
    first = exported[0]["data"]
    r0, r_bo = ratings[0], ratings[1]
    assert (r0.rater, r0.item_id, r0.order) == (
        "labelstudio-user-1", first["evalkit_item_id"], tuple(first["evalkit_order"]),
    )  # fmt: skip
    assert r0.choice == "A" and r0.preferred() == first["evalkit_order"][0]
    assert r0.arm_scores(first["evalkit_order"][0]) == {"tone": 5}
    assert r0.arm_scores(first["evalkit_order"][1]) == {"tone": 2}
    assert (r0.seconds, r0.rated_at) == (12.5, "2026-12-07T10:01:00.000000Z")
    assert r0.run_id == first["evalkit_run_id"]
    assert r_bo.rater == "bo@example.com" and r_bo.preferred() == first["evalkit_order"][1]
    assert ratings[2].choice == "B" and ratings[3].choice == "tie"
    assert ratings[3].preferred() == "tie"
    # the rows are the page's export format: they read back as a ratings file
    jsonl = tmp_path / RATINGS_FILE
    jsonl.write_text(ratings_jsonl(ratings), encoding="utf-8")
    assert read_ratings(jsonl) == ratings
    assert not is_labelstudio_export(jsonl)


def test_label_studio_export_errors_are_located(project: Path, tmp_path: Path) -> None:
    path, exported = _export(project, tmp_path)
    exported[1]["annotations"][0]["result"][0]["from_name"] = "sentiment"
    path.write_text(json.dumps(exported))
    with pytest.raises(
        InputError, match=r"task 1 \(id 101\)\.annotations\.0\.result\.0.*'sentiment'"
    ):
        read_labelstudio_export(path)
    del exported[1]["data"]["evalkit_order"]
    path.write_text(json.dumps(exported))
    with pytest.raises(InputError, match=r"task 1 \(id 101\).*no evalkit_order"):
        read_labelstudio_export(path)
    exported[1]["data"]["evalkit_order"] = ["baseline", "baseline"]
    exported[1]["annotations"][0]["result"][0]["from_name"] = "preference"
    path.write_text(json.dumps(exported))
    with pytest.raises(InputError, match=r"task 1 \(id 101\)\.annotations\.0.*two different arms"):
        read_labelstudio_export(path)


def test_a_label_studio_export_imports_like_the_pages(
    run: RunOutcome, project: Path, tmp_path: Path
) -> None:
    path, _ = _export(project, tmp_path)
    rated = tmp_path / "run"
    shutil.copytree(run.run_dir, rated)
    assert main(["review", "import", str(rated), str(path)]) == 0
    people = json.loads((rated / "results.json").read_text(encoding="utf-8"))["people"]
    expected = read_labelstudio_export(path)
    assert people["ratings"] == len(expected) == 4
    assert people["raters"] == sorted({r.rater for r in expected})
    # the run's judge had no human labels; the people's tone scores now measure it, on too
    # few answers to call it calibrated
    saved = json.loads((rated / "results.json").read_text(encoding="utf-8"))
    assert (
        json.loads((run.run_dir / "results.json").read_text())["rubrics"][0]["calibration_status"]
        == "uncalibrated"
    )
    (rubric,) = saved["rubrics"]
    assert rubric["calibration_status"] == "failed"
    assert rubric["calibration_reason"].startswith("against imported ratings: measured on too few")
    assert any(j["question"] == "support_reply.tone" for j in people["judge"])
