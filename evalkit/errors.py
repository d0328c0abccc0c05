"""User-facing errors. The CLI prints them as one located line and exits with their code."""

from __future__ import annotations

from pathlib import Path

EXIT_OK = 0
EXIT_GATE_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_RUN_FAILED = 3  # also a storage fault: a full disk, a read-only folder, a corrupt cache
EXIT_NOT_INSTALLED = 4  # an optional extra the command needs is missing (pip install ...)
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for Ctrl-C


class EvalkitError(Exception):
    """An error the user can act on; never shown as a traceback."""

    exit_code = EXIT_BAD_INPUT


class InputError(EvalkitError):
    """Bad suite, data file, rubric or argument: names the file, the place, and what was expected."""

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        where: str | None = None,
        line: int | None = None,
    ) -> None:
        self.path = str(path) if path is not None else None
        self.where = where
        self.line = line
        self.message = message
        super().__init__(self.located())

    def located(self) -> str:
        place = self.path or ""
        if self.line is not None:
            place += f":{self.line}"
        if self.where:
            place += f" [{self.where}]" if place else self.where
        return f"{place}: {self.message}" if place else self.message


class RunFailed(EvalkitError):
    """The evaluation itself could not run (provider missing, every sample failed, ...)."""

    exit_code = EXIT_RUN_FAILED


class StorageError(RunFailed):
    """A file of the run could not be written or read: a full disk, a read-only run folder or
    `--out`, a corrupt response cache. The message names the path and what to do."""


def storage_error(e: OSError, path: str | Path, then: str) -> StorageError:
    """The one-line error for an OSError met while writing `path` (its own path if it has one)."""
    return StorageError(f"cannot write {e.filename or path}: {e.strerror or e}; {then}")


class NotInstalled(EvalkitError):
    """An optional dependency the command needs is not installed; the message names the extra."""

    exit_code = EXIT_NOT_INSTALLED


class Interrupted(EvalkitError):
    """Ctrl-C (or SIGTERM) stopped a run; the message says how to resume it."""

    exit_code = EXIT_INTERRUPTED


class RunFolderBusy(RunFailed):
    """Another evalkit process holds the run folder's lock (a run, or a resume, still going)."""
