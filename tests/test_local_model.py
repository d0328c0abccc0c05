"""The local transformers provider: batching, adapters, and the checked model fetch."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest

from evalkit.errors import InputError, RunFailed
from evalkit.models import fetch

ADAPTER = Path(__file__).resolve().parent.parent / "suites" / "banking77" / "adapter"
MODEL = "local/smollm2-135m-instruct"
# Different lengths, so a batch really is left-padded.
ITEMS = [
    "I lost my card",
    "How do I change my PIN?",
    "What exchange rate do you use when I pay in euros abroad, and is it updated daily?",
    "Close my account",
    "My card payment at the supermarket was declined twice this morning even though I have "
    "money in my account. Can you tell me what is going on and how to fix it quickly?",
    "Can I use Apple Pay?",
]


def test_sha256_mismatch_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"not a model")
    fetch.verify_sha256(fake, hashlib.sha256(b"not a model").hexdigest())
    with pytest.raises(RunFailed, match="sha256"):
        fetch.verify_sha256(fake, "0" * 64)


def test_unknown_model_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unknown local model"):
        fetch.ensure_model(str(tmp_path / "missing"))


pytest.importorskip("torch", reason="the 'local' extra is not installed")


@pytest.fixture(scope="module")
def models():
    """One base model batched, the same model one at a time, and the tuned one (loaded once)."""
    from inspect_ai.model import GenerateConfig, get_model

    import evalkit.models.registry  # noqa: F401

    config = GenerateConfig(max_tokens=16, temperature=0.0)
    return {
        "batched": get_model(MODEL, config=config, batch_size=8),
        "single": get_model(MODEL, config=config, batch_size=1),
        "tuned": get_model(MODEL, config=config, adapter=str(ADAPTER)),
    }


def _generate_all(model, texts: list[str], concurrent: bool) -> list:
    from inspect_ai.model import ChatMessageUser

    async def one(text: str):
        return await model.generate([ChatMessageUser(content=text)])

    async def run():
        if concurrent:
            return await asyncio.gather(*(one(t) for t in texts))
        return [await one(t) for t in texts]

    return asyncio.run(run())


@pytest.mark.slow
def test_batched_equals_one_at_a_time(models) -> None:
    batched = _generate_all(models["batched"], ITEMS, concurrent=True)
    single = _generate_all(models["single"], ITEMS, concurrent=False)
    assert [o.completion for o in batched] == [o.completion for o in single]
    assert [o.usage.input_tokens for o in batched] == [o.usage.input_tokens for o in single]
    assert [o.usage.output_tokens for o in batched] == [o.usage.output_tokens for o in single]
    lengths = [o.usage.input_tokens for o in batched]
    assert len(set(lengths)) > 1, "the items should need padding"
    assert all(o.time is not None and o.time > 0 for o in batched)


@pytest.mark.slow
def test_adapter_is_applied(models) -> None:
    text = (
        "Classify the intent of this banking customer query; answer in JSON.\nQuery: I lost my card"
    )
    base, tuned = (
        _generate_all(models[k], [text], concurrent=False)[0] for k in ("single", "tuned")
    )
    assert base.completion != tuned.completion
    assert tuned.completion.startswith('{"intent":')
