"""The plan decides the cache key: anything that changes an arm's answers changes its requests' keys."""

from __future__ import annotations

from pathlib import Path

from evalkit.run.execute import plan_requests
from evalkit.run.plan import Shard, model_spec, plan_suite
from evalkit.suite.load import load_suite
from evalkit.suite.schema import Arm
from tests.conftest import SUITE


def _arm(**kw: object) -> Arm:
    return Arm.model_validate({"model": "local/m", "prompt": {"text": "{{ input }}"}, **kw})


def test_adapter_content_is_part_of_the_identity(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for folder, weights in ((a, b"one"), (b, b"two")):
        folder.mkdir()
        (folder / "adapter_model.safetensors").write_bytes(weights)
    base = model_spec(_arm(), None, "arms.baseline")
    with_a, with_b = (
        model_spec(_arm(), str(a), "arms.baseline"),
        model_spec(_arm(), str(b), "arms.baseline"),
    )
    assert len({base.identity, with_a.identity, with_b.identity}) == 3
    # retraining in place (same path, new weights) must not reuse the old answers either
    (a / "adapter_model.safetensors").write_bytes(b"retrained")
    assert model_spec(_arm(), str(a), "arms.baseline").identity != with_a.identity


def test_the_adapters_place_is_not_part_of_the_identity(tmp_path: Path) -> None:
    """The same weights in another folder (a clone, CI's checkout) keep their cached answers."""
    for name in ("here", "there"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "adapter_model.safetensors").write_bytes(b"weights")
    here = model_spec(_arm(), str(tmp_path / "here"), "arms.candidate")
    there = model_spec(_arm(), str(tmp_path / "there"), "arms.candidate")
    assert here.identity == there.identity
    assert dict(here.model_args)["adapter"] != dict(there.model_args)["adapter"]


def test_model_args_and_base_url_are_part_of_the_identity() -> None:
    plain = model_spec(_arm(), None, "arms.baseline").identity
    assert model_spec(_arm(model_args={"batch_size": 4}), None, "arms.baseline").identity != plain
    assert (
        model_spec(_arm(base_url="http://127.0.0.1:8000/v1"), None, "arms.baseline").identity
        != plain
    )


def _keys(plan) -> dict[tuple[str, str], str]:
    return {(r.task, r.item): r.key for r in plan_requests(plan)}


def test_request_keys_change_with_the_prompt_and_only_for_its_arm(make_suite) -> None:
    keys = _keys(plan_suite(load_suite(make_suite())))
    assert len(set(keys.values())) == len(keys)  # no two requests share an answer
    changed = _keys(
        plan_suite(load_suite(make_suite(SUITE.replace("Q: {{ input }}", "Query: {{ input }}"))))
    )
    for (task, item), key in keys.items():
        same = changed[(task, item)] == key
        assert same == task.startswith("baseline"), (task, item)


def test_shards_split_every_task_alike_and_cover_it_once(make_suite) -> None:
    loaded = load_suite(make_suite())
    whole = {t.name: [s.id for s in t.samples] for t in plan_suite(loaded).tasks}
    parts = [plan_suite(loaded, Shard(i, 4)) for i in range(1, 5)]
    for name, ids in whole.items():
        pieces = [s.id for p in parts for t in p.tasks if t.name == name for s in t.samples]
        assert sorted(pieces) == sorted(ids)
    for p in parts:  # both arms of a shard see the same items
        by_arm = {t.arm: [s.id for s in t.samples] for t in p.tasks if t.section == "task"}
        assert by_arm["baseline"] == by_arm["candidate"]


def test_probes_use_the_packs_neutral_prompt_for_both_arms(make_suite) -> None:
    text = SUITE + "probes: [{pack: mmlu-global-facts, n: 3}]\n"
    plan = plan_suite(load_suite(make_suite(text)))
    probe = {t.arm: t for t in plan.tasks if t.section == "probe"}
    assert probe["baseline"].samples == probe["candidate"].samples
    assert "Labels:" not in probe["baseline"].samples[0].messages[-1][1]
    assert len(probe["baseline"].samples) == 3
