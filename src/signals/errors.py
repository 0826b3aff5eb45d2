"""One error type for bad input: a single clear line naming file, field, expected and found.

The CLI turns an :class:`InputError` into that line on stderr and exit code 2 (DESIGN.md,
"Bad input and faults"); nothing else is printed unless ``--debug`` is given.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class InputError(Exception):
    """Bad input from a user: a file, a field in it, what was expected and what was found."""

    def __init__(self, file: str | os.PathLike | None, field: str, expected: str, found: object):
        self.file = str(file) if file is not None else "-"
        self.field = field
        self.expected = expected
        self.found = found
        super().__init__(f"{self.file}: {field}: expected {expected}, found {found}")


def require_file(
    path: str | os.PathLike, field: str = "path", what: str = "an existing file"
) -> Path:
    """Return ``path`` as a Path, or raise InputError if it is not an existing file."""
    p = Path(path)
    if not p.is_file():
        raise InputError(p, field, what, "no such file" if not p.exists() else "not a file")
    return p


@contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w") -> Iterator:
    """Write to a temporary file beside ``path`` and rename it into place on success.

    A failure part-way leaves no half-written ``path`` behind (DESIGN.md: no partial output).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
        _publish(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Like :func:`atomic_write` but yields a temporary *path* for writers that take a filename."""
    return _atomic_path(Path(path))


@contextmanager
def _atomic_path(path: Path) -> Iterator[Path]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        _publish(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _publish(tmp: str, path: Path) -> None:
    """Give the temp file ordinary permissions (mkstemp makes it 0600) and rename it into place."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, path)
