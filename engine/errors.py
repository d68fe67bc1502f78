"""User-facing errors. The CLI prints them as one clear message (no traceback) and exits non-zero."""

from __future__ import annotations


class AtelierError(Exception):
    """An error caused by the user's input or environment, with a hint on what to do.

    Args:
        message: what was wrong, naming the file or value.
        hint: what to do about it.
    """

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class InputError(AtelierError):
    """A bad input file or argument."""


class MissingDependencyError(AtelierError):
    """An optional dependency (an "extra") is not installed."""


class JobError(AtelierError):
    """A worker job (Blender) failed; ``log_path`` keeps its output."""

    exit_code = 3

    def __init__(self, message: str, hint: str | None = None, log_path=None):
        super().__init__(message, hint)
        self.log_path = log_path


class SimulationError(JobError):
    """A cloth simulation produced an unusable result (explosion, penetration)."""
