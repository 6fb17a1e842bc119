"""Writing files so that nothing is ever left half-written: write to a temporary name
in the same folder, then rename (atomic on POSIX and Windows)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from typing import BinaryIO


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str, write: Callable[[BinaryIO], None]) -> str:
    """Call ``write(f)`` on a temporary file beside ``path``, then rename it to ``path``
    with the permissions a plain ``open(path, "wb")`` would give. Missing folders on the
    way are made. On any error the temporary file is removed, so are the folders made
    for it, and ``path`` is left as it was. Returns ``path``."""
    folder = os.path.dirname(os.path.abspath(path))
    made = _missing_folders(folder)
    os.makedirs(folder, exist_ok=True)
    done = False
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".part", dir=folder)
        try:
            with os.fdopen(fd, "wb") as f:
                write(f)
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files
            os.replace(tmp, path)
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
