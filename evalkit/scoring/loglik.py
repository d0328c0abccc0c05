"""Log-likelihood multiple choice, following lm-evaluation-harness 0.4 (`hf` backend) exactly.

A choice is scored as the summed log-probability of `target_delimiter + choice` given the
context. The continuation's tokens are found the way lm-eval's `HFLM._encode_pair` does:
trailing whitespace of the context moves onto the continuation, context + continuation is
encoded whole, and the continuation's tokens are the whole encoding past the context's own.
`accuracy` picks the highest summed log-likelihood; `accuracy_norm` divides each by the
choice's length in characters (lm-eval's `acc_norm`: `len(choice)`, delimiter excluded).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

Encode = Callable[[str], list[int]]


def split_pair(context: str, continuation: str) -> tuple[str, str]:
    """Move the context's trailing whitespace onto the continuation, as lm-eval does."""
    stripped = context.rstrip()
    return stripped, context[len(stripped) :] + continuation


def encode_pair(encode: Encode, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """The context's and the continuation's token ids, tokenised together as lm-eval does.

    >>> chars = lambda text: [ord(c) for c in text]
    >>> encode_pair(chars, "Q: ", "A")
    ([81, 58], [32, 65])
    """
    context, continuation = split_pair(context, continuation)
    whole = encode(context + continuation)
    context_ids = encode(context)
    return context_ids, whole[len(context_ids) :]


def continuations(choices: Sequence[str], target_delimiter: str = " ") -> list[str]:
    """The continuation text scored for each choice."""
    return [target_delimiter + choice for choice in choices]


def _argmax(values: Sequence[float]) -> int:
    # First maximum on ties, like numpy.argmax, which lm-eval uses.
    return max(range(len(values)), key=lambda i: (values[i], -i))


def pick(choice_logliks: Sequence[float], choices: Sequence[str]) -> tuple[int, int]:
    """(choice by summed log-likelihood, choice by log-likelihood per character of the choice).

    >>> pick([-4.0, -6.0], ["ab", "abcdef"])
    (0, 1)
    """
    if not choice_logliks or len(choice_logliks) != len(choices):
        raise ValueError("one log-likelihood per choice is needed")
    normed = [
        ll / len(choice) if choice else ll
        for ll, choice in zip(choice_logliks, choices, strict=True)
    ]
    return _argmax(choice_logliks), _argmax(normed)


# Providers whose models evalkit can ask for prompt log-probabilities (docs/probe-packs.md).
LOGLIK_PROVIDERS = frozenset({"local", "evalkit-test", "openai-api"})


def loglik_unsupported(model: str, base_url: str | None) -> str | None:
    """Why a model cannot score log-likelihood probes, or None when it can.

    >>> loglik_unsupported("local/smollm2-135m-instruct", None) is None
    True
    >>> loglik_unsupported("anthropic/claude-sonnet-4-5", None)
    'anthropic/ is a chat API that returns no prompt log-probabilities'
    """
    provider = model.partition("/")[0]
    if provider in LOGLIK_PROVIDERS or (provider == "openai" and base_url):
        return None
    if provider == "openai":
        return (
            "OpenAI's API returns no prompt log-probabilities (give base_url for a "
            "vLLM or other OpenAI-compatible completions server)"
        )
    return f"{provider}/ is a chat API that returns no prompt log-probabilities"
