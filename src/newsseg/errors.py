"""Errors a user can cause and fix: the CLI prints each as one line and exits non-zero."""

from __future__ import annotations

from pathlib import Path


class NewssegError(Exception):
    """A known, user-fixable problem. ``str(error)`` is the whole message."""


class InputError(NewssegError):
    """Bad input data, located by file and (where it applies) line."""

    def __init__(self, path: str | Path, reason: str, line: int | None = None) -> None:
        self.path = str(path)
        self.line = line
        self.reason = reason
        where = self.path if line is None else f"{self.path}:{line}"
        super().__init__(f"{where}: {reason}")

    def __reduce__(self):  # pickled whole, as worker processes send errors back
        return type(self), (self.path, self.reason, self.line)


class PathError(NewssegError):
    """A problem of one file or folder: ``str(error)`` is ``"<path>: <reason>"``."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")

    def __reduce__(self):  # pickled whole, as worker processes send errors back
        return type(self), (self.path, self.reason)


class ModelError(PathError):
    """A model file that cannot be used: missing, corrupt, untrusted or from other versions."""


class OutputError(PathError):
    """An output that cannot or may not be written."""


class WorkerLostError(NewssegError):
    """A worker process (``--jobs``), a Dask worker or the Dask scheduler died while it
    labeled a batch: the batches in flight are lost. ``str(error)`` says what was lost."""
