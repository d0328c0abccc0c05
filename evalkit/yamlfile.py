"""Read a YAML file into a pydantic model, with errors that name the file, the key path and the line.

Shared by the suite and rubric loaders; a leaf below both, so neither imports the other.
Duplicate keys, non-UTF-8 text and every other unreadable file are located errors too
(`evalkit.inputfiles`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import pydantic
import yaml

from evalkit.credentials import env_secrets, scrub, scrubber
from evalkit.errors import InputError
from evalkit.inputfiles import load_yaml_document, read_text

M = TypeVar("M", bound=pydantic.BaseModel)


def _line_index(root: yaml.Node | None) -> dict[tuple[str, ...], int]:
    """Key path → 1-based line, from YAML's node tree (pydantic errors carry only paths)."""
    index: dict[tuple[str, ...], int] = {}

    def walk(node: yaml.Node, prefix: tuple[str, ...]) -> None:
        index.setdefault(prefix, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                path = (*prefix, str(key.value))
                index[path] = key.start_mark.line + 1
                walk(value, path)
        elif isinstance(node, yaml.SequenceNode):
            for i, value in enumerate(node.value):
                walk(value, (*prefix, str(i)))

    if root is not None:
        walk(root, ())
    return index


def _nearest_line(index: dict[tuple[str, ...], int], loc: tuple[str, ...]) -> int | None:
    for cut in range(len(loc), -1, -1):
        if loc[:cut] in index:
            return index[loc[:cut]]
    return None


def _describe(error: Any, docs: str) -> str:
    found = error.get("input")
    msg = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        return f"unknown key (check the spelling; see {docs})"
    if error["type"] == "missing":
        return "required key is missing"
    if found is not None and not isinstance(found, dict | list):
        # a refused base_url is shown without the credential it carries
        return f"{msg} (found {scrub(repr(found), scrubber(env_secrets()))})"
    return msg


def parse_yaml_model(path: Path, model: type[M], what: str, docs: str) -> tuple[M, str]:
    """Read a YAML file into a pydantic model; errors name the file, key path and line.

    Returns the model and the file's text (callers hash it). `what` names the file in
    messages ("suite", "rubric"); `docs` is the page an unknown key points to.
    """
    text = read_text(path, f"{what} file")
    data, root = load_yaml_document(text, path)
    index = _line_index(root)
    if not isinstance(data, dict):
        raise InputError(f"expected a mapping of {what} keys at the top level", path=path)
    known = set(model.model_fields) | {f.alias for f in model.model_fields.values() if f.alias}
    if data and not known.intersection(map(str, data)):
        # some other file (a password file, a config): its keys are its contents, never echo them
        raise InputError(
            f"not a {what} file: none of its top-level keys is a {what} key (see {docs})",
            path=path,
        )
    try:
        return model.model_validate(data), text
    except pydantic.ValidationError as e:
        # a misspelt key yields "unknown key" and "missing" together; the unknown one is the news
        errors = sorted(e.errors(), key=lambda err: err["type"] != "extra_forbidden")
        first = errors[0]
        # pydantic reports union/alias internals in loc; keep only the user's keys
        loc = tuple(str(p) for p in first["loc"] if not str(p).startswith("function-"))
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise InputError(
            _describe(first, docs) + more,
            path=path,
            where=".".join(loc) or None,
            line=_nearest_line(index, loc),
        ) from None
