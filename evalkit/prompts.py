"""Prompt templates: an arm's jinja2 template plus its few-shot examples, rendered per item.

Templates see `input` (the item's text), `labels` (the task's label list) and `examples`
(a list of `{input, target}` drawn from the few-shot file). Undefined names are errors, so a
typo in a template fails the suite check instead of rendering an empty string.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from evalkit.hashing import sha256_text

_ENV = ImmutableSandboxedEnvironment(
    undefined=jinja2.StrictUndefined, keep_trailing_newline=False, autoescape=False
)


@dataclass(frozen=True)
class Example:
    input: str
    target: str


@dataclass(frozen=True)
class CompiledPrompt:
    """Everything that decides what one arm sends for an item; its hash scopes the cache."""

    user: str
    system: str | None = None
    labels: tuple[str, ...] = ()
    examples: tuple[Example, ...] = field(default=())

    def render(self, input: str) -> list[dict[str, str]]:
        """Chat messages (`role`, `content`) for one item."""
        context = {
            "input": input,
            "labels": list(self.labels),
            "examples": [{"input": e.input, "target": e.target} for e in self.examples],
        }
        messages = []
        if self.system:
            messages.append(
                {"role": "system", "content": _ENV.from_string(self.system).render(context)}
            )
        messages.append({"role": "user", "content": _ENV.from_string(self.user).render(context)})
        return messages

    @property
    def sha256(self) -> str:
        payload = json.dumps(
            {
                "user": self.user,
                "system": self.system,
                "labels": list(self.labels),
                "examples": [[e.input, e.target] for e in self.examples],
            },
            sort_keys=True,
        )
        return sha256_text(payload)


def check_template(source: str) -> str | None:
    """The jinja2 syntax error in `source`, or None when it parses."""
    try:
        _ENV.parse(source)
    except jinja2.TemplateSyntaxError as e:
        return f"line {e.lineno}: {e.message}"
    return None


def render_text(source: str, **context: object) -> str:
    """Render a trusted template string (judge and probe prompts) with strict undefineds."""
    return _ENV.from_string(source).render(context)
