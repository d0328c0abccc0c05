"""The unit of evaluation data: one item with a stable id, its input text and its target."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Item:
    id: str
    input: str
    target: str
