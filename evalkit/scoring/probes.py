"""Probe packs: named, versioned general-capability items both arms answer with one neutral prompt.

A pack is a folder holding `pack.yaml` (the manifest) and `items.jsonl`, or a single manifest
file whose `items` path is relative to it. See docs/probe-packs.md for the format.

Answers are scored by the pack's kind (`PROBE_KINDS`): a letter (multiple_choice) or a number
(numeric) is extracted and compared with the target; an answer that yields nothing is a
parse failure, scored wrong and reported separately. A new kind is one `ProbeKind` object
registered there.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from pathlib import Path

from evalkit.data.items import Item
from evalkit.data.readers import jsonl_rows
from evalkit.errors import InputError
from evalkit.inputfiles import SuiteFolder, load_yaml, read_text
from evalkit.names import NAME, RESERVED_NAMES
from evalkit.prompts import TemplateRenderError, check_template, render_text
from evalkit.registry import Registry

LETTERS = ("A", "B", "C", "D")
MANIFEST = "pack.yaml"
_REQUIRED = ("name", "version", "kind", "prompt", "max_tokens", "items", "source", "licence")
_OPTIONAL = ("description",)
_PACKS_DIR = Path(__file__).resolve().parent.parent / "probes" / "packs"


@dataclass(frozen=True)
class ProbePack:
    name: str
    version: str
    kind: str
    prompt: str  # jinja2 template text; sees `input`
    max_tokens: int
    items: tuple[Item, ...]
    source: str
    path: str  # the manifest file, for messages and the report


def builtin_packs() -> list[str]:
    """Names of the packs shipped with evalkit, sorted.

    >>> builtin_packs()
    ['gsm8k', 'mmlu-elementary-math', 'mmlu-geography', 'mmlu-global-facts']
    """
    return sorted(p.name for p in _PACKS_DIR.iterdir() if (p / MANIFEST).is_file())


def load_pack(ref: str, folder: SuiteFolder, where: str = "probes.pack") -> ProbePack:
    """A probe pack, read and checked; every problem is an InputError naming file and key.

    Args:
        ref: a built-in pack's name, or a pack folder / manifest file in the suite's folder.
        folder: the suite's folder (a user's pack must stay inside it).
        where: the suite key that names the pack, for messages.

    Returns:
        The pack: manifest fields and every item, targets checked against its kind.

    >>> pack = load_pack("mmlu-global-facts", SuiteFolder(Path("suite.yaml")))
    >>> pack.kind, len(pack.items), pack.items[0].target in "ABCD"
    ('multiple_choice', 100, True)
    """
    available = builtin_packs()
    if ref in available:
        return _load_manifest(_PACKS_DIR / ref / MANIFEST, None)
    looks_like_name = "/" not in ref and "\\" not in ref and not Path(ref).suffix
    if looks_like_name and not (folder.root / ref).exists():
        raise InputError(
            f"unknown built-in probe pack {ref!r}; available: {', '.join(available)}",
            path=folder.suite_path,
            where=where,
        )
    path = folder.resolve(ref, where, expect="any")
    if path.is_dir():
        manifest = path / MANIFEST
        if not manifest.exists() and not manifest.is_symlink():
            raise InputError(f"pack folder has no {MANIFEST}", path=path)
        return _load_manifest(manifest, folder)
    return _load_manifest(path, folder)


def _load_manifest(path: Path, folder: SuiteFolder | None) -> ProbePack:
    """Read a manifest; `folder` is the suite whose folder a user's pack must stay in."""
    manifest = load_yaml(read_text(path, "pack manifest"), path)
    if not isinstance(manifest, dict):
        raise InputError("a pack manifest must be a mapping of keys", path=path)
    missing = [k for k in _REQUIRED if k not in manifest]
    if missing:
        raise InputError(
            f"missing manifest key(s): {', '.join(missing)}", path=path, where=missing[0]
        )
    unknown = sorted(str(k) for k in manifest if k not in _REQUIRED + _OPTIONAL)
    if unknown:
        raise InputError(
            f"unknown manifest key(s): {', '.join(unknown)}; expected {', '.join(_REQUIRED)}"
            f" (and optionally {', '.join(_OPTIONAL)})",
            path=path,
            where=unknown[0],
        )
    for key in ("name", "prompt", "items", "source", "licence"):
        if not isinstance(manifest[key], str) or not manifest[key].strip():
            raise InputError("must be a non-empty string", path=path, where=key)
    # the name is part of metric and gate paths (probes.<name>.accuracy), like a dataset's
    if not NAME.match(manifest["name"]):
        raise InputError(
            f"{manifest['name']!r}: use letters, digits, '-' and '_' (it names gate paths: "
            "probes.<name>.accuracy)",
            path=path,
            where="name",
        )
    if manifest["name"] in RESERVED_NAMES:
        raise InputError(
            f"{manifest['name']!r} is reserved; choose another", path=path, where="name"
        )
    version = manifest["version"]
    if isinstance(version, bool) or not isinstance(version, str | int | float):
        raise InputError("must be a string or a number", path=path, where="version")
    kind = manifest["kind"]
    if kind not in PROBE_KINDS:
        raise InputError(
            f"unknown kind {kind!r}; expected one of {', '.join(PROBE_KINDS.names())}",
            path=path,
            where="kind",
        )
    max_tokens = manifest["max_tokens"]
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise InputError("must be a positive integer", path=path, where="max_tokens")
    _check_prompt(manifest["prompt"], path)
    items_path = path.parent / manifest["items"]
    if folder is not None:
        items_path = folder.resolve(manifest["items"], "items", base=path.parent, named_in=path)
    items = _read_items(items_path, kind)
    return ProbePack(
        name=manifest["name"],
        version=str(version),
        kind=kind,
        prompt=manifest["prompt"],
        max_tokens=max_tokens,
        items=items,
        source=manifest["source"],
        path=str(path),
    )


