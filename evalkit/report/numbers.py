"""Numbers as every report shows them: one formatter per kind, a dash where there is no value."""

from __future__ import annotations

import math
from typing import Any

DASH = "—"


def missing(x: Any) -> bool:
    """No value: None, or NaN (results handed over in-process hold NaN where the file has null)."""
    return x is None or (isinstance(x, float) and math.isnan(x))


def num(x: Any, digits: int = 3, signed: bool = False) -> str:
    """A value to `digits` decimals, with its sign when `signed`; a dash when missing.

    >>> num(0.12345), num(0.1, signed=True), num(None), num(float("nan"), 1)
    ('0.123', '+0.100', '—', '—')
    """
    if missing(x):
        return DASH
    return f"{float(x):+.{digits}f}" if signed else f"{float(x):.{digits}f}"


def signed(x: Any, digits: int = 3) -> str:
    """A difference, always with its sign: `+0.020`, `-0.100`."""
    return num(x, digits, signed=True)


def pct(x: Any, digits: int = 1) -> str:
    """A share as a percentage: `0.125` → `12.5%`."""
    return DASH if missing(x) else f"{100 * float(x):.{digits}f}%"


def pvalue(x: Any) -> str:
    """A p-value: small ones in scientific notation so they don't read as zero.

    >>> pvalue(0.0123), pvalue(0.00001)
    ('0.012', '1.00e-05')
    """
    if missing(x):
        return DASH
    return f"{float(x):.2e}" if float(x) < 0.001 else f"{float(x):.3f}"


def short_hash(x: Any, n: int = 12) -> str:
    """The first `n` characters of a hash, enough to tell runs apart at a glance."""
    return DASH if not x else str(x)[:n]


def judge_note(status: str | None) -> str:
    """' (judge uncalibrated)' beside a number a judge made; '' for one no judge made."""
    return "" if status is None else f" (judge {status})"
