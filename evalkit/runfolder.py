"""A run folder's manifest, `run.json`: what the run is and how far it got.

It names the suite (path and hash) and the shard, and its state: `running`, `interrupted`,
`failed` or `complete`. A folder whose state is not `complete` is never read as a finished
run: the gate, compare, merge and the report refuse it and say how to resume it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evalkit.credentials import redact
from evalkit.errors import InputError, RunFolderBusy

MANIFEST = "run.json"
LOCK = ".lock"  # flock-ed while a run uses the folder; the OS drops it when the process dies
RUNNING, INTERRUPTED, FAILED, COMPLETE = "running", "interrupted", "failed", "complete"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def write_manifest(run_dir: Path, manifest: dict[str, Any]) -> None:
    """Write run.json atomically, redacted: its error can quote a server that echoed a key."""
    tmp = run_dir / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(redact(manifest), indent=2) + "\n", encoding="utf-8")
    tmp.replace(run_dir / MANIFEST)


def read_manifest(run_dir: Path) -> dict[str, Any] | None:
    """The run's manifest, or None for a folder written before manifests existed."""
    path = run_dir / MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise InputError(f"not a readable run manifest ({e})", path=path) from None
    if not isinstance(data, dict) or "state" not in data:
        raise InputError("not a run manifest (no 'state')", path=path)
    return data


def update_manifest(run_dir: Path, **changes: Any) -> None:
    manifest = read_manifest(run_dir) or {}
    write_manifest(run_dir, {**manifest, **changes})


def _process_alive(pid: Any) -> bool:
    try:
        os.kill(int(pid), 0)
    except (OSError, TypeError, ValueError):
        return False
    return True


def unfinished_reason(manifest: dict[str, Any]) -> str | None:
    """Why a run folder is not a finished run, or None when it is complete."""
    state = manifest.get("state")
    if state == COMPLETE:
        return None
    if state == RUNNING:
        if manifest.get("host") == os.uname().nodename and _process_alive(manifest.get("pid")):
            return "it is still running"
        return "it stopped without finishing (the process was killed)"
    if state == INTERRUPTED:
        return "it was interrupted"
    return f"it failed ({manifest.get('error') or 'see the log'})"


def require_finished(run_dir: Path) -> None:
    """Raise a located InputError unless the run folder holds a finished run."""
    manifest = read_manifest(run_dir)
    if manifest is None:
        return
    reason = unfinished_reason(manifest)
    if reason:
        raise InputError(
            f"this run did not finish: {reason}; resume it with: {manifest.get('resume_command')}",
            path=run_dir,
        )


def _busy(run_dir: Path, fd: int) -> RunFolderBusy:
    holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
    return RunFolderBusy(
        f"run folder {run_dir} is in use by another evalkit process (pid {holder}); "
        "wait for it to end, or start a new run"
    )


@contextlib.contextmanager
def locked(run_dir: Path) -> Iterator[None]:
    """Hold the run folder's advisory lock for the block; raise RunFolderBusy at once when
    another process holds it, so two runs never append to one journal."""
    fd = os.open(run_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _busy(run_dir, fd) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def raise_if_busy(run_dir: Path) -> None:
    """Raise RunFolderBusy when another process holds the run folder's lock, before a message
    about the folder's state (which a run in progress is still changing) could mislead."""
    try:
        fd = os.open(run_dir / LOCK, os.O_RDONLY)
    except OSError:  # no lock file: no evalkit process has used the folder since locks exist
        return
    try:
        try:  # a shared lock conflicts with the holder's exclusive one, and is let go at once
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _busy(run_dir, fd) from None
    finally:
        os.close(fd)
