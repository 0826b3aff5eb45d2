"""One error type for bad input: a single clear line naming file, field, expected and found.

The CLI turns an :class:`InputError` into that line on stderr and exit code 2
(docs/architecture.md, "Bad input and faults"); nothing else is printed unless ``--debug`` is given.

Output goes through :func:`atomic_write` / :func:`atomic_path` (a temporary file beside the
target, renamed into place on success), so a failure part-way -- bad input found late, a full
disk -- leaves nothing half-written. :func:`check_out_file` and :func:`check_out_dir` reject an
output location that cannot work (under a regular file, a directory where a file is wanted)
before any work is done.
"""

from __future__ import annotations

import errno
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
        # a value from the command line or a library call has no file: name the field alone
        where = f"{self.file}: " if file is not None else ""
        super().__init__(f"{where}{field}: expected {expected}, found {found}")


def require_file(
    path: str | os.PathLike, field: str = "path", what: str = "an existing file"
) -> Path:
    """Return ``path`` as a Path, or raise InputError if it is not an existing file."""
    p = Path(path)
    if not p.is_file():
        raise InputError(p, field, what, "no such file" if not p.exists() else "not a file")
    return p


def read_utf8(path: str | os.PathLike, field: str = "encoding") -> str:
    """The text of ``path`` decoded as UTF-8 (a BOM is dropped); InputError naming the first bad
    byte otherwise, instead of a UnicodeDecodeError traceback or silently replaced characters."""
    p = Path(path)
    data = p.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            p, field, "UTF-8 text", f"byte 0x{data[exc.start]:02x} at offset {exc.start}"
        ) from None


# errno values that mean "the device cannot take this write": report them as one line naming the
# output file (docs/architecture.md, "Bad input and faults": a full disk is no traceback and no
# half-written file)
_NO_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def _first_existing(p: Path) -> Path:
    q = p
    while not q.exists() and q != q.parent:
        q = q.parent
    return q


def _check_parent(p: Path, field: str) -> None:
    anc = _first_existing(p.parent if p.parent != Path("") else Path("."))
    if not anc.is_dir():
        raise InputError(anc, field, f"a directory to write {p} in", "a regular file")


def check_out_file(path: str | os.PathLike, field: str = "--out") -> Path:
    """Check that a file can be written at ``path``: not an existing directory, and no regular
    file where one of its folders should be. Nothing is created."""
    p = Path(path)
    if p.is_dir():
        raise InputError(p, field, "a file path to write", "an existing directory")
    _check_parent(p, field)
    return p


def check_out_dir(path: str | os.PathLike, field: str = "--out") -> Path:
    """Check that ``path`` is (or can be created as) a directory. Nothing is created."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise InputError(p, field, "a directory (existing or new)", "a regular file")
    _check_parent(p, field)
    return p


def _mkdirs(d: Path, field: str = "output directory") -> list[Path]:
    """Create ``d`` and missing parents; return the directories created (deepest last)."""
    made = []
    q = d
    while not q.exists() and q != q.parent:
        made.append(q)
        q = q.parent
    if q.exists() and not q.is_dir():
        raise InputError(q, field, "a directory", "a regular file")
    try:
        d.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise InputError(d, field, "a directory", "a regular file in the way") from None
    return made[::-1]


def _remove_dirs(made: list[Path]) -> None:
    for q in reversed(made):
        try:
            q.rmdir()
        except OSError:
            break  # not empty (someone else's file): leave it


@contextmanager
def created_dir(path: str | os.PathLike, field: str = "--out") -> Iterator[Path]:
    """Create directory ``path`` (and parents) for the body; if the body fails, remove the
    directories this created again (when empty), so a failed command leaves no new folders."""
    p = Path(path)
    made = _mkdirs(p, field)
    try:
        yield p
    except BaseException:
        _remove_dirs(made)
        raise


@contextmanager
def new_dirs_removed_on_failure(path: str | os.PathLike) -> Iterator[None]:
    """For a body that may create directory ``path`` (and parents) itself: if the body fails,
    remove again those of them that did not exist before and are still empty."""
    p = Path(path)
    missing = []
    q = p
    while not q.exists() and q != q.parent:
        missing.append(q)
        q = q.parent
    try:
        yield
    except BaseException:
        _remove_dirs(missing[::-1])
        raise


def _write_failed(path: Path, exc: OSError) -> InputError | None:
    if exc.errno in _NO_SPACE:
        return InputError(
            path, "write", "space on the device for the output", os.strerror(exc.errno)
        )
    if isinstance(exc, IsADirectoryError):
        return InputError(path, "output file", "a file path to write", "an existing directory")
    return None


class _GuardedFile:
    """The file object :func:`atomic_write` yields: a write or flush that fails for lack of space
    raises an InputError naming the *output* file (not the temporary one) and drops the
    temporary file at once, even when the writer then never finishes the ``with`` block."""

    def __init__(self, fh, path: Path, tmp: str):
        self._fh, self._path, self._tmp = fh, path, tmp

    def _guard(self, fn, *args):
        try:
            return fn(*args)
        except OSError as exc:
            err = _write_failed(self._path, exc)
            if err is None:
                raise
            try:
                os.unlink(self._tmp)
            except FileNotFoundError:
                pass
            raise err from None

    def write(self, data):
        return self._guard(self._fh.write, data)

    def writelines(self, lines):
        return self._guard(self._fh.writelines, lines)

    def flush(self):
        return self._guard(self._fh.flush)

    def __getattr__(self, name):
        return getattr(self._fh, name)

    def __iter__(self):
        return iter(self._fh)


@contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w") -> Iterator:
    """Write to a temporary file beside ``path`` and rename it into place on success.

    A failure part-way leaves no half-written ``path`` behind (docs/architecture.md, "Bad input
    and faults"); a full disk becomes an InputError naming ``path``.
    """
    path = Path(path)
    made = _mkdirs(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except BaseException:
        _remove_dirs(made)
        raise
    try:
        with os.fdopen(fd, mode) as fh:
            guarded = _GuardedFile(fh, path, tmp)
            yield guarded
            guarded.flush()  # a full disk shows here (or in a write), not in close()
        _publish(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        _remove_dirs(made)
        err = _write_failed(path, exc) if isinstance(exc, OSError) else None
        if err is not None:
            raise err from None
        raise


def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Like :func:`atomic_write` but yields a temporary *path* for writers that take a filename."""
    return _atomic_path(Path(path))


@contextmanager
def _atomic_path(path: Path) -> Iterator[Path]:
    made = _mkdirs(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    except BaseException:
        _remove_dirs(made)
        raise
    os.close(fd)
    try:
        yield Path(tmp)
        _publish(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        _remove_dirs(made)
        err = _write_failed(path, exc) if isinstance(exc, OSError) else None
        if err is not None:
            raise err from None
        raise


def _publish(tmp: str, path: Path) -> None:
    """Give the temp file ordinary permissions (mkstemp makes it 0600) and rename it into place."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, path)
