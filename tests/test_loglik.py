"""lm-eval 0.4 conventions for log-likelihood multiple choice (pure functions)."""

import pytest

from evalkit.scoring.loglik import continuations, encode_pair, pick, split_pair


def words(text: str) -> list[int]:
    """A tokeniser whose tokens carry their leading space, like GPT-2's BPE."""
    pieces = [p for p in text.replace(" ", "\0 ").split("\0") if p]
    return [sum(ord(c) * 31**i for i, c in enumerate(p)) for p in pieces]


def test_trailing_space_of_context_moves_onto_continuation():
    assert split_pair("Answer: ", "A") == ("Answer:", " A")
    assert split_pair("Answer:\n\n", " B") == ("Answer:", "\n\n B")
    assert split_pair("Answer:", " A") == ("Answer:", " A")


def test_continuation_tokens_are_the_whole_encoding_past_the_context():
    ctx, cont = encode_pair(words, "The cat ", "sat down")
    assert ctx == words("The cat")
    assert ctx + cont == words("The cat sat down")
    assert len(cont) == 2


def test_merge_across_the_boundary_is_kept_in_the_whole_encoding():
    # A tokeniser that merges "ab" into one token: the context "a" alone is one token, and
    # the continuation is what the whole encoding holds past it (lm-eval's rule, not a
    # separate encoding of the continuation).
    def merging(text: str) -> list[int]:
        return [ord(c) for c in text.replace("ab", "\x01")]

    ctx, cont = encode_pair(merging, "xa", "b")
    assert ctx == [ord("x"), ord("a")]
    assert cont == []  # "xab" -> [x, \x01]: nothing past the context's two tokens


def test_continuations_prefix_the_delimiter():
    assert continuations(["A", "B"]) == [" A", " B"]
    assert continuations(["yes"], target_delimiter="") == ["yes"]


def test_pick_argmax_and_per_character_norm():
    assert pick([-3.0, -1.0, -2.0], ["a", "b", "c"]) == (1, 1)
    # The long choice loses on the sum but wins per character.
    assert pick([-2.0, -3.0], ["no", "a long answer"]) == (0, 1)
    # Ties go to the first maximum, as numpy.argmax.
    assert pick([-1.0, -1.0], ["x", "y"]) == (0, 0)


def test_pick_needs_one_loglik_per_choice():
    with pytest.raises(ValueError):
        pick([-1.0], ["a", "b"])
