"""What a secret looks like: one definition behind refusing secrets in a suite file and
cutting them out of everything evalkit writes or prints.

A secret is text under a secret-looking key (`api_key`, `X-Api-Key`, `Authorization`), text
shaped like a credential (`Bearer …`, `sk-…`), the user-info of a URL (`https://user:KEY@host`),
or the value of a secret-looking environment variable (`OPENAI_API_KEY`, `HF_TOKEN`, …).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

REDACTED = "<redacted>"

# api_key, auth_token, client_secret, password, X-Api-Key, Authorization, Set-Cookie...
# but not max_tokens or key_field
SECRET_KEY = re.compile(
    r"(^|[_\-.])(api[_\-]?key|key|token|secret|password|passwd|auth\w*|credentials?|cookie)$",
    re.IGNORECASE,
)
# OPENAI_API_KEY, HF_TOKEN, AWS_SECRET_ACCESS_KEY, DB_PASSWORD, GOOGLE_APPLICATION_CREDENTIALS
_SECRET_ENV = re.compile(
    r"API_?KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|ACCESS_KEY|PRIVATE_KEY|AUTH", re.IGNORECASE
)
# shorter values ("1", "true") would blank ordinary words wherever they occur
_MIN_SECRET_LEN = 8
_USERINFO = r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)[^\s/?#@\"'<>]+@"
# a token: long, and with a digit (or base64 padding) so that prose ("Basic information") is not one
_TOKEN = r"(?=[\w.~+/=\-]*[0-9+/=])[\w.~+/=\-]{12,}"
_CREDENTIAL = (
    rf"\b(?:[Bb]earer|[Bb]asic|[Tt]oken)\s+{_TOKEN}"  # an Authorization header's value
    rf"|\b(?:sk|rk|pk)-{_TOKEN}"  # OpenAI, Anthropic (sk-ant-…), Stripe
    rf"|\b(?:ghp|gho|ghs|ghu|github_pat|glpat|hf|xox[abpr])[-_]{_TOKEN}"
    r"|\bAKIA[0-9A-Z]{16}\b"  # AWS access key id
    r"|\bAIza[0-9A-Za-z_\-]{30,}"  # Google API key
)
_USERINFO_RE = re.compile(_USERINFO)
_CREDENTIAL_RE = re.compile(_CREDENTIAL)


def secret_key(name: object) -> bool:
    """Whether a mapping key names a secret."""
    return bool(SECRET_KEY.search(str(name)))


def looks_like_credential(text: str) -> bool:
    """Whether text carries a credential by its shape alone (a token, a URL's user-info)."""
    return bool(_CREDENTIAL_RE.search(text) or _USERINFO_RE.search(text))


def credential_matches(text: str) -> Iterator[re.Match[str]]:
    """Each credential-shaped token in text (`Bearer …`, `sk-…`, `ghp_…`, `AKIA…`)."""
    return _CREDENTIAL_RE.finditer(text)


def env_secrets(environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of secret-looking environment variables, longest first."""
    env = os.environ if environ is None else environ
    values = {
        v for k, v in env.items() if _SECRET_ENV.search(k) and len(v.strip()) >= _MIN_SECRET_LEN
    }
    return sorted(values, key=len, reverse=True)


# Every shape of _USERINFO and _CREDENTIAL contains one of these literals ("earer" for
# `[Bb]earer`; tests/test_secrets.py tries every shape): text with none of them, and none of
# the known secrets, cannot match, and a substring test is far cheaper than the pattern
# (`ghp`, not `gh`, and `hf_`, not `hf`: "right" and "shelf" are in every other answer)
_CLUES = ("://", "earer", "asic", "oken", "sk-", "rk-", "pk-", "ghp", "gho", "ghs", "ghu",
          "github_pat", "glpat", "hf-", "hf_", "xox", "AKIA", "AIza")  # fmt: skip


@dataclass(frozen=True)
class Scrubber:
    """One pattern for every credential shape and every known secret value, and the literals
    that any match must contain."""

    pattern: re.Pattern[str]
    clues: tuple[str, ...]

    def may_match(self, text: str) -> bool:
        """False when `text` certainly holds no credential (a cheap test before the pattern)."""
        return any(clue in text for clue in self.clues)


def scrubber(secrets: Iterable[str]) -> Scrubber:
    """The Scrubber of every credential shape and of `secrets` (known secret values)."""
    known = [s for s in secrets if s]
    pattern = "|".join(p for p in (_USERINFO, _CREDENTIAL, "|".join(map(re.escape, known))) if p)
    return Scrubber(re.compile(pattern), (*_CLUES, *known))


def scrub(text: str, scrubbing: Scrubber) -> str:
    """`text` with each credential replaced by <redacted> (a URL keeps its scheme and host)."""
    if not scrubbing.may_match(text):
        return text
    return scrubbing.pattern.sub(
        lambda m: f"{m['scheme']}{REDACTED}@" if m["scheme"] else REDACTED,
        text,
    )


def find_secret(value: Any, where: str) -> str | None:
    """The key path of the first secret in a nested suite value (model_args, base_url), or None."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            inner = f"{where}.{k}"
            if secret_key(k) and isinstance(v, str | int | float) and not isinstance(v, bool):
                return inner
            if found := find_secret(v, inner):
                return found
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            if found := find_secret(v, f"{where}.{i}"):
                return found
    elif isinstance(value, str) and looks_like_credential(value):
        return where
    return None


def redact(value: Any, secrets: Sequence[str] | None = None) -> Any:
    """A copy safe to write: every writer passes what it writes through here.

    Scalars under secret-looking keys are blanked at any depth (a mapping under such a key,
    a gate on a metric named "...authenticity..." say, is walked, not blanked), and in every
    string a URL's user-info, a credential-shaped token and the value of any secret-looking
    environment variable (`secrets`, default: read now) are cut out.
    """
    return _Redactor(scrubber(env_secrets() if secrets is None else secrets)).walk(value)


def redact_columns(
    columns: Mapping[str, list[Any]], secrets: Sequence[str] | None = None
) -> dict[str, list[Any]]:
    """`redact` of a table given column by column (name → values), as if of its rows.

    A column of plain strings is cleared by one clue test of its values joined: a table of
    thousands of clean rows is then never walked value by value.
    """
    redactor = _Redactor(scrubber(env_secrets() if secrets is None else secrets))
    return {name: redactor.column(name, values) for name, values in columns.items()}


_NUMBERS = frozenset({int, float, bool, type(None)})


class _Redactor:
    """One redaction pass: its scrubber, and which keys it has found to name secrets."""

    def __init__(self, scrubbing: Scrubber) -> None:
        self.scrubbing = scrubbing
        # rows repeat the same few keys thousands of times: test each key once
        self._secret_keys: dict[object, bool] = {}

    def is_secret(self, k: object) -> bool:
        if k not in self._secret_keys:
            self._secret_keys[k] = secret_key(k)
        return self._secret_keys[k]

    def any_clue(self, values: Iterable[Any]) -> bool:
        """Whether any string among `values` may hold a credential: one clue test of them
        joined (a clue in any one of them is a clue in the join), not one per string."""
        strings = [x for x in values if isinstance(x, str)]
        return bool(strings) and self.scrubbing.may_match("\0".join(strings))

    def walk(self, v: Any) -> Any:
        if isinstance(v, dict):
            dirty = self.any_clue(v.values())  # a row's few dozen short strings, tested once
            return {
                k: self._under(k, x) if not isinstance(x, str) or dirty or self.is_secret(k) else x
                for k, x in v.items()
            }
        if isinstance(v, list | tuple):
            if set(map(type, v)) <= _NUMBERS:  # a confusion matrix's row: nothing to test
                return list(v)
            # the same one test for a list's strings (a report's rows are lists): only its
            # containers, and its strings if the test finds a clue, are walked
            dirty = self.any_clue(v)
            return [
                self.walk(x) if isinstance(x, dict | list | tuple) or (dirty and isinstance(x, str))
                else x
                for x in v
            ]  # fmt: skip
        return scrub(v, self.scrubbing) if isinstance(v, str) else v

    def _under(self, key: object, v: Any) -> Any:
        """A value under `key`: blanked if the key names a secret and it is a scalar."""
        if self.is_secret(key) and isinstance(v, str | int | float) and not isinstance(v, bool):
            return REDACTED
        return self.walk(v)

    def column(self, name: str, values: list[Any]) -> list[Any]:
        """A column's values as `walk` would leave them in each row."""
        plain = all(x is None or isinstance(x, str | int | float) for x in values)
        if plain and not self.is_secret(name):
            if self.any_clue(values):
                return [scrub(x, self.scrubbing) if isinstance(x, str) else x for x in values]
            return values
        return [self._under(name, x) for x in values]
