"""Atomic file writes: a reader never sees a partial file, nor half of a set of files.

Everything riskwarn writes goes to a temporary file in the destination folder, is
flushed to disk and renamed into place (and the folder's entry flushed too), so a
crash or an interrupted run leaves either the old file or the new one, never half
of one. A *set* of files that readers take together (a watchlist's Parquet, CSV,
JSON, GeoJSON and model card) is written into a fresh version folder, and one
symbolic link, ``current``, is switched to it in a single rename:
:func:`publish_set`.

Files get the mode the umask gives any new file (0644 under umask 022): a
temporary file is created 0600, and a rename keeps the mode, so without the
``chmod`` a dashboard running as another user could not read what riskwarn wrote.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

#: The lock file a writer of a published folder holds (``riskwarn score``).
LOCK_FILE = ".riskwarn.lock"

#: The link in a published folder that names the complete set readers should take.
CURRENT = "current"
#: The folder (in a published folder) that holds the versions ``current`` points to.
VERSIONS = "versions"

_UMASK_LOCK = threading.Lock()


def _umask() -> int:
    # The umask can only be read by setting it; the lock keeps two threads from
    # seeing each other's temporary value.
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode a new file gets under the process's umask (``0o666 & ~umask``)."""
    return 0o666 & ~_umask()


def dir_mode() -> int:
    """The mode a new folder gets under the process's umask (``0o777 & ~umask``)."""
    return 0o777 & ~_umask()


def fsync_dir(path: str | os.PathLike) -> None:
    """Flush a folder's entries (a rename into it) to disk."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _finish(tmp: Path) -> None:
    """Give a written temporary file the umask's mode and flush it to disk."""
    os.chmod(tmp, file_mode())
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())


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
        _finish(tmp)
        os.replace(tmp, target)
        fsync_dir(target.parent)
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
        _share_tree(tmp)
        old = work / "old"
        if target.exists():
            os.replace(target, old)
        os.replace(tmp, target)
        fsync_dir(target.parent)
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


def _share_tree(root: Path) -> None:
    """Give a folder written by another tool (Spark) the umask's modes throughout."""
    files, dirs = file_mode(), dir_mode()
    for folder, _subdirs, names in os.walk(root):
        os.chmod(folder, dirs)
        for name in names:
            os.chmod(os.path.join(folder, name), files)


def _swap_link(link: Path, target: str) -> None:
    """Point the symbolic link ``link`` at ``target`` in one rename."""
    tmp = link.with_name(f".{link.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(target, tmp)
    os.replace(tmp, link)


def publish_set(
    folder: str | os.PathLike,
    writers: dict[str, Callable[[Path], object]],
    *,
    label: str = "",
    keep: int = 5,
) -> Path:
    """Write a set of files as one: a reader sees the old set or the new one, whole.

    The files are written into a fresh folder ``folder/versions/<label>-<time>-<id>/``,
    each flushed to disk, then the link ``folder/current`` is switched to it in one
    rename. One writer at a time per folder (hold :func:`folder_lock`): folders a
    killed writer left half-written are removed by the next one. ``folder/<name>`` is a link to ``current/<name>`` for every name of the
    set, so a reader that opens ``folder/watchlist.parquet`` gets the current file;
    one that resolves ``current`` once (:func:`current_set`) reads a single
    version throughout. The ``keep`` newest versions stay (earlier ones are
    removed); a name that an older layout left as a plain file is replaced by its
    link. A failure before the switch leaves ``current`` as it was.

    Parameters
    ----------
    folder : path
        The published folder (created if absent).
    writers : dict of str to callable
        File name (no folders) to a function that writes that file at the path given.
    label : str
        Start of the version folder's name (e.g. the as-of date).
    keep : int
        Versions kept, the current one included (at least 1).

    Returns
    -------
    Path
        The new version folder.
    """
    root = Path(folder)
    for name in writers:
        if Path(name).name != name or name in (CURRENT, VERSIONS):
            raise ValueError(f"{name!r} is not a plain file name for a published set")
    versions = root / VERSIONS
    versions.mkdir(parents=True, exist_ok=True)
    # A writer killed after publishing but before pruning left one version too many:
    # prune first too, so the folder never holds more than ``keep`` plus this one.
    _prune(versions, current_set(root), max(int(keep), 1))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    # Written under a dot name, renamed when whole: a version folder without a dot
    # is complete, and a dot folder is one a killed writer left (removed below).
    work = Path(tempfile.mkdtemp(prefix=".", suffix=".tmp", dir=versions))
    version = versions / (
        f"{label}-{stamp}-{work.name[1:-4]}" if label else f"{stamp}-{work.name[1:-4]}"
    )
    try:
        for name, write in writers.items():
            path = work / name
            write(path)
            _finish(path)
        os.chmod(work, dir_mode())
        fsync_dir(work)
        os.replace(work, version)
        fsync_dir(versions)
        _swap_link(root / CURRENT, f"{VERSIONS}/{version.name}")
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    for name in writers:
        link = root / name
        wanted = f"{CURRENT}/{name}"
        if not (link.is_symlink() and os.readlink(link) == wanted):
            _swap_link(link, wanted)
    fsync_dir(root)
    _prune(versions, version, max(int(keep), 1))
    return version


def _prune(versions: Path, current: Path, keep: int) -> None:
    # Dot folders are versions a killed writer never finished (writers of a folder
    # hold its lock, so none is being written now).
    for path in versions.iterdir():
        if path.name.startswith(".") and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
    # Names start with the label, so they need not sort in the order of publishing;
    # the folders' modification times (their last file written) do.
    done = [p for p in versions.iterdir() if p.is_dir() and not p.name.startswith(".")]
    done.sort(key=lambda p: (p.stat().st_mtime_ns, p.name))
    old = [p for p in done if p != current][: max(len(done) - keep, 0)]
    for path in old:
        shutil.rmtree(path, ignore_errors=True)


def current_set(folder: str | os.PathLike) -> Path:
    """The version folder a published folder's ``current`` link names, resolved once.

    A folder written before sets were published (plain files, no ``current``) is
    returned as it is.
    """
    root = Path(folder)
    link = root / CURRENT
    if link.is_symlink():
        return (root / os.readlink(link)).resolve()
    return root


class FolderBusy(Exception):
    """Another process holds the folder's lock."""


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike, timeout: float = 0.0) -> Iterator[Path]:
    """Hold ``folder/.riskwarn.lock`` (an OS file lock) while the block runs.

    Two writers of one folder (a cron job that overlaps the previous run) would
    interleave their history and versions; the second one waits up to ``timeout``
    seconds and then raises :class:`FolderBusy`. The lock goes with the process
    that holds it, so a killed writer never leaves the folder locked.
    """
    from filelock import FileLock, Timeout

    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    lock = FileLock(root / LOCK_FILE, timeout=float(timeout), mode=file_mode())
    try:
        lock.acquire()
    except Timeout as exc:
        raise FolderBusy(str(root)) from exc
    try:
        yield root
    finally:
        lock.release()