def _check_prompt(prompt: str, path: Path) -> None:
    """Fail at load time, not mid-run: bad syntax, unknown names, or a prompt without the item."""
    error = check_template(prompt, ("input",))
    if error:
        raise InputError(f"prompt template: {error}", path=path, where="prompt")
    try:
        first, second = render_text(prompt, input="\x00one"), render_text(prompt, input="\x00two")
    except TemplateRenderError as e:
        raise InputError(
            f"prompt template: {e} (a probe prompt sees only `input`)", path=path, where="prompt"
        ) from None
    if first == second:
        raise InputError("prompt never uses {{ input }}", path=path, where="prompt")


def _read_items(path: Path, kind: str) -> tuple[Item, ...]:
    items: list[Item] = []
    first_seen: dict[str, int] = {}
    for number, row in jsonl_rows(path, what="pack items file"):
        for key in ("id", "input", "target"):
            value = row.get(key)
            # Ids and numeric targets are often written as JSON numbers; accept them as text.
            if (
                isinstance(value, bool)
                or not isinstance(value, str | int | float)
                or str(value) == ""
            ):
                raise InputError(
                    "missing or empty (a non-empty string)", path=path, line=number, where=key
                )
        item = Item(id=str(row["id"]), input=str(row["input"]), target=str(row["target"]).strip())
        if item.id in first_seen:
            raise InputError(
                f"duplicate id {item.id!r} (first on line {first_seen[item.id]})",
                path=path,
                line=number,
                where="id",
            )
        if problem := PROBE_KINDS.lookup(kind).target_problem(item.target):
            raise InputError(problem, path=path, line=number, where="target")
        first_seen[item.id] = number
        items.append(item)
    if not items:
        raise InputError("the pack has no items", path=path, where="items")
    return tuple(items)


def select_items(pack: ProbePack, n: int | None, seed: int) -> tuple[Item, ...]:
    """`n` items drawn with `seed` (all when n is None), in the pack's own order.

    >>> pack = load_pack("gsm8k", Path("."))
    >>> chosen = select_items(pack, 3, seed=0)
    >>> chosen == select_items(pack, 3, seed=0), len(chosen)
    (True, 3)
    """
    if n is None:
        return pack.items
    if n < 1 or n > len(pack.items):
        raise InputError(
            f"asked for {n} items but pack {pack.name!r} has {len(pack.items)}",
            path=pack.path,
            where="probes.n",
        )
    chosen = sorted(random.Random(seed).sample(range(len(pack.items)), n))
    return tuple(pack.items[i] for i in chosen)


def render_probe_prompt(pack: ProbePack, item: Item) -> str:
    """The user message for one probe item; both arms get exactly this text.

    >>> pack = load_pack("gsm8k", Path("."))
    >>> pack.items[0].input in render_probe_prompt(pack, pack.items[0])
    True
    """
    return render_text(pack.prompt, input=item.input)


# ---- answer extraction -------------------------------------------------------------------

