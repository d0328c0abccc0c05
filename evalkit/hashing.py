"""Content hashes: one home for every sha256 evalkit computes (cache scopes, suite and data
hashes in results.json, the adapter identity, model downloads).

Each helper hashes exactly the bytes it is given, so a hash written by an earlier version of
evalkit stays the same as long as the caller feeds the same bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

_CHUNK = 1 << 20  # files are read a MiB at a time, so a model file never sits in memory whole


def sha256_chunks(chunks: Iterable[bytes]) -> str:
    """The hex sha256 of the chunks joined end to end.

    >>> sha256_chunks([b"ab", b"c"]) == sha256_chunks([b"abc"])
    True
    """
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def sha256_text(text: str) -> str:
    """The hex sha256 of `text` encoded as UTF-8.

    >>> sha256_text("abc")[:16]
    'ba7816bf8f01cfea'
    """
    return sha256_chunks([text.encode()])


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file's bytes, read in chunks."""
    with path.open("rb") as fh:
        return sha256_chunks(iter(lambda: fh.read(_CHUNK), b""))


def sha256_path(path: str | Path) -> str:
    """Content hash of a file, or of every file under a folder with its relative name.

    A renamed file inside a folder changes the hash; the folder's own location does not.
    """
    p = Path(path)
    files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]

    def chunks() -> Iterable[bytes]:
        for f in files:
            yield str(f.relative_to(p) if p.is_dir() else f.name).encode()
            yield f.read_bytes()

    return sha256_chunks(chunks())
