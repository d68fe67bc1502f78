"""Atomic writes and content hashes. Every output is written to a temporary name and renamed
when complete, so an interrupted run never leaves a half-written file under the final name.

File modes: an output gets the mode any ordinary file would (0666 less the process umask, so
0644 under the usual 022), not the 0600 of the temporary file it was written as. Personal data is
the exception: a folder made with :func:`private_dir` (a real person's twin) is 0700 and every
file written into it is 0600, readable by its owner only."""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Iterator

from .types import PathLikeStr


_UMASK: int | None = None


def umask() -> int:
    """The process umask (read once; reading it means setting it, so it is set straight back)."""
    global _UMASK
    if _UMASK is None:
        _UMASK = os.umask(0o022)
        os.umask(_UMASK)
    return _UMASK


def is_private(folder: PathLikeStr) -> bool:
    """True if ``folder`` is closed to group and others (as :func:`private_dir` makes it)."""
    return (Path(folder).stat().st_mode & 0o077) == 0


def private_dir(path: PathLikeStr) -> Path:
    """Make ``path`` (and its parents) and close it to everyone but its owner (0700), so the files
    written into it (0600, see :func:`atomic_path`) hold personal data safely. Returns the path."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    for f in path.iterdir():  # files written before the folder was known to be private
        if f.is_file() and not f.is_symlink():
            os.chmod(f, 0o600)
    return path


def output_mode(folder: PathLikeStr) -> int:
    """The mode for a new file in ``folder``: 0600 in a private folder, else 0666 less the umask."""
    return 0o600 if is_private(folder) else 0o666 & ~umask()


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` still exists (another user's live process counts): the test for
    whether a temporary file or folder named after its writer's pid may still be completed."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def _remove_stale_parts(path: Path) -> None:
    """Remove temporary files of ``path`` left by a writer that was killed (kill -9, power loss):
    their names carry the writer's pid, and a file whose writer is gone is never completed."""
    for part in path.parent.glob(f".{glob.escape(path.stem)}.*.part{glob.escape(path.suffix)}"):
        pid = part.name[len(path.stem) + 2:].split(".", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)):
            with contextlib.suppress(OSError):
                part.unlink()


@contextlib.contextmanager
def atomic_path(path: PathLikeStr) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds.

    The temporary name keeps the suffix so writers that pick a format by suffix still work, and
    carries the writer's pid: the temporary files of a writer that was killed are removed by the
    next write of the same path. The
    file gets :func:`output_mode` (the umask's mode, or 0600 in a private folder) before the rename.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_parts(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.{os.getpid()}.", suffix=f".part{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():
            os.chmod(tmp_path, output_mode(path.parent))
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def check_output(path: PathLikeStr, folder: bool = True) -> Path:
    """Check, before any work, that ``path`` can be written: a folder (``folder=True``) is not an
    existing file, a file is not an existing folder, and the nearest existing folder above it is
    writable. Returns the path.

    Raises:
        InputError: naming the path and what to give instead.
    """
    from .errors import InputError

    path = Path(path)
    if folder and path.exists() and not path.is_dir():
        raise InputError(f"{path} is a file, not a folder", hint="give --out a new or existing folder")
    if not folder and path.is_dir():
        raise InputError(f"{path} is a folder, not a file", hint="give --out a file name")
    above = path if folder and path.is_dir() else path.parent
    while not above.exists() and above != above.parent:
        above = above.parent
    if not above.is_dir():
        raise InputError(f"cannot make {path}: {above} is a file", hint="give --out a path under a folder")
    if not os.access(above, os.W_OK | os.X_OK):
        raise InputError(f"cannot write into {above} (permission denied)", hint="give --out a folder you can write to")
    return path


def write_json(path: PathLikeStr, data) -> Path:
    """Write ``data`` as indented JSON, atomically. Returns the path."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    return path


def read_json(path: PathLikeStr):
    return json.loads(Path(path).read_text())


def file_sha256(path: PathLikeStr, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            block = f.read(chunk)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


def json_sha256(data) -> str:
    """Hex SHA-256 of a JSON-serialisable value (keys sorted), for content addressing."""
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()
