"""Writing a file the user named, so that nothing is ever left half-written and nothing is
replaced that should not be.

What the path is decides how it is written (:func:`write_kind` tells which):

- a regular file, or a path that does not exist yet: written to a temporary name in the
  same folder, then renamed over it (atomic on POSIX and Windows); an existing file keeps
  its permission bits (and, for root, its owner), as ``open(path, "wb")`` would leave them;
- a symbolic link: written through it, the same way, to the file it points to; the link
  stays a link (a dangling link gets its target created);
- a character device (``/dev/null``, a terminal), a named pipe (FIFO), or an open file
  reached through ``/dev/stdout``, ``/dev/fd/N`` or ``/proc/PID/fd/N``: streamed into,
  appending, never truncated or replaced (``--out /dev/stdout`` prints to the terminal,
  or appends where the shell sent it);
- a folder, a block device (a disk), a socket: refused with an OSError naming the path
  and what it is, before anything is written.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import sys
import tempfile
from collections.abc import Callable
from typing import BinaryIO, Literal

WriteKind = Literal["file", "stream"]

# A link into a process's table of open files: /dev/fd/1, /proc/self/fd/1, /proc/123/fd/4.
_FD_FOLDER = re.compile(r"^(/dev/fd|/proc/[^/]+/fd)$")
_REFUSED = {
    stat.S_IFDIR: (errno.EISDIR, "is a folder; give a file name"),
    stat.S_IFBLK: (errno.EINVAL, "is a block device (a disk), not a file: refusing to write onto it"),
    stat.S_IFSOCK: (errno.EINVAL, "is a socket, not a file: refusing to write onto it"),
}


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _through_fd_table(path: str) -> bool:
    """Whether ``path`` (following symbolic links) leads through a process's table of open
    files, as ``/dev/stdout`` (a link to ``/proc/self/fd/1``) does: such a path names a file
    the process already holds open, to be written to, never replaced."""
    path = os.path.abspath(path)
    for _ in range(40):  # as many links as the kernel follows
        if _FD_FOLDER.match(os.path.dirname(path)):
            return True
        if not os.path.islink(path):
            return False
        path = os.path.normpath(os.path.join(os.path.dirname(path), os.readlink(path)))
    return False


def write_kind(path: str) -> WriteKind:
    """How :func:`atomic_write` would write ``path``: ``"file"`` (to a temporary file
    renamed over the target: a regular file, a new path, or a link to one) or ``"stream"``
    (into a character device, a named pipe or an already-open file). Raises OSError naming
    the path when it is a folder, a block device, a socket or a symbolic-link loop."""
    try:
        st = os.stat(path)  # follows links, as the kernel does (a loop: ELOOP)
    except (FileNotFoundError, NotADirectoryError):
        return "file"  # a new path, a link to a file not made yet, or in a folder that is not one
    mode = stat.S_IFMT(st.st_mode)
    if mode in _REFUSED:
        code, what = _REFUSED[mode]
        raise OSError(code, what, path)
    if mode in (stat.S_IFCHR, stat.S_IFIFO) or _through_fd_table(path):
        return "stream"
    if mode != stat.S_IFREG:
        raise OSError(errno.EINVAL, "is not a regular file: refusing to write onto it", path)
    return "file"


def target_path(path: str) -> str:
    """The file a write to ``path`` lands in: ``path`` itself, or, for a symbolic link, the
    file it points to (resolved through every link on the way)."""
    return os.path.realpath(path) if os.path.islink(path) else path


def atomic_write(path: str, write: Callable[[BinaryIO], None]) -> str:
    """Call ``write(f)`` on a binary file and put what it wrote at ``path``, as the module
    docstring says for each kind of path: a regular file (or a link to one) is replaced
    atomically, a device, pipe or open file is streamed into, a folder, disk or socket is
    refused (OSError). For the atomic case, missing folders on the way are made; on any
    error the temporary file is removed, so are the folders made for it, and ``path`` is
    left as it was. Returns ``path``."""
    if write_kind(path) == "stream":
        _stream(path, write)
        return path
    target = target_path(path)
    folder = os.path.dirname(os.path.abspath(target))
    made = _missing_folders(folder)
    os.makedirs(folder, exist_ok=True)
    done = False
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".part", dir=folder)
        try:
            with os.fdopen(fd, "wb") as f:
                write(f)
            _copy_mode(tmp, target)
            os.replace(tmp, target)
            done = True
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    finally:
        if not done:  # a mistyped folder is not left behind by a write that failed
            for made_folder in made:
                try:
                    os.rmdir(made_folder)  # only while empty
                except OSError:
                    break
    return path


def _stream(path: str, write: Callable[[BinaryIO], None]) -> None:
    """Write into a device, a pipe or an open file: appended, never truncated (opening a
    pipe waits, as the shell's ``>`` does, until something reads it)."""
    for stream in (sys.stdout, sys.stderr):  # what was printed before comes before
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    with os.fdopen(fd, "wb") as f:
        write(f)


def _copy_mode(tmp: str, target: str) -> None:
    """Give ``tmp`` the permissions ``open(target, "wb")`` would leave: an existing file's
    own (and, when we are root, its owner), else 0666 less the umask (mkstemp makes 0600)."""
    try:
        st = os.stat(target)
    except FileNotFoundError:
        os.chmod(tmp, 0o666 & ~_umask())
        return
    if hasattr(os, "geteuid") and os.geteuid() == 0 and (st.st_uid, st.st_gid) != (0, 0):
        os.chown(tmp, st.st_uid, st.st_gid)
    os.chmod(tmp, stat.S_IMODE(st.st_mode))


def _missing_folders(folder: str) -> list[str]:
    """The folders ``os.makedirs(folder)`` would make, deepest first."""
    missing = []
    while not os.path.isdir(folder):
        missing.append(folder)
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    return missing
