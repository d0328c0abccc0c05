"""Sensitive data in a training file: e-mail addresses, phone numbers, payment card numbers
(Luhn-checked), IBANs (mod-97-checked) and API keys or tokens (evalkit's credential shapes).

A value is never carried further than the detector that found it: every text that leaves
this module is masked (`mask_text`), and a hit records only the masked form.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel

from evalkit.audit.rows import AuditRow
from evalkit.credentials import credential_matches

SensitiveKind = Literal["credential", "email", "iban", "card", "phone"]

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
# 13-19 digits with optional single spaces or dashes between them; the Luhn check decides
_CARD = re.compile(r"(?<![\d+])\d(?:[ -]?\d){12,18}(?!\d)")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
# a leading + or a bracketed area code, or a run of 10-15 digits: amounts and dates are shorter
_PHONE = re.compile(r"(?<![\w+])(?:\+\d|\(\d|\d)[\d ().-]{6,20}\d(?!\w)")


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum of a card number.

    >>> luhn_ok("4111111111111111"), luhn_ok("4111111111111112")
    (True, False)
    """
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def iban_ok(text: str) -> bool:
    """The ISO 13616 mod-97 check of an IBAN (spaces ignored).

    >>> iban_ok("GB82 WEST 1234 5698 7654 32"), iban_ok("GB82 WEST 1234 5698 7654 33")
    (True, False)
    """
    s = text.replace(" ", "").upper()
    if not 15 <= len(s) <= 34 or not s[:2].isalpha() or not s[2:4].isdigit():
        return False
    return int("".join(str(int(c, 36)) for c in s[4:] + s[:4])) % 97 == 1


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _phone_ok(value: str) -> bool:
    n = len(_digits(value))
    return 8 <= n <= 15 if value.startswith("+") else 10 <= n <= 15


def _mask(kind: SensitiveKind, value: str) -> str:
    """What was found, without what it is: j***@***.com, card ****1111, +***0958."""
    if kind == "email":
        local, _, domain = value.partition("@")
        return f"{local[0]}***@***.{domain.rsplit('.', 1)[-1]}"
    if kind == "card":
        return f"[card ****{_digits(value)[-4:]}]"
    if kind == "iban":
        return f"[iban {value[:2]}**…{value.replace(' ', '')[-4:]}]"
    if kind == "phone":
        return f"[phone ***{_digits(value)[-2:]}]"
    # a credential keeps only its well-known prefix (sk-, ghp_, AKIA, Bearer)
    prefix = re.match(r"[A-Za-z]{2,10}[-_ ]|AKIA|AIza", value)
    return f"[key {prefix.group().strip() if prefix else ''}***]"


# Order matters: a span taken by an earlier kind is not looked at again (a card number is
# not also a phone number, a token holding digits not also a card).
_DETECTORS: tuple[tuple[SensitiveKind, Callable[[str], Iterable[re.Match[str]]]], ...] = (
    ("credential", credential_matches),
    ("email", _EMAIL.finditer),
    ("iban", lambda t: (m for m in _IBAN.finditer(t) if iban_ok(m.group()))),
    ("card", lambda t: (m for m in _CARD.finditer(t) if luhn_ok(_digits(m.group())))),
    ("phone", lambda t: (m for m in _PHONE.finditer(t) if _phone_ok(m.group()))),
)
KINDS: tuple[SensitiveKind, ...] = tuple(k for k, _ in _DETECTORS)


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    kind: SensitiveKind
    masked: str


def sensitive_spans(text: str) -> list[Span]:
    """Every sensitive value in `text`, leftmost first, none overlapping another."""
    spans: list[Span] = []
    for kind, find in _DETECTORS:
        for m in find(text):
            if any(m.start() < s.end and s.start < m.end() for s in spans):
                continue
            spans.append(Span(m.start(), m.end(), kind, _mask(kind, m.group())))
    return sorted(spans, key=lambda s: s.start)


def mask_text(text: str) -> str:
    """`text` with every sensitive value replaced by its masked form.

    >>> mask_text("write to jane.doe@example.com or call +44 20 7946 0958")
    'write to j***@***.com or call [phone ***58]'
    """
    out, last = [], 0
    for s in sensitive_spans(text):
        out += [text[last : s.start], s.masked]
        last = s.end
    return "".join([*out, text[last:]])


class SensitiveHit(BaseModel):
    row_id: str
    field: str  # input, target or labels
    kind: SensitiveKind
    masked: str


class Sensitive(BaseModel):
    counts: dict[str, int]  # kind → values found
    rows: dict[str, list[str]]  # kind → ids of the rows holding one
    hits: list[SensitiveHit]


def find_sensitive(rows: Sequence[AuditRow]) -> Sensitive:
    """Every sensitive value in every row's input, target and annotators' labels, masked."""
    hits = []
    for row in rows:
        fields = {"input": row.input, "target": row.target or "", "labels": " ".join(row.labels)}
        for field, text in fields.items():
            hits += [
                SensitiveHit(row_id=row.id, field=field, kind=s.kind, masked=s.masked)
                for s in sensitive_spans(text)
            ]
    counts = Counter(h.kind for h in hits)
    ids: dict[str, list[str]] = {}
    for h in hits:
        if h.row_id not in ids.setdefault(h.kind, []):
            ids[h.kind].append(h.row_id)
    return Sensitive(
        counts={k: counts[k] for k in KINDS if counts[k]},
        rows={k: ids[k] for k in KINDS if k in ids},
        hits=hits,
    )
