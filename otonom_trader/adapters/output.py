"""THE way to write a file at a path the user gave (``--trades``, ``--plot``, ``--output``,
``--fingerprint``...): the name must end in the kind of file the command writes (so a
mistyped or hostile path such as ``/etc/passwd`` is never replaced), missing folders are
created, the write is atomic, and any problem (a directory, a file where a folder should be,
no permission, a read-only or full disk) is one ``InputError`` naming the flag, the path and
why, never a traceback."""

from __future__ import annotations

import errno
import tempfile
from collections.abc import Callable
from pathlib import Path

from otonom_trader.adapters.atomic import atomic_path
from otonom_trader.domain.errors import InputError

__all__ = ["check_output", "write_atomic_text", "write_output"]


def _refusal(path: Path, flag: str, why: str) -> InputError:
    return InputError(f"{flag} {path}: cannot write there ({why}); choose another path")


def _why(path: Path, exc: OSError | None = None) -> str:
    if path.is_dir():
        return "it is a folder; give a file name"
    blocker = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        return f"{blocker} is a file, not a folder"
    if exc is None:
        return "not writable"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    return exc.strerror or str(exc)


def check_output(path: str | Path, flag: str, suffixes: str | tuple[str, ...]) -> Path:
    """Refuse, before any work is done, a path that cannot be written: a name not ending in
    one of ``suffixes`` (e.g. ``".html"``), a folder, a file in the way of its folder, a
    folder that cannot be created or written to (probed with a temporary file). Missing
    folders are created."""
    path = Path(path)
    suffixes = (suffixes,) if isinstance(suffixes, str) else suffixes
    if path.suffix.lower() not in suffixes:
        raise InputError(f"{flag} {path}: expected a file name ending in "
                         f"{' or '.join(suffixes)}")
    if path.is_dir() or any(p.exists() and not p.is_dir() for p in path.parents):
        raise _refusal(path, flag, _why(path))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path.parent):
            pass
    except OSError as exc:
        raise _refusal(path, flag, _why(path, exc)) from None
    return path


def write_output(path: str | Path, flag: str, suffixes: str | tuple[str, ...],
                 write: Callable[[Path], object]) -> Path:
    """``write(tmp)`` writes the content to a temporary file that then replaces ``path``."""
    path = check_output(path, flag, suffixes)
    try:
        with atomic_path(path) as tmp:
            write(tmp)
    except OSError as exc:
        raise _refusal(path, flag, _why(path, exc)) from None
    return path


def write_atomic_text(path: str | Path, flag: str, suffixes: str | tuple[str, ...],
                      text: str) -> Path:
    """``write_output`` of UTF-8 text."""
    return write_output(path, flag, suffixes,
                        lambda tmp: tmp.write_text(text, encoding="utf-8"))
