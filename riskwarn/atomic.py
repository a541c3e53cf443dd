"""Atomic file writes: a reader never sees a partial file.

Everything riskwarn writes goes to a temporary file in the destination folder and
is renamed into place, so a crash or an interrupted run leaves either the old file
or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    On any exception the temporary file is removed and ``path`` is left as it was.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a fresh path beside ``path`` for a folder; swap it in for ``path`` on success.

    For writers that make a folder of part files (Spark). The old folder, if any, is
    renamed aside and removed only after the new one is in place; on an exception
    the new folder is removed and ``path`` is left as it was.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    tmp = work / "out"
    try:
        yield tmp
        if target.is_file():
            raise FileExistsError(f"{target} is a file; a folder of part files goes there")
        old = work / "old"
        if target.exists():
            os.replace(target, old)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def write_atomic(path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp_path)`` and atomically move the result to ``path``."""
    with atomic_path(path) as tmp:
        write(tmp)
    return Path(path)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_all_atomic(writers: dict[str | os.PathLike, Callable[[Path], object]]) -> list[Path]:
    """Write several files so that either all of them are replaced or none is.

    Every file is first written to a temporary file beside its target; only when
    all writes have succeeded are they renamed into place, one after the other.
    A failure in any write leaves every target as it was.
    """
    staged: list[tuple[Path, Path]] = []
    try:
        for path, write in writers.items():
            target = Path(path)
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(
                prefix=f".{target.name}.", suffix=".tmp", dir=target.parent
            )
            os.close(fd)
            staged.append((Path(tmp_name), target))
            write(Path(tmp_name))
            with open(tmp_name, "rb") as fh:
                os.fsync(fh.fileno())
        for tmp, target in staged:
            os.replace(tmp, target)
    finally:
        for tmp, _ in staged:
            if tmp.exists():
                tmp.unlink()
    return [target for _, target in staged]
