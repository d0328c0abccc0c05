"""evalkit's log-likelihoods agree with lm-eval 0.4's `hf` backend, item by item.

The reference (tests/reference/lmeval/smollm2_loglik.jsonl) was produced by lm-eval 0.4.13
itself on the same model in float32 (run_lmeval.py there). Here evalkit renders the same pack
items with its own code, scores every choice with the `local/` provider the engine uses, and
picks answers with its own rule: per-choice log-likelihoods within 1e-3, the same argmax on
at least 99.5 % of items, identical accuracy and accuracy_norm.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from evalkit.inputfiles import SuiteFolder
from evalkit.scoring.loglik import continuations
from evalkit.scoring.probes import load_pack, render_probe_prompt, score_probe

pytestmark = pytest.mark.slow

REFERENCE = Path(__file__).parent / "reference" / "lmeval" / "smollm2_loglik.jsonl"
TOLERANCE = 1e-3


def _reference() -> list[dict]:
    return [json.loads(line) for line in REFERENCE.read_text(encoding="utf-8").splitlines()]


def _score_all(rows: list[dict]) -> dict[tuple[str, str], tuple]:
    """(pack, id) → (context, continuations, logliks, score) as evalkit computes them."""
    from inspect_ai.model import get_model

    import evalkit.models.registry  # noqa: F401  (registers local/)

    api = get_model("local/smollm2-135m-instruct", memoize=False, batch_size=8).api
    folder = SuiteFolder(Path("suite.yaml"))
    packs = {name: load_pack(name, folder) for name in {r["pack"] for r in rows}}
    jobs = []
    for row in rows:
        pack = packs[row["pack"]]
        item = next(it for it in pack.items if it.id == row["id"])
        context = render_probe_prompt(pack, item, "loglik")
        conts = tuple(continuations(pack.item_choices(item), pack.loglik.target_delimiter))
        jobs.append((pack, item, context, conts))

    async def run() -> list:
        return await asyncio.gather(*(api.loglik(ctx, conts) for _, _, ctx, conts in jobs))

    out = {}
    for (pack, item, context, conts), done in zip(jobs, asyncio.run(run()), strict=True):
        score = score_probe(pack, "loglik", item, "", done.logliks)
        out[(pack.name, item.id)] = (context, conts, done.logliks, score)
    return out


@pytest.fixture(scope="module")
def scored() -> tuple[list[dict], dict]:
    rows = _reference()
    return rows, _score_all(rows)


def test_the_same_text_is_scored(scored) -> None:
    rows, ours = scored
    for row in rows:
        context, conts, _, _ = ours[(row["pack"], row["id"])]
        assert (context, list(conts)) == (row["context"], row["continuations"]), row["id"]


def test_every_choice_loglik_is_within_tolerance_of_lm_eval(scored) -> None:
    rows, ours = scored
    worst = max(
        abs(a - b)
        for row in rows
        for a, b in zip(ours[(row["pack"], row["id"])][2], row["logliks"], strict=True)
    )
    assert worst < TOLERANCE, f"largest difference {worst:.2e}"


def test_answers_and_accuracy_are_lm_eval_s(scored) -> None:
    rows, ours = scored
    same = sum(
        ours[(r["pack"], r["id"])][3].choice
        == max(range(len(r["logliks"])), key=lambda i: (r["logliks"][i], -i))
        for r in rows
    )
    assert same / len(rows) >= 0.995
    for pack in {r["pack"] for r in rows}:
        mine = [ours[(r["pack"], r["id"])][3] for r in rows if r["pack"] == pack]
        theirs = [r for r in rows if r["pack"] == pack]
        assert sum(s.correct for s in mine) == sum(r["acc"] for r in theirs)
        assert sum(s.scores["accuracy_norm"] for s in mine) == sum(r["acc_norm"] for r in theirs)