_OPTION_LINE = re.compile(r"^\s*\(?([A-D])[.)]\s*(.+?)\s*$")
_MARKDOWN = re.compile(r"\*\*|__|`|\\\(|\\\)")
# Two different letters offered as alternatives: "A or B", "(A)/(C)", "B and D", "A, B".
# Capital letters only: lowercase "a" is usually the article ("B, a transport network").
_HEDGE = re.compile(r"(?<![\w'])\(?([A-D])\)?\.?\s*(?i:or|and|/|,|&)\s*\(?([A-D])\)?(?![\w'])")
_BARE = re.compile(r"^[(\[]?([A-Da-d])[)\].:]?$")
# "The answer is B", "Answer: (C)", "correct option is d)". A lowercase letter counts only
# when punctuation or the end follows it, so "the answer is a bit unclear" names nothing.
_STATED = re.compile(
    r"\b(?i:answer|option|choice)\s*(?i:is|:|=|-)?\s*(?i:option\s+|choice\s+)?[(\[]?"
    r"(?:([A-D])(?![\w'])|([a-d])(?=[)\].:,]|\s*$))"
)
_LEADING = re.compile(r"^[(\[]?(?:([A-D])(?:[)\].:,]|\s|$)|([a-d])[)\].:])")
_DELIMITED = re.compile(r"(?<![\w'])\(?([A-D])\)?(?![\w'])")
_ANSWER_PREFIX = re.compile(r"^\s*(?:the\s+)?(?:correct\s+|final\s+)?answer\s*(?:is|:)?\s*", re.I)
# "A" followed by a lowercase word is the article ("A country that..."), not option A,
# unless the word is one a model uses about an option ("A is correct").
_ARTICLE_A = re.compile(r"A\s+(?!(?:is|or|and|seems|would|should|must|looks)\b)[a-z]")

_NUMBER = (
    r"(?<![\w.])(?P<sign>[-−])?\s?\$?\s?"
    r"(?P<num>\d{1,3}(?:,\d{3})+(?!\d)(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
    r"(?:\s*/\s*(?P<den>\d+)(?!\d|[./]\d))?"
)
_NUMBER_RE = re.compile(_NUMBER)
_STATED_NUMBER = re.compile(
    r"(?:answer\s*(?:is|:|=)\s*:?|####|\\boxed\{)\s*(?:about|approximately|=)?\s*" + _NUMBER, re.I
)


def parse_options(item_input: str) -> dict[str, str]:
    """The `A. ...` to `D. ...` option lines of a multiple-choice item's input, by letter.

    >>> parse_options("Capital of France?\\nA. Lyon\\n(B) Paris")
    {'A': 'Lyon', 'B': 'Paris'}
    """
    options: dict[str, str] = {}
    for line in item_input.splitlines():
        match = _OPTION_LINE.match(line)
        if match:
            options[match.group(1)] = match.group(2)
    return options


def _extract_letter(text: str, options: Mapping[str, str]) -> str | None:
    clean = _MARKDOWN.sub("", text).strip()
    if not clean:
        return None
    if any(a.upper() != b.upper() for a, b in _HEDGE.findall(clean)):
        return None
    bare = _BARE.match(clean)
    if bare:
        return bare.group(1).upper()
    stated = {(upper or lower).upper() for upper, lower in _STATED.findall(clean)}
    if stated:
        return stated.pop() if len(stated) == 1 else None
    leading = _LEADING.match(clean)
    if leading and not _ARTICLE_A.match(clean):
        return (leading.group(1) or leading.group(2)).upper()
    restated = _option_by_text(clean, options)
    if restated:
        return restated
    named = {
        m.group(1)
        for m in _DELIMITED.finditer(clean)
        if not (m.group(1) == "A" and _ARTICLE_A.match(clean, m.start()))
    }
    return named.pop() if len(named) == 1 else None


def _option_by_text(text: str, options: Mapping[str, str]) -> str | None:
    """The letter whose option text the reply restates exactly (case and punctuation aside)."""
    said = _squash(_ANSWER_PREFIX.sub("", text))
    if not said:
        return None
    hits = {letter for letter, option in options.items() if _squash(option) == said}
    return hits.pop() if len(hits) == 1 else None


def _squash(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s%$]", " ", text.lower()).split())


def _extract_number(text: str) -> str | None:
    clean = _MARKDOWN.sub("", text)
    stated = list(_STATED_NUMBER.finditer(clean))
    # The last stated answer wins: models restate or correct themselves before the end.
    match = stated[-1] if stated else None
    if match is None:
        numbers = list(_NUMBER_RE.finditer(clean))
        match = numbers[-1] if numbers else None
    if match is None:
        return None
    value = _to_fraction(match.group("num"), match.group("den"), negative=bool(match.group("sign")))
    return None if value is None else _format_number(value)


