"""Prompt templates: an arm's jinja2 template plus its few-shot examples, rendered per item.

Templates see `input` (the item's text), `labels` (the task's label list) and `examples`
(a list of `{input, target}` drawn from the few-shot file). Undefined names are errors, so a
typo in a template fails the suite check instead of rendering an empty string.

A template is user code: it runs in jinja2's immutable sandbox with limits on `range`,
repetition, powers and the size of what it renders, and whatever it raises becomes one
`TemplateRenderError` line. `check_template` finds what can be found without data.
"""

from __future__ import annotations

import functools
import json
import traceback
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import jinja2
from jinja2 import meta, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from evalkit.hashing import sha256_text

PROMPT_VARIABLES = ("input", "labels", "examples")
MAX_RANGE_ITEMS = 100_000  # items of every range() in one render together
MAX_RENDERED_CHARS = 1_000_000
MAX_POWER_BITS = 100_000  # a power whose result would need more bits is refused


class TemplateRenderError(ValueError):
    """A template failed while rendering; the message says why in one line."""


class _LimitedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with repetition and powers bounded (`'x' * 10**9` would not be)."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(
        self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any
    ) -> Any:
        if operator == "**" and _huge_power(left, right):
            raise SecurityError(f"power too large (over {MAX_POWER_BITS:,} bits)")
        if operator == "*" and _repeated_size(left, right) > MAX_RENDERED_CHARS:
            raise SecurityError(f"repetition longer than {MAX_RENDERED_CHARS:,}")
        return super().call_binop(context, operator, left, right)


def _huge_power(base: Any, exponent: Any) -> bool:
    if not isinstance(base, int) or not isinstance(exponent, int) or abs(base) < 2:
        return False
    return base.bit_length() * exponent > MAX_POWER_BITS


def _repeated_size(left: Any, right: Any) -> int:
    for seq, n in ((left, right), (right, left)):
        if isinstance(seq, str | list | tuple) and isinstance(n, int):
            return len(seq) * n
    return 0


_ENV = _LimitedSandbox(
    undefined=jinja2.StrictUndefined, keep_trailing_newline=False, autoescape=False
)


@functools.lru_cache(maxsize=256)
def _template(source: str) -> jinja2.Template:
    """Compile a template once: compiling costs ~1 ms, rendering a few µs, per item."""
    return _ENV.from_string(source)


def _budgeted_range() -> Callable[..., range]:
    """A `range` for one render: all its calls together yield at most MAX_RANGE_ITEMS."""
    left = [MAX_RANGE_ITEMS]

    def range_(*args: int) -> range:
        r = range(*args)
        left[0] -= len(r)
        if left[0] < 0:
            raise SecurityError(f"range() over more than {MAX_RANGE_ITEMS:,} items in one render")
        return r

    return range_


def _reason(e: BaseException) -> str:
    """`line N: what went wrong`, the line being the template's own where jinja2 knows it."""
    lines = [f.lineno for f in traceback.extract_tb(e.__traceback__) if f.filename == "<template>"]
    what = e.message if isinstance(e, jinja2.TemplateError) and e.message else str(e)
    if not isinstance(e, jinja2.TemplateError | SecurityError):
        what = f"{type(e).__name__}: {what}" if what else type(e).__name__
    return f"line {lines[-1]}: {what}" if lines else what


def render_template(source: str, context: Mapping[str, Any]) -> str:
    """Render `source` in the limited sandbox; any failure raises TemplateRenderError."""
    try:
        template = _template(source)
        chunks, size = [], 0
        for chunk in template.generate({**context, "range": _budgeted_range()}):
            size += len(chunk)
            if size > MAX_RENDERED_CHARS:
                raise SecurityError(f"renders more than {MAX_RENDERED_CHARS:,} characters")
            chunks.append(chunk)
        return "".join(chunks)
    except Exception as e:  # a template is user code: whatever it raises is its own failure
        raise TemplateRenderError(_reason(e)) from None


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

    def context(self, input: str) -> dict[str, Any]:
        """What the templates see for one item (PROMPT_VARIABLES)."""
        return {
            "input": input,
            "labels": list(self.labels),
            "examples": [{"input": e.input, "target": e.target} for e in self.examples],
        }

    def render(self, input: str) -> list[dict[str, str]]:
        """Chat messages (`role`, `content`) for one item; raises TemplateRenderError."""
        context = self.context(input)
        messages = []
        if self.system:
            messages.append({"role": "system", "content": render_template(self.system, context)})
        messages.append({"role": "user", "content": render_template(self.user, context)})
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


_INCLUDES = (nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)


def check_template(source: str, variables: Collection[str]) -> str | None:
    """What is wrong with a template before any data reaches it, or None.

    Syntax, `include`/`import`/`extends` (a template stands alone), `_` attributes the sandbox
    refuses, filters and tests that do not exist (jinja2 defers those inside `if` to render
    time), and names the template uses that are not among `variables`, in any branch.
    """
    try:
        ast = _ENV.parse(source)
    except jinja2.TemplateSyntaxError as e:
        return f"line {e.lineno}: {e.message}"
    if include := next(ast.find_all(_INCLUDES), None):
        return f"line {include.lineno}: include, import and extends are not supported"
    for node in ast.find_all((nodes.Getattr, nodes.Getitem)):
        name = node.attr if isinstance(node, nodes.Getattr) else getattr(node.arg, "value", None)
        if isinstance(name, str) and name.startswith("_"):
            return f"line {node.lineno}: the sandbox refuses {name!r} (no '_' names)"
    for node in ast.find_all(nodes.Filter):
        if node.name not in _ENV.filters:
            return f"line {node.lineno}: no filter named {node.name!r}"
    for node in ast.find_all(nodes.Test):
        if node.name not in _ENV.tests:
            return f"line {node.lineno}: no test named {node.name!r}"
    unknown = sorted(meta.find_undeclared_variables(ast) - set(variables))
    if unknown:
        return f"uses unknown name(s) {', '.join(unknown)}; available: {', '.join(variables)}"
    return None


def render_text(source: str, **context: object) -> str:
    """Render a template string (judge and probe prompts) in the limited sandbox."""
    return render_template(source, context)
