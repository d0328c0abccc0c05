"""Reading the files a suite names: every failure is a located `InputError`, never a traceback.

One home for what every reader needs: text that must be UTF-8 (or the declared encoding),
YAML whose duplicate keys are errors, and suite-relative paths that stay inside the suite's
folder unless the suite says `allow_outside_paths: true`.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from evalkit.errors import InputError

Expect = Literal["file", "any"]  # "any": a file or a folder (an adapter, a probe pack)


def path_problem(path: Path, expect: Expect = "file") -> str | None:
    """Why `path` cannot be read as a file (or, with "any", a folder), or None when it can."""
    try:
        st = path.stat()
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "symlink loop (a link that points back at itself)"
        if e.errno == errno.EACCES:
            return "permission denied"
        if e.errno == errno.ENOTDIR:
            return "not found (a part of the path is a file, not a folder)"
        return "not found"
    is_dir = path.is_dir()
    if expect == "file" and is_dir:
        return "is a folder, expected a file"
    if not is_dir and not path.is_file():
        return f"not a regular file (mode {st.st_mode:o})"
    return None


def read_text(
    path: Path, what: str = "file", *, encoding: str = "utf-8", encoding_key: bool = False
) -> str:
    """The whole text of a file; a missing, binary or wrongly encoded file is a located error.

    `encoding_key` says whether the caller accepts an `encoding:` key, which the message for
    a file in another encoding then suggests. A UTF-8 byte order mark is dropped.
    """
    if problem := path_problem(path):
        raise InputError(f"{what} {problem}", path=path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise InputError(f"cannot read the {what}: {e.strerror}", path=path) from None
    codec = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
    try:
        text = data.decode(codec)
    except UnicodeDecodeError as e:
        hint = (
            "; set its `encoding:` key (e.g. latin-1) or re-save it as UTF-8"
            if encoding_key
            else "; re-save it as UTF-8"
        )
        name = "UTF-8" if codec in ("utf-8", "utf-8-sig") else encoding
        kind = "binary, not text" if b"\x00" in data[:8192] else f"not {name} text"
        raise InputError(
            f"{kind} (byte 0x{data[e.start]:02x} at offset {e.start}){hint}",
            path=path,
            line=data.count(b"\n", 0, e.start) + 1,
        ) from None
    if "\x00" in text:
        raise InputError("binary, not text (it contains NUL characters)", path=path)
    return text


def text_lines(text: str) -> list[str]:
    """Lines split on '\\n' only: U+2028 and friends may stand inside a JSON string."""
    return [line.removesuffix("\r") for line in text.split("\n")]


class _UniqueKeyLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """A safe loader (libyaml's parser where PyYAML has it) that refuses a key given twice in
    one mapping (PyYAML keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *defaults` merges keys on purpose
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.setdefault(key, key_node.start_mark.line + 1)
            except TypeError:
                continue  # an unhashable key: the base constructor reports it
            if first != key_node.start_mark.line + 1:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} (first on line {first})",
                    key_node.start_mark,
                )
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str, path: Path) -> Any:
    """Parse YAML text; syntax errors and duplicate keys name the file and line."""
    return load_yaml_document(text, path)[0]


# How many nodes aliases may add once expanded: far beyond any real suite's reuse of an anchor,
# far below a "billion laughs" file, whose few hundred bytes expand to billions of nodes.
ALIAS_EXPANSION_BUDGET = 100_000


def _children(node: yaml.Node) -> list[yaml.Node]:
    """A node's direct children: a mapping's keys and values, a sequence's items."""
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _expanded_sizes(root: yaml.Node) -> dict[int, int]:
    """Node id → its node count with every alias expanded, memoised so a DAG costs its size."""
    sizes: dict[int, int] = {}

    def size(node: yaml.Node) -> int:
        if id(node) in sizes:
            return sizes[id(node)]
        sizes[id(node)] = 1 + sum(size(child) for child in _children(node))
        return sizes[id(node)]

    size(root)
    return sizes


def _refuse_alias_bombs(root: yaml.Node, path: Path) -> None:
    """Refuse a document whose aliases expand to more than the budget, naming where."""
    sizes = _expanded_sizes(root)
    if sizes[id(root)] - len(sizes) <= ALIAS_EXPANSION_BUDGET:
        return
    node = root
    # descend to the innermost node that alone exceeds the budget, for its line
    while big := [c for c in _children(node) if sizes[id(c)] > ALIAS_EXPANSION_BUDGET]:
        node = big[0]
    raise InputError(
        f"YAML aliases expand to {sizes[id(root)]:,} nodes, more than the "
        f"{ALIAS_EXPANSION_BUDGET:,} allowed (an anchor nested in anchors?)",
        path=path,
        line=node.start_mark.line + 1,
    )


def load_yaml_document(text: str, path: Path) -> tuple[Any, yaml.Node | None]:
    """The parsed value and its node tree (whose marks give each key's line), from one parse.

    Aliases that expand beyond a budget are refused before anything walks the tree as a tree.
    """
    loader = _UniqueKeyLoader(text)
    try:
        root = loader.get_single_node()
        if root is not None:
            _refuse_alias_bombs(root, path)
        return (None if root is None else loader.construct_document(root)), root
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        raise InputError(
            f"not valid YAML: {e.problem or e.context}",
            path=path,
            line=mark.line + 1 if mark else None,
        ) from None
    except yaml.YAMLError as e:  # e.g. a control character the reader refuses
        raise InputError(f"not valid YAML: {e}", path=path) from None
    except RecursionError:
        raise InputError("not valid YAML: nested too deeply", path=path) from None
    finally:
        loader.dispose()


@dataclass(frozen=True)
class SuiteFolder:
    """Where a suite's relative paths resolve, and whether they may leave its folder."""

    suite_path: Path
    allow_outside: bool = False

    @property
    def root(self) -> Path:
        return self.suite_path.parent

    def resolve(
        self,
        rel: str,
        where: str,
        *,
        base: Path | None = None,
        named_in: Path | None = None,
        expect: Expect = "file",
    ) -> Path:
        """`rel` against `base` (default: the suite's folder), checked to exist and to stay inside.

        Errors name `named_in` (default: the suite file) and `where`, the key holding `rel`.
        """
        named_in = named_in or self.suite_path
        p = (base or self.root) / Path(rel).expanduser()
        # outside first: a file outside the folder is not even looked at
        if not self.allow_outside:
            try:  # with every symlink followed
                inside = p.resolve().is_relative_to(self.root.resolve())
            except (OSError, RuntimeError):  # a loop further up the path
                raise InputError(f"symlink loop: {p}", path=named_in, where=where) from None
            if not inside:
                raise InputError(
                    f"{rel!r} resolves outside the suite's folder ({p.resolve()}); set "
                    "allow_outside_paths: true at the top of the suite to allow it",
                    path=named_in,
                    where=where,
                )
        if problem := path_problem(p, expect):
            raise InputError(f"{problem}: {p}", path=named_in, where=where)
        return p