def _to_fraction(num: str, den: str | None = None, *, negative: bool = False) -> Fraction | None:
    try:
        value = Fraction(Decimal(num.replace(",", "").replace("−", "-").strip()))
        if den is not None:
            value /= int(den)
    except (InvalidOperation, ValueError, ZeroDivisionError):
        return None
    return -value if negative else value


def _format_number(value: Fraction) -> str:
    """Integers as integers ("5.0" → "5"), terminating decimals as decimals, else "p/q"."""
    if value.denominator == 1:
        return str(value.numerator)
    decimal = Decimal(value.numerator) / Decimal(value.denominator)
    if Fraction(decimal) == value:
        return format(decimal.normalize(), "f")
    return f"{value.numerator}/{value.denominator}"


def _parse_number(text: str) -> Fraction | None:
    num, _, den = text.strip().partition("/")
    return _to_fraction(num, den or None)


# ---- kinds ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProbeKind:
    """How the items of one kind of probe pack are checked and scored."""

    name: str
    chance: float  # the accuracy of guessing: what a baseline must beat for a probe to say much
    extract: Callable[[str, str], str | None]  # (reply, item input) → the answer, None if none
    same: Callable[[str, str], bool]  # (answer, target) → whether they match
    target_problem: Callable[[str], str | None]  # what is wrong with a pack's target, or None


PROBE_KINDS = Registry[ProbeKind]("probe kind")


def register_probe_kind(kind: ProbeKind) -> ProbeKind:
    """Make a kind available to pack manifests (`kind: <name>`); returns it.

    >>> sorted(PROBE_KINDS.names())
    ['multiple_choice', 'numeric']
    >>> PROBE_KINDS.lookup("multiple_choice").chance
    0.25
    """
    return PROBE_KINDS.register(kind.name, kind)


register_probe_kind(
    ProbeKind(
        name="multiple_choice",
        chance=1 / len(LETTERS),
        # an answer that restates an option's text is mapped back to its letter
        extract=lambda reply, item_input: _extract_letter(reply, parse_options(item_input)),
        same=lambda answer, target: answer.strip().upper() == target.strip().upper(),
        target_problem=lambda target: (
            None
            if target.upper() in LETTERS
            else f"target {target!r} is not one of {', '.join(LETTERS)}"
        ),
    )
)
register_probe_kind(
    ProbeKind(
        name="numeric",
        # practically never the right number by guessing
        chance=0.0,
        extract=lambda reply, item_input: _extract_number(reply),
        same=lambda answer, target: (
            (got := _parse_number(answer)) is not None and got == _parse_number(target)
        ),
        target_problem=lambda target: (
            None if _parse_number(target) is not None else f"target {target!r} is not a number"
        ),
    )
)


def extract_answer(kind: str, reply: str, item_input: str = "") -> str | None:
    """The answer a model's reply names under a probe kind; None when it names none.

    Args:
        kind: a registered probe kind (`PROBE_KINDS`).
        reply: the model's raw reply.
        item_input: the item's text; a multiple-choice reply that restates an option's text
            instead of its letter counts as that letter.

    Returns:
        A letter A-D (multiple_choice) or a normalised number (numeric), or None.

    >>> extract_answer("multiple_choice", "The answer is (b).")
    'B'
    >>> extract_answer("multiple_choice", "Paris", "Capital of France?\\nA. Lyon\\nB. Paris")
    'B'
    >>> extract_answer("numeric", "She has 3 + 4 = 7 apples.\\n#### 7.0")
    '7'
    >>> extract_answer("numeric", "I cannot tell.") is None
    True
    """
    return PROBE_KINDS.lookup(kind).extract(reply, item_input)


def is_correct(kind: str, extracted: str | None, target: str) -> bool:
    """Whether an extracted answer matches the target under a probe kind.

    Args:
        kind: a registered probe kind.
        extracted: the answer `extract_answer` found, or None (a parse failure).
        target: the item's target.

    Returns:
        True on a match; a parse failure is always wrong.

    >>> is_correct("numeric", "0.75", "3/4"), is_correct("multiple_choice", "b", "B")
    (True, True)
    >>> is_correct("numeric", None, "3")
    False
    """
    return extracted is not None and PROBE_KINDS.lookup(kind).same(extracted, target)
