"""The plan decides the cache scope: anything that changes an arm's answers changes its scope."""

from __future__ import annotations

from pathlib import Path

from evalkit.run.plan import model_spec, plan_suite
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
    base = model_spec(_arm(), None)
    with_a, with_b = model_spec(_arm(), str(a)), model_spec(_arm(), str(b))
    assert len({base.identity, with_a.identity, with_b.identity}) == 3
    # retraining in place (same path, new weights) must not reuse the old answers either
    (a / "adapter_model.safetensors").write_bytes(b"retrained")
    assert model_spec(_arm(), str(a)).identity != with_a.identity


def test_model_args_and_base_url_are_part_of_the_identity() -> None:
    plain = model_spec(_arm(), None).identity
    assert model_spec(_arm(model_args={"batch_size": 4}), None).identity != plain
    assert model_spec(_arm(base_url="http://127.0.0.1:8000/v1"), None).identity != plain


def test_plan_scopes_each_arm_by_model_and_prompt(make_suite) -> None:
    plan = plan_suite(load_suite(make_suite()))
    scopes = {t.arm: t.cache_scope for t in plan.tasks if t.section == "task"}
    assert scopes["baseline"] != scopes["candidate"]
    assert set(scopes["baseline"]) == {"evalkit_model", "evalkit_prompt"}
    changed = plan_suite(
        load_suite(make_suite(SUITE.replace("Q: {{ input }}", "Query: {{ input }}")))
    )
    new = {t.arm: t.cache_scope for t in changed.tasks if t.section == "task"}
    assert new["baseline"] == scopes["baseline"]
    assert new["candidate"]["evalkit_model"] == scopes["candidate"]["evalkit_model"]
    assert new["candidate"]["evalkit_prompt"] != scopes["candidate"]["evalkit_prompt"]


def test_probes_use_the_packs_neutral_prompt_for_both_arms(make_suite) -> None:
    text = SUITE + "probes: [{pack: mmlu-global-facts, n: 3}]\n"
    plan = plan_suite(load_suite(make_suite(text)))
    probe = {t.arm: t for t in plan.tasks if t.section == "probe"}
    assert probe["baseline"].samples == probe["candidate"].samples
    assert "Labels:" not in probe["baseline"].samples[0].messages[-1][1]
    assert len(probe["baseline"].samples) == 3
