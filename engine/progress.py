"""A small progress display for long work, written to stderr.

On a terminal it redraws one line; in a log (CI, batch farms) it prints a line per update at most
every few seconds, so headless batch logs stay readable.
"""

from __future__ import annotations

import sys
import time


class Progress:
    """Progress of one stage.

    Args:
        label: what is being done, e.g. ``"fit"``.
        total: number of steps, or None when unknown.
        stream: where to write (stderr by default).
        quiet: print nothing.
    """

    def __init__(self, label: str, total: int | None = None, stream=None, quiet: bool = False):
        self.label = label
        self.total = total
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.start = time.monotonic()
        self.done = 0
        self._last = 0.0
        self._tty = hasattr(self.stream, "isatty") and self.stream.isatty()

    def update(self, done: int | None = None, note: str = "") -> None:
        self.done = self.done + 1 if done is None else done
        now = time.monotonic()
        if self.quiet or (not self._tty and now - self._last < 5.0 and self.done != self.total):
            return
        self._last = now
        elapsed = now - self.start
        if self.total:
            frac = min(1.0, self.done / self.total)
            bar = "#" * int(frac * 20)
            eta = elapsed / frac - elapsed if frac > 0 else 0.0
            text = f"{self.label:>10} [{bar:<20}] {self.done}/{self.total} {elapsed:5.0f}s eta {eta:4.0f}s {note}"
        else:
            text = f"{self.label:>10} {self.done} steps {elapsed:5.0f}s {note}"
        if self._tty:
            self.stream.write("\r" + text[:120].ljust(120))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def finish(self, note: str = "") -> float:
        elapsed = time.monotonic() - self.start
        if not self.quiet:
            end = "\r" if self._tty else ""
            self.stream.write(f"{end}{self.label:>10} done in {elapsed:.1f}s {note}".ljust(120 if self._tty else 0) + "\n")
            self.stream.flush()
        return elapsed


def say(message: str, quiet: bool = False) -> None:
    """One status line on stderr."""
    if not quiet:
        print(message, file=sys.stderr, flush=True)
