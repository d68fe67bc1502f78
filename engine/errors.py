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


def run_reporting(command: str, work, *, interrupted: str = "finished stages are kept, run it again to resume") -> int:
    """Run a command's ``work()`` and turn user errors into one message and an exit code (no traceback).

    The one place both entry points (``atelier`` and ``python -m scenes.cli``) print errors:
    an :class:`AtelierError` prints its message and hint and exits with its code; Ctrl-C exits 130
    saying ``interrupted`` (what is kept); a reader that went away (``atelier twins list | head -1``)
    ends quietly with 141.
    """
    import os
    import sys

    try:
        return work()
    except AtelierError as exc:
        print(f"atelier {command}: error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"  hint: {exc.hint}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"\natelier {command}: interrupted; {interrupted}", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # point stdout at nothing so the interpreter's final flush does not fail again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
