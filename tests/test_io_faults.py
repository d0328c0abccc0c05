"""Storage faults: a corrupt response cache, a read-only `--out`, a run folder that turns
unwritable, a full disk. Each is one line naming the path, exit 3, no traceback, and the
run folder is left so that a later `--resume` finishes the run.

Tests may run as root, where a read-only mode does not stop a write, so the file system's
refusal is simulated where evalkit writes: the OSError the kernel would raise (EROFS, EACCES,
ENOSPC), with its path, from the call that writes.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

import evalkit.pipeline
import evalkit.report.files
import evalkit.runfolder
from evalkit.cli import main
from tests.conftest import ITEMS


def _run(suite: Path, out: Path, *extra: str) -> int:
    return main(["run", str(suite), "--out", str(out), "--cache-dir", str(out.parent / "cache"),
                 *extra])  # fmt: skip


def _one_line(capsys: pytest.CaptureFixture[str], *expected: str) -> str:
    """The error as printed: one line, no traceback, holding each of `expected` (the other
    lines on stderr are the progress lines of the requests that were answered)."""
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if not line.startswith("progress ")]
    assert "Traceback" not in err and len(lines) == 1 and lines[0].startswith("error: "), err
    for text in expected:
        assert text in lines[0], err
    return lines[0]


def _finishes_on_resume(suite: Path, out: Path, run_dir: Path, *extra: str) -> None:
    """`--resume` completes the run the fault stopped, with every sample."""
    manifest = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    assert manifest["state"] != "complete"
    assert not (run_dir / "results.json").exists()
    assert _run(suite, out, "--resume", str(run_dir), *extra) == 0
    assert json.loads((run_dir / "run.json").read_text(encoding="utf-8"))["state"] == "complete"
    rows = (run_dir / "samples.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(rows) == 2 * len(ITEMS)


def test_a_corrupt_cache_database_is_one_line_and_exit_3(make_suite, tmp_path, capsys) -> None:
    suite, out = make_suite(), tmp_path / "out"
    db = tmp_path / "cache" / "responses.sqlite3"
    db.parent.mkdir()
    db.write_bytes(b"this is not a database, just garbage\x00\xff" * 200)
    assert _run(suite, out, "--run-id", "r") == 3
    _one_line(capsys, str(db), "--no-cache")
    # once the cache is deleted, as the line says, the run resumes
    db.unlink()
    _finishes_on_resume(suite, out, out / "tiny" / "r")


def _refuse(monkeypatch: pytest.MonkeyPatch, module: object, name: str, code: int) -> list[str]:
    """Make `module.name(path, ...)` raise the OSError `code` for its path; returns the paths."""
    refused: list[str] = []

    def writer(path: Path, *args: object, **kwargs: object) -> None:
        refused.append(str(path))
        raise OSError(code, os.strerror(code), str(path))

    monkeypatch.setattr(module, name, writer)
    return refused


def test_a_full_disk_while_writing_samples_is_one_line_and_resumable(
    make_suite, tmp_path, capsys, monkeypatch
) -> None:
    suite, out = make_suite(), tmp_path / "out"
    run_dir = out / "tiny" / "r"
    with monkeypatch.context() as m:
        refused = _refuse(m, evalkit.report.files, "write_samples", errno.ENOSPC)
        assert _run(suite, out, "--run-id", "r") == 3
    assert refused == [str(run_dir / "samples.jsonl")]
    _one_line(capsys, str(run_dir / "samples.jsonl"), "No space left on device", "--resume")
    _finishes_on_resume(suite, out, run_dir)


def test_a_run_folder_that_turns_read_only_is_one_line_and_resumable(
    make_suite, tmp_path, capsys, monkeypatch
) -> None:
    suite, out = make_suite(), tmp_path / "out"
    run_dir = out / "tiny" / "r"
    with monkeypatch.context() as m:
        refused = _refuse(m, evalkit.pipeline, "write_results", errno.EACCES)
        # the manifest cannot be marked failed either: it stays "running", and resumes
        _refuse(m, evalkit.runfolder, "update_manifest", errno.EACCES)
        assert _run(suite, out, "--run-id", "r") == 3
    assert refused == [str(run_dir / "results.json")]
    _one_line(capsys, str(run_dir / "results.json"), "Permission denied")
    _finishes_on_resume(suite, out, run_dir)


def test_a_read_only_out_folder_is_one_line_and_exit_3(
    make_suite, tmp_path, capsys, monkeypatch
) -> None:
    suite, out = make_suite(), tmp_path / "ro"
    out.mkdir()
    if os.geteuid() != 0:  # a real refusal where the permission bits count
        out.chmod(0o500)
    else:
        real_mkdir = Path.mkdir

        def mkdir(self: Path, *args: object, **kwargs: object) -> None:
            if self.is_relative_to(out) and self != out:
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))
            real_mkdir(self, *args, **kwargs)

        monkeypatch.setattr(Path, "mkdir", mkdir)
    try:
        assert _run(suite, out, "--run-id", "r") == 3
    finally:
        out.chmod(0o700)
    _one_line(capsys, str(out))
    assert not any(out.rglob("journal*.jsonl"))
    monkeypatch.undo()
    # writable again: the same command runs
    assert _run(suite, out, "--run-id", "r") == 0
